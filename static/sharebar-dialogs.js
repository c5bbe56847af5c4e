/* Sharebar dialogs: WeChat's QR code and the Mastodon server prompt.
 *
 * sharebar.js loads this file on the first click that needs a dialog and passes in what it
 * shares with it (the element maker, labels, share URLs, popups); the file hands back its
 * two functions through Sharebar._dialogs. Like the bar, it writes no style attribute and
 * sets text only as text; the look is in sharebar-dialogs.css, loaded with it.
 */
(() => {
  'use strict';

  const sharebar = window.Sharebar;
  if (!sharebar || !sharebar._dialogs) return;

  // In the order of sharebar.js's LANGS: zh-CN, zh-TW, en.
  const T = {
    close: ['关闭', '關閉', 'Close'],
    qrAlt: ['本页二维码', '本頁 QR 碼', 'QR code of this page'],
    qrHint: ['用微信扫一扫，再点右上角“…”分享', '用微信掃一掃，再點右上角「…」分享', 'Scan with WeChat, then share from its “…” menu'],
    inApp: ['请点右上角“…”分享本页', '請點右上角「…」分享本頁', 'Share this page from the “…” menu at the top right'],
    server: ['你的服务器', '你的伺服器', 'Your server'],
    badServer: ['请输入服务器地址', '請輸入伺服器位址', 'Enter a server address'],
    remember: ['记住服务器', '記住伺服器', 'Remember my server'],
  };
  const KEY = 'sharebar.fediverse';  // localStorage, only when the reader ticks "remember"

  sharebar._dialogs(({ h, label, shareUrl, popup, BASE, SITE, LANGS, T: BAR }) => {
    let uid = 0;
    // Its stylesheet; a dialog opens once it is in (or failed: unstyled, it still works).
    const css = new Promise(ok => {
      const link = h('link', { rel: 'stylesheet', href: BASE + 'static/sharebar-dialogs.css' });
      link.onload = link.onerror = ok;
      document.head.append(link);
    });

    // A modal <dialog> around a method=dialog form. Esc, the close button and a click on the
    // backdrop close it; focus returns to where it was. onSubmit runs for the `go` button only.
    function dialog(ctx, title, content, go, onSubmit) {
      const L = ctx.L, id = 'sb-h' + ++uid, back = ctx.b || document.activeElement;
      const form = h('form', { class: 'sb-box', method: 'dialog' }, h('h2', { id }, title), ...content,
        h('div', { class: 'sb-acts' }, ...go ? [go] : [], h('button', { formnovalidate: true }, T.close[L])));
      const dlg = h('dialog', { class: 'sb-dlg sb-' + ctx.theme, lang: LANGS[L], 'aria-labelledby': id }, form);
      form.addEventListener('submit', e => e.submitter === go && onSubmit(e));
      dlg.addEventListener('click', e => e.target === dlg && dlg.close());
      dlg.addEventListener('close', () => {
        dlg.remove();
        if (back && back.focus) back.focus();
      });
      css.then(() => {
        document.body.append(dlg);
        dlg.showModal();
      });
    }

    // The page's QR code; the server puts the share code in its link (urls.with_share_code).
    function qr(id, o, so, code, ctx) {
      const L = ctx.L, enc = encodeURIComponent;
      // Inside WeChat or QQ the code cannot be scanned by the app showing it: point to its menu.
      dialog(ctx, label(id, L), /MicroMessenger|QQ\//i.test(navigator.userAgent) ? [h('p', {}, T.inApp[L])] : [
        h('img', {
          src: `${BASE}v1/qr.svg?site=${enc(SITE)}&url=${enc(o.url)}&code=${code}`,
          alt: T.qrAlt[L], width: 200, height: 200,
        }),
        h('p', {}, T.qrHint[L]),
      ]);
    }

    // "mastodon.social", "https://mastodon.social/about" or "@me@mastodon.social" -> the host.
    function instance(v) {
      try {
        const u = new URL('https://' + v.trim().replace(/^https?:\/\//i, '').split(/[/?#]/)[0].split('@').pop());
        return u.hostname.includes('.') && u.host;
      } catch {
        return '';
      }
    }

    // Asks for the reader's server and goes there directly; remembers it only when asked to.
    // so: what is shared, its URL carrying the share code.
    function fediverse(id, o, so, code, ctx, track) {
      const L = ctx.L;
      let saved = '';
      try { saved = localStorage.getItem(KEY) || ''; } catch { /* storage blocked */ }
      const input = h('input', {
        type: 'text', value: saved, placeholder: 'mastodon.social', inputmode: 'url',
        autocapitalize: 'none', spellcheck: 'false', autofocus: true,
      });
      const keep = h('input', { type: 'checkbox', checked: !!saved });
      input.oninput = () => input.setCustomValidity('');
      dialog(ctx, label(id, L), [
        h('label', {}, T.server[L], input),
        h('label', { class: 'sb-chk' }, keep, T.remember[L]),
      ], h('button', { class: 'sb-go' }, BAR.share[L]), e => {
        const host = instance(input.value);
        if (!host) {
          e.preventDefault();  // keeps the dialog open
          input.setCustomValidity(T.badServer[L]);
          return input.reportValidity();
        }
        try { keep.checked ? localStorage.setItem(KEY, host) : localStorage.removeItem(KEY); } catch { /* ok */ }
        track();
        const u = 'https://' + host + shareUrl(id, so);
        if (!popup(u, id)) ctx.status(BAR.blocked[L], u, label(id, L));
      });
    }

    return { qr, fediverse };
  });
})();
