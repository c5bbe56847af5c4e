"""Like-and-share verbs: what each says in the three languages, and its Activity Streams type.

The widget gets the same table (injected into sharebar-actions.js) to word the share it offers after
an action; feeds use it for their summaries. ``{actor}`` and ``{title}`` are filled in;
a sentence without an actor starts at the verb ("赞了《…》", "liked “…”").
"""
from __future__ import annotations

import re
from typing import NamedTuple


class Verb(NamedTuple):
    phrases: tuple[str, str, str]  # zh-CN, zh-TW, en; "{title}" is the page's title
    activity: str  # the Activity Streams 2.0 type


VERBS: dict[str, Verb] = {
    "like": Verb(("赞了《{title}》", "讚了《{title}》", "liked “{title}”"), "Like"),
    "comment": Verb(("评论了《{title}》", "評論了《{title}》", "commented on “{title}”"), "Create"),
    "upvote": Verb(("顶了《{title}》", "推了《{title}》", "upvoted “{title}”"), "Like"),
    "favorite": Verb(("收藏了《{title}》", "收藏了《{title}》", "saved “{title}”"), "Add"),
    "read": Verb(("读完了《{title}》", "讀完了《{title}》", "read “{title}”"), "Read"),
    "upload": Verb(("上传了《{title}》", "上傳了《{title}》", "uploaded “{title}”"), "Create"),
}
# A verb a site defines for itself without its own wording.
GENERIC = Verb(("{verb}了《{title}》", "{verb}了《{title}》", "{verb} “{title}”"), "Activity")
SITE_VERB = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
LANGS = ("zh-CN", "zh-TW", "en")


def site_verbs(settings: dict[str, object]) -> dict[str, Verb]:
    """The built-in verbs and the site's own (``settings["verbs"]``: a list of names, or a
    mapping of name to three phrases)."""
    custom = settings.get("verbs") or {}
    if isinstance(custom, list):
        custom = {name: None for name in custom}
    verbs = dict(VERBS)
    if isinstance(custom, dict):
        for name, phrases in custom.items():
            if isinstance(name, str) and SITE_VERB.match(name) and name not in VERBS:
                verbs[name] = own_verb(name, phrases)
    return verbs


def own_verb(name: str, phrases: object) -> Verb:
    if isinstance(phrases, list) and len(phrases) == 3 and all(isinstance(p, str) for p in phrases):
        return Verb((phrases[0], phrases[1], phrases[2]), "Activity")
    return Verb(tuple(p.replace("{verb}", name) for p in GENERIC.phrases), "Activity")  # type: ignore[arg-type]


def sentence(verb: Verb, lang: str, title: str, actor: str | None = None) -> str:
    """"李雷赞了《标题》", "Li Lei liked “Title”", or without an actor "赞了《标题》"."""
    index = LANGS.index(lang) if lang in LANGS else 2
    said = verb.phrases[index].replace("{title}", title)
    if not actor:
        return said
    return f"{actor} {said}" if index == 2 else f"{actor}{said}"


def widget_table() -> dict[str, list[str]]:
    """The built-in verbs' phrases, for the widget."""
    return {name: list(verb.phrases) for name, verb in VERBS.items()}
