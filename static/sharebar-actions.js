/* Sharebar actions: like-and-share buttons, Sharebar.action() and recent-activity lists.
 *
 * sharebar.js loads this file only on pages with [data-sharebar-action] or
 * [data-sharebar-activity] elements, or on a first Sharebar.action() call, and passes in what
 * it shares with it (the element maker, the bar's renderer, beacons, the site's config); the
 * file hands back its functions through Sharebar._actions. The server injects the built-in
 * verbs' phrases in place of the marker below; a site's own verbs come with its config. Like
 * the bar, it writes no style attribute and sets text only as text: its look is in
 * sharebar-actions.css, loaded with it.
 */
(() => {
  'use strict';

  const sharebar = window.Sharebar;
  if (!sharebar || !sharebar._actions) return;

  // verb -> [zh-CN, zh-TW, en] phrases around "{title}" ("赞了《{title}》"), from verbs.py.
  const BUILT = /*@verbs@*/null;  // null only when served as written, unbuilt
  const VERBS = BUILT || {};
  // What verbs.GENERIC says for a verb nobody worded.
  const GENERIC = ['{verb}了《{title}》', '{verb}了《{title}》', '{verb} “{title}”'];
  // In the order of sharebar.js's LANGS: zh-CN, zh-TW, en.
  const T = {
    close: ['关闭', '關閉', 'Close'],
    someone: ['有人', '有人', 'Someone'],
    recent: ['最新动态', '最新動態', 'Recent activity'],
  };
  const THEMES = ['auto', 'light', 'dark'];

  sharebar._actions(({ h, opts, langIndex, render, bars, get, send, config, BASE, SITE, LANGS }) => {
    const enc = encodeURIComponent;
    const css = new Promise(ok => {
      const link = h('link', { rel: 'stylesheet', href: BASE + 'static/sharebar-actions.css' });
      link.onload = link.onerror = ok;  // unstyled still works
      document.head.append(link);
    });
    // The site's settings once its config and this file's stylesheet are in.
    const ready = Promise.all([config, css]).then(([site]) => site || {});
    const listed = new WeakSet();  // activity elements already asked for
    let uid = 0;
    let shown = null;  // the open share prompt: {box, host, back}

    /* Wording. d: an element's dataset or Sharebar.action's options; s: the site's settings. */

    const lang = (d, s) => langIndex(d.lang || s.lang || document.documentElement.lang);
    const theme = (d, s) => [d.theme, s.theme].find(v => THEMES.includes(v)) || THEMES[0];

    // The verb's phrase in language L, "{title}" still in it.
    function phrase(verb, s, L) {
      const own = (s.verbs || {})[verb] || VERBS[verb];
      return own ? own[L] : GENERIC[L].replace('{verb}', verb);
    }

    // "赞了《标题》": a function as replacement, so a "$&" in the title stays as it is.
    function sentence(verb, s, L, title) {
      return phrase(verb, s, L).replace('{title}', () => title);
    }

    /* Actions: the beacon at once, then the offer to share. */

    function act(verb, d, el) {
      if (!SITE || typeof verb !== 'string' || !verb) return;
      const o = opts(d), back = el || document.activeElement;
      send({ type: 'action', url: o.url, verb, title: o.title, actor: d.actor || undefined });
      if (String(d.share) === 'false') return;  // share: false, or data-share="false"
      ready.then(s => offer(verb, d, s, o, el, back)).catch(() => {});
    }

    // A non-modal prompt over the page, anchored below the element (at the bottom of the
    // window for a scripted action), so that none of the page's own elements move: the
    // sentence and a small bar whose shares carry the verb. The bar shows the element's
    // data-services, else the page's first bar's, else the site's.
    function offer(verb, d, s, o, el, back) {
      close();
      const L = lang(d, s), id = 'sb-a' + ++uid, said = sentence(verb, s, L, o.title);
      const page = document.querySelector('[data-sharebar]');
      const host = h('div', {
        'data-url': o.url, 'data-title': said, 'data-sb-title': o.title, 'data-sb-verb': verb,
        'data-summary': d.summary, 'data-image': d.image,
        'data-services': d.services || page && page.dataset.services,
        'data-lang': LANGS[L], 'data-theme': theme(d, s),
        'data-size': 'small', 'data-layout': 'inline', 'data-counts': 'false',
      });
      const x = h('button', { type: 'button', class: 'sb-x', title: T.close[L], 'aria-label': T.close[L] }, '×');
      const box = h('div', {
        class: `sb-ask sb-${theme(d, s)}${el ? '' : ' sb-ask-fixed'}`, role: 'dialog',
        'aria-labelledby': id, lang: LANGS[L],
      }, h('p', { id, class: 'sb-say' }, said), host, x);
      render(host);
      x.addEventListener('click', () => close(true));
      box.addEventListener('keydown', e => {
        if (e.key === 'Escape') close(true);
      });
      document.body.append(box);
      shown = { box, host, back, el: el && el.isConnected ? el : null };
      place();
      (box.querySelector('[data-service]') || x).focus();
    }

    // Below the element, inside the window sideways; through CSSOM, which a strict CSP allows.
    function place() {
      if (!shown || !shown.el) return;
      const r = shown.el.getBoundingClientRect(), box = shown.box;
      const left = Math.max(8, Math.min(r.left, innerWidth - box.offsetWidth - 8));
      box.style.setProperty('left', left + scrollX + 'px');
      box.style.setProperty('top', r.bottom + scrollY + 6 + 'px');
    }
    addEventListener('resize', place);

    function close(refocus) {
      if (!shown) return;
      const { box, host, back } = shown;
      shown = null;
      box.remove();
      bars.delete(host);
      if (refocus && back && back.focus) back.focus();
    }

    /* Recent activity: <div data-sharebar-activity [data-url] [data-limit]>. No data-url: the
       whole site; an empty one: this page. On a site that has not opted in (its config says
       so) nothing is asked for: the element stays as the page made it, and the console
       shows no failed request. */

    function list(host) {
      listed.add(host);
      const d = host.dataset, limit = /^\d+$/.test(d.limit) ? '&limit=' + d.limit : '';
      const url = d.url == null ? '' : '&url=' + enc(opts(d).url);
      ready.then(s => s.activity ? Promise.all([s, get('activity', url + limit)]) : []).then(([s, answer]) => {
        const items = answer && Array.isArray(answer.items) ? answer.items : [];
        if (!items.length) return;
        const L = lang(d, s);
        host.replaceChildren(h('ul', {
          class: `sb-feed sb-${theme(d, s)}`, lang: LANGS[L], 'aria-label': T.recent[L],
        }, ...items.map(item => entry(item, s, L))));
      }).catch(() => {});
    }

    // "李雷赞了《标题》 · 5分钟前", the title a link to the page (http and https only).
    function entry(item, s, L) {
      const who = item.name ? String(item.name) : T.someone[L];
      const [before, after = ''] = phrase(String(item.verb), s, L).split('{title}');
      const url = String(item.url || ''), title = String(item.title || url);
      return h('li', {},
        (L === 2 ? who + ' ' : who) + before,
        /^https?:\/\//i.test(url) ? h('a', { href: url }, title) : title,
        after, ' ', when(item.published, L));
    }

    // A relative time up to a week ("5分钟前", "yesterday"), then a short date.
    function when(iso, L) {
      const t = new Date(iso), ago = (Date.now() - t) / 1000, lang = LANGS[L];
      if (isNaN(ago)) return '';
      const rel = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
      const text = ago < 60 ? rel.format(0, 'second') :
        ago < 3600 ? rel.format(-Math.floor(ago / 60), 'minute') :
          ago < 86400 ? rel.format(-Math.floor(ago / 3600), 'hour') :
            ago < 7 * 86400 ? rel.format(-Math.floor(ago / 86400), 'day') :
              t.toLocaleDateString(lang, { month: 'short', day: 'numeric',
                year: t.getFullYear() === new Date().getFullYear() ? undefined : 'numeric' });
      return h('time', { datetime: t.toISOString(), title: t.toLocaleString(lang) }, text);
    }

    return {
      // Lists not drawn yet: at start and whenever the page adds elements.
      scan() {
        if (!SITE) return;
        for (const host of document.querySelectorAll('[data-sharebar-activity]')) {
          if (!listed.has(host)) list(host);
        }
      },
      click: el => act(el.dataset.sharebarAction, el.dataset, el),
      action(verb, o) {
        try {
          act(verb, o && typeof o === 'object' ? o : {}, null);
        } catch {
          // Sharebar.action never throws into the page.
        }
      },
    };
  });
})();
