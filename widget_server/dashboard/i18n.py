"""The dashboard's two languages: English text is the key, ``ZH`` its simplified Chinese.

The language is the account's choice (``users.lang``), else the browser's
``Accept-Language`` before sign-in. A text missing from ``ZH`` shows in English; a test
checks that none is missing.
"""
from __future__ import annotations

from flask import request
from flask_login import current_user

LANGS = ("en", "zh-CN")


def current_lang() -> str:
    if current_user.is_authenticated:
        lang: str = current_user.user.lang
        return lang if lang in LANGS else "en"
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return "zh-CN" if best.startswith("zh") else "en"


def gettext(text: str, **values: object) -> str:
    """``text`` in the current language, ``{name}`` fields filled from ``values``."""
    translated = ZH.get(text, text) if current_lang() == "zh-CN" else text
    return translated.format(**values) if values else translated


ZH: dict[str, str] = {
    "en": "zh-CN",
    "30 days": "30 天", "7 days": "7 天", "90 days": "90 天",
    "A name of at most 200 characters, without < or >.": "名称最多 200 个字符，不能含 < 或 >。",
    "A site keeps at least one owner.": "网站至少要保留一位所有者。",
    "A whole number of days (1 or more), or empty to keep every action.": "请填写整数天数（至少 1），留空则保留全部动作。",
    "Account": "账户", "Actions": "动作", "Actions by verb": "按动作类型统计", "Add": "添加", "Add a member": "添加成员",
    "Address-bar attribution": "地址栏归因",
    "An account name: letters, digits, _ . and - only.": "账号名只能包含字母、数字、_ . 和 -。",
    "At least 10 characters; common passwords are refused.": "至少 10 个字符；常见密码不可用。",
    "At most 10 tags of letters, digits and _ (no # or spaces inside a tag).": "最多 10 个话题，只能含字母、数字和 _（话题内不能有 # 或空格）。",
    "At most 20 domains.": "最多 20 个域名。",
    "Atom feed of actions": "动作的 Atom 订阅源",
    "Bots": "机器人", "Bots are recognised by their user agent and never counted.": "机器人按用户代理识别，从不计入统计。",
    "By platform": "按平台", "By platform, with lift (click-backs per share)": "按平台：分享、回流与回流率（每次分享带来的回流）",
    "Charts": "图表", "Choose 7, 30 or 90 days, or your own dates.": "请选择 7、30 或 90 天，或自定日期。",
    "Choose at least one scope.": "请至少选择一个权限范围。", "Choose at least one service.": "请至少选择一个分享服务。",
    "Click-backs": "回流", "Comma separated, without #.": "用逗号分隔，不带 #。", "Copied.": "已复制。",
    "Copy the snippet": "复制代码", "Counted": "已计入", "Create an account": "注册账户", "Create the token": "创建令牌",
    "Current secret": "当前私钥", "Custom": "自定", "Date": "日期", "Delete": "删除", "Delete this site": "删除此网站",
    "Delete {name}": "删除 {name}", "Domains": "域名", "Email": "电子邮箱",
    "Every earlier feed URL stopped working. This is the new one.": "之前的订阅地址已全部失效。这是新的地址。",
    "Every share, click-back and action of this site is deleted, partner tokens lose access to it, and bars with its key stop working. This cannot be undone.":
        "此网站的所有分享、回流和动作都会被删除，合作方令牌将失去对它的访问权限，使用其网站公钥的分享栏将停止工作。此操作无法撤销。",
    "Expires": "到期", "Feed": "订阅源", "Feed URL": "订阅地址",
    "Feed readers follow this URL. Its token is in it: share it like a password.": "阅读器通过此地址订阅。地址中含有令牌：请像密码一样保管。",
    "Filtered traffic": "被过滤的流量", "Filtered traffic: what was kept out of the counts": "被过滤的流量：未计入统计的部分（水军、机器人）",
    "From": "从", "Give at least one domain, like example.com.": "请至少填写一个域名，例如 example.com。",
    "Give both dates as YYYY-MM-DD.": "请按 YYYY-MM-DD 填写两个日期。",
    "Give the site a name of 1 to 200 characters, without < or >.": "网站名称应为 1 到 200 个字符，不能含 < 或 >。",
    "Hashtags": "话题标签", "Keep actions for (days)": "动作保留天数", "Kind": "类型", "Language": "语言",
    "Language of the bar": "分享栏语言", "Layout": "布局", "Lift": "回流率",
    "Like-and-share: actions by verb and the share rate after each": "点赞并分享：各类动作及其后的分享率",
    "Members": "成员", "Move {name} down": "将{name}下移", "Move {name} up": "将{name}上移", "Name": "名称",
    "New token": "新令牌", "No account has this email. Ask them to get one first.": "没有使用此邮箱的账户。请对方先注册账户。",
    "No tokens yet.": "还没有令牌。", "Not saved yet: press Save to keep the new order.": "尚未保存：请点击“保存”保留新顺序。",
    "Nothing in this period.": "此期间没有数据。",
    "One per line, like example.com; subdomains count too.": "每行一个，例如 example.com；子域名同样有效。",
    "Only this page (its URL; empty: the whole site)": "仅此页面（填写网址；留空则为整个网站）",
    "Options": "选项", "Own verbs": "自定义动作",
    "Owners can change everything; viewers see the charts only.": "所有者可以更改一切；查看者只能查看图表。",
    "Page": "页面", "Pages": "页面", "Partner tokens": "合作方令牌", "Password": "密码",
    "Paste this where the bar should appear on your pages:": "把这段代码粘贴到页面中要显示分享栏的位置：",
    "Period": "时间段", "Platform": "平台", "Preview": "预览", "Preview of the share bar": "分享栏预览",
    "Preview without saving": "预览（不保存）", "Public leaderboard": "公开排行榜", "Public recent activity": "公开最近动态",
    "Record anonymous actions": "记录匿名动作", "Referrer": "来源", "Register": "注册", "Register a site": "注册网站",
    "Remove": "移除", "Replace the secret": "更换私钥", "Revoke": "撤销",
    "Revoke every feed URL given out so far": "撤销至今发出的所有订阅地址", "Role": "角色", "Rotate the secret": "更换私钥",
    "Save": "保存", "Saved.": "已保存。", "Scopes": "权限范围", "Secret": "私钥",
    "Select the text and copy it.": "请选中文本后复制。", "Services, in the order of the bar": "分享服务（按分享栏中的顺序）",
    "Settings": "设置", "Settings and snippet": "设置与代码", "Share rate": "分享率", "Shares": "分享",
    "Shares and click-backs over time": "分享与回流趋势", "Show": "显示", "Show actors' names in the activity": "在动态中显示用户名称",
    "Show counts": "显示分享数", "Sign in": "登录", "Sign out": "退出登录", "Site": "网站", "Key and secret": "公钥与私钥",
    "Size": "尺寸", "Skip to content": "跳到正文", "Snippet": "嵌入代码", "State": "状态", "Table": "表格",
    "The account shares mention, without @.": "分享时提及的账号，不带 @。",
    "The email of an existing account.": "已有账户的电子邮箱。",
    "The email or the password is not right.": "邮箱或密码不正确。",
    "The form expired. Please try again.": "表单已过期，请重试。",
    "The new token, shown only now: keep it.": "新令牌只显示这一次：请妥善保存。",
    "The real bar with the settings on the left, before you save them.": "使用左侧设置（保存前）的真实分享栏。",
    "The secret stays on your server: it signs the actor tokens of like-and-share.": "私钥只保存在你的服务器上：它用于签署点赞并分享的用户令牌。",
    "The secret was replaced. Put the new one on your server now:": "私钥已更换。请立即把新私钥配置到你的服务器：",
    "The site key is public: it is in the snippet.": "网站公钥是公开的：它就在嵌入代码中。",
    "The start comes before the end, at most two years apart.": "开始日期须早于结束日期，间隔不超过两年。",
    "Theme": "主题", "Tick the services to show; move them with the buttons (keyboard or mouse).": "勾选要显示的服务；用按钮调整顺序（键盘或鼠标均可）。",
    "To": "至", "Too many attempts. Wait a few minutes and try again.": "尝试次数过多。请等几分钟后再试。",
    "Top pages": "热门页面（排行榜）", "Top referrers of click-backs": "回流的主要来源", "Verb": "动作",
    "Verbs are lower-case words of 2 to 32 letters, digits, _ or -, separated by commas.": "动作名为 2 到 32 个小写字母、数字、_ 或 -，用逗号分隔。",
    "Via account": "提及账号",
    "What breaks: every actor token signed with the old secret stops being accepted at once, so like-and-share actions that carry one are refused until your server signs with the new secret. The site key, the snippet, counts and charts do not change.":
        "会失效的内容：用旧私钥签署的用户令牌将立即不再被接受，带有这类令牌的点赞并分享动作会被拒绝，直到你的服务器改用新私钥签名。网站公钥、嵌入代码、计数和图表都不变。",
    "You are not a member of any site yet.": "你还不是任何网站的成员。",
    "Your own like-and-share verbs, comma separated.": "你自己的点赞并分享动作，用逗号分隔。",
    "Your sites": "你的网站", "“{value}” is listed twice.": "“{value}”重复了。",
    "“{value}” is not a domain name like example.com.": "“{value}”不是类似 example.com 的域名。",
    "owner": "所有者", "viewer": "查看者", "active": "有效", "expired": "已过期", "revoked": "已撤销",
    "Not a valid choice.": "不是有效的选项。",
    "Use at least 10 characters.": "请至少使用 10 个字符。", "Use at most 200 characters.": "最多使用 200 个字符。",
    "This password is too common or too easy to guess; choose another.": "这个密码太常见或太容易猜到，请换一个。",
    "Enter an email address like name@example.com.": "请输入类似 name@example.com 的邮箱地址。",
    "An account with this email exists already.": "使用此邮箱的账户已存在。",
    "Installation check": "安装检查", "Is the bar working?": "分享栏在工作吗？",
    "working: beacons arrive": "正常：已收到信标", "no beacon seen yet": "尚未收到信标",
    "first beacon": "首次信标", "last beacon": "最近信标", "from": "来自",
    "Paste the snippet on a page of this domain and share something: the first beacon shows here.":
        "把嵌入代码粘贴到此域名的页面上并分享一次：首个信标会显示在这里。",
    "Refused beacons in the last 7 days": "最近 7 天被拒绝的信标", "Reason": "原因", "Refused": "被拒绝",
    "What it means": "含义", "Latest refusals": "最近的拒绝记录", "When (UTC)": "时间（UTC）",
    "None: nothing was refused.": "没有：没有信标被拒绝。",
    "Foreign domain": "外部域名", "Bad key": "网站公钥无效", "Rate limited": "超出频率限制", "Malformed": "格式错误",
    "The page is not on one of the site's domains: add the domain in Settings, or the snippet was copied to another site.":
        "页面不在此网站的域名下：请在设置中添加该域名，或者嵌入代码被复制到了其他网站。",
    "A page on your domains sent a site key that is not valid (or one that was re-signed): paste the snippet again.":
        "你域名下的页面发送了无效（或已重新签发）的网站公钥：请重新粘贴嵌入代码。",
    "Too many beacons from one reader or for the whole site in a minute.": "一分钟内来自同一读者或整个网站的信标过多。",
    "The beacon could not be read (an old or changed copy of the widget?).": "无法读取信标（可能是旧版或被修改过的分享栏脚本）。",
    "Day 0": "当天", "Day 1": "第 1 天", "Days 2-7": "第 2–7 天", "Days 8-30": "第 8–30 天", "Later": "更晚",
    "The long tail: click-backs by days since the share": "长尾：按分享后天数统计的回流",
    "Days since the share": "分享后天数", "The long tail": "长尾",
    "Not saved yet: this is a preview. Press Save to keep these settings.": "尚未保存：这只是预览。请点击“保存”保留这些设置。",
    "Repeats": "重复", "Beacons kept out of the counts in the period (the whole site):": "此期间未计入统计的信标（整个网站）：",
    "Repeats are the same reader sharing the same page to the same platform, or coming back through the same share, again on one day.":
        "重复指同一读者在同一天再次把同一页面分享到同一平台，或再次通过同一分享回流。",
    "This page does not exist, or it is not one of your sites.": "此页面不存在，或者不是你的网站。",
    "The form was too large (over 64 KB): nothing was saved.": "表单过大（超过 64 KB）：没有保存任何内容。",
    "Back to your sites": "返回你的网站",
    "Kept out": "未计入", "Bot shares": "机器人分享", "Bot click-backs": "机器人回流",
    "Repeats and refused beacons are counted for the whole site: clear the page to see them.":
        "重复和被拒绝的信标按整个网站统计：清空页面即可查看。",
    "Refused beacons: the installation check says what each reason means.": "被拒绝的信标：安装检查页面说明了每种原因的含义。",
    "Automatic": "自动", "Light": "浅色", "Dark": "深色", "Small": "小", "Medium": "中", "Large": "大",
    "Inline": "嵌入正文", "Floating": "浮动", "The page's language": "跟随页面语言", "Viewer": "查看者", "Owner": "所有者",
    "1 year": "1 年",
    "Site key": "网站公钥", "Current site key": "当前网站公钥", "Re-sign the site key": "重新签发网站公钥",
    "The site key was replaced. Paste the new snippet on every page now:": "网站公钥已更换。请立即在每个页面上粘贴新的嵌入代码：",
    "What breaks: the old key stops working at once. On every page still carrying the old snippet the bar shows the default settings without counts, and every share, click-back and action it sends is refused, shown as “Bad key” on the installation check, until you paste the new snippet there.":
        "会失效的内容：旧公钥立即停止工作。仍使用旧嵌入代码的页面上，分享栏只显示默认设置、没有分享数，它发送的每次分享、回流和动作都会被拒绝（在安装检查中显示为“网站公钥无效”），直到你在那里粘贴新的嵌入代码。",
    "What does not change: the secret, the feed URL, partner tokens, and everything counted so far.":
        "不会改变的内容：私钥、订阅地址、合作方令牌，以及至今已统计的全部数据。",
}
