/* Sharebar widget: turns every [data-sharebar] element into a share bar.
 *
 * Plain ES2020 and no build step: the server injects its config (service registry, default
 * bar, tracking parameters) in place of the marker below, then minifies. It works under a
 * strict CSP because it never writes style attributes or inline <style>: the look comes from
 * sharebar.css, brand colours through CSSOM. Before a click it asks its own server for
 * nothing but /v1/config (and /v1/counts for bars the config did not cover), and sends a
 * click-back beacon after the page has loaded when the reader came through a shared link.
 * It sets no cookie and stores nothing unless asked to.
 */
(() => {
  'use strict';

  // A second copy of the snippet on the page: the first one already does everything.
  if (window.Sharebar && window.Sharebar.render) return;

  // From the server (assets.widget_config), so both ends agree:
  //   services: {id: {k: kind, u: URL template, n: names [zh-CN, zh-TW, en], c: light colour,
  //              d: dark colour, i: 24x24 icon path, g: monogram, w: popup [width, height]}}
  //   defaults: the services drawn until the site's config says otherwise
  //   tracking: RegExp source of the query parameters that do not name a page (urls.TRACKING)
  //   param:    the query parameter carrying a share code (urls.SHARE_PARAM)
  const CONFIG = /*@config@*/null || { services: {}, defaults: [], tracking: '^_sb$', param: '_sb' };
  const SERVICES = CONFIG.services, DEFAULTS = CONFIG.defaults, PARAM = CONFIG.param;
  const TRACKING = new RegExp(CONFIG.tracking);
  const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const LANGS = ['zh-CN', 'zh-TW', 'en'];
  // Every string in the languages' order above, as the registry's names; % is a name or number.
  const T = {
    share: ['分享', '分享', 'Share'],
    shares: ['分享', '分享', 'Shares'],
    on: ['分享到%', '分享到%', 'Share on %'],
    via: ['通过%分享', '透過%分享', 'Share via %'],
    newWin: ['（在新窗口中打开）', '（在新視窗中開啟）', ' (opens in a new window)'],
    copied: ['已复制链接', '已複製連結', 'Link copied'],
    copyThis: ['请复制链接：', '請複製連結：', 'Copy the link: '],
    blocked: ['弹出窗口被拦截：', '彈出視窗被封鎖：', 'Popup blocked: '],
  };

  const me = document.currentScript || document.querySelector('script[data-site][src*="sharebar.js"]');
  // Paths are taken relative to the script, so a server behind a path prefix works as well.
  const BASE = new URL('../', me.src).href;
  const SITE = me.dataset.site || '';
  const enc = encodeURIComponent;

  const bars = new Map();  // host element -> {bar, st, look}
  const countsOf = {};     // page URL -> promise of its counts
  let site = null;         // the site's bar defaults, from /v1/config
  let asked = false;       // /v1/config requested
  let configured = false;  // ... and answered or failed
  let cssReady = false;
  let configDone;          // resolves the promise below with the site's settings (or null)
  const config = new Promise(ok => configDone = ok);

  // Elements from a tag, attributes (false and null ones left out) and children (text is
  // added as text, never parsed as HTML).
  function h(tag, attrs, ...kids) {
    const e = /^(svg|path|text)$/.test(tag) ?
      document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
    for (const k in attrs) {
      if (attrs[k] !== false && attrs[k] != null) e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    }
    e.append(...kids);
    return e;
  }

  function meta(name) {
    const m = document.querySelector(`meta[property="${name}"],meta[name="${name}"]`);
    return m ? m.content : '';
  }

  function absolute(u) {
    try { return u && new URL(u, location.href).href; } catch (e) { return u; }
  }

  // "a, #b" or ["a", "b"] -> ["a", "b"]; also strips the "@" of an account.
  function list(v) {
    return (Array.isArray(v) ? v : String(v || '').split(','))
      .map(s => String(s).trim().replace(/^[#@]/, '')).filter(Boolean);
  }

  // u with only the query parameters that pass keep(param), raw encoding untouched.
  function filterQuery(u, keep) {
    const i = u.indexOf('?');
    if (i < 0) return u;
    const kept = u.slice(i + 1).split('&').filter(p => p && keep(p));
    return u.slice(0, i) + (kept.length ? '?' + kept.join('&') : '');
  }

  // u with its share code set to c (taken out when c is ''), any fragment kept at the end.
  function withCode(u, c) {
    const i = (u + '#').indexOf('#'), q = filterQuery(u.slice(0, i), p => p.split('=')[0] != PARAM);
    return q + (c ? (q.includes('?') ? '&' : '?') + PARAM + '=' + c : '') + u.slice(i);
  }

  /* What is shared. Read at click time, so that a single-page app shares the page it shows. */

  function pageUrl() {
    const canonical = document.querySelector('link[rel~="canonical"]');
    return canonical && canonical.href ||
      filterQuery(location.href.split('#')[0], p => !TRACKING.test(p.split('=')[0]));
  }

  // d: a bar's dataset, or the options given to the JavaScript API.
  function opts(d) {
    return {
      url: absolute(d.url) || pageUrl(),
      title: d.title || meta('og:title') || document.title,
      summary: d.summary || meta('description') || meta('og:description'),
      image: absolute(d.image || meta('og:image')) || '',
      via: list(d.via)[0] || '',
      hashtags: list(d.hashtags),
    };
  }

  function shareUrl(id, o) {
    const s = SERVICES[id], tags = o.hashtags;
    const v = {
      ...o,
      hashtags: tags.join(','),
      tags_weibo: tags.map(tag => ` #${tag}#`).join(''),  // Weibo topics are #话题#
      via_at: o.via && ' @' + o.via,
    };
    const u = (s && s.u || '').replace(/\{(\w+)\}/g, (_, k) => enc(v[k] || ''));
    // Platforms take an empty parameter as "given, blank" rather than "not given".
    return filterQuery(u, p => !p.endsWith('='));
  }

  /* Language, names and numbers. */

  function langIndex(l) {
    l = String(l || '').toLowerCase();
    return /^zh-(tw|hk|mo|hant)/.test(l) ? 1 : l.startsWith('zh') ? 0 : 2;
  }

  function t(key, L, x) {
    return T[key][L].replace('%', x);
  }

  // The accessible name, also the tooltip: "分享到微博（在新窗口中打开）".
  function label(id, L) {
    const k = SERVICES[id].k, name = SERVICES[id].n[L];
    if (k == 'link') return t('via', L, name);
    if (k == 'popup') return t('on', L, name) + T.newWin[L];
    if (k == 'qr' || k == 'fediverse') return t('on', L, name);
    return name;  // copy, print, native: the name says it all
  }

  // en 999, 1.2k, 3.4M; zh-CN 9999, 1.2万, 3.4亿; zh-TW the same in traditional 萬, 億.
  function fmt(n, L) {
    let s = String(n);
    for (const [v, unit] of [[[1e4, '万'], [1e8, '亿']], [[1e4, '萬'], [1e8, '億']], [[1e3, 'k'], [1e6, 'M']]][L]) {
      // .99995 so that 999,950 makes 1M, not 1000k
      if (n >= v * .99995) s = Math.round(n / v * 10) / 10 + unit;
    }
    return s;
  }

  /* Rendering. A bar's own attributes win, then the site's config, then the defaults. */

  function settings(host) {
    const d = host.dataset, s = site || {};
    const pick = (k, allowed) => [d[k], s[k]].find(v => allowed.includes(v)) || allowed[0];
    const wanted = list(d.services).length ? list(d.services) : s.services || DEFAULTS;
    return {
      // Unknown and duplicate IDs go, and pseudo-services of no kind we draw (the registry's
      // "address"); so does "native" where there is no Web Share API.
      services: [...new Set(wanted)].filter(id => SERVICES[id] &&
        /^(popup|link|qr|copy|print|native|fediverse)$/.test(SERVICES[id].k) && (id != 'native' || navigator.share)),
      theme: pick('theme', ['auto', 'light', 'dark']),
      size: pick('size', ['medium', 'small', 'large']),
      layout: pick('layout', ['inline', 'float']),
      counts: d.counts ? d.counts == 'true' : !!s.counts,
      // A language the site chose beats the page's <html lang>.
      L: langIndex(d.lang || s.lang || document.documentElement.lang),
    };
  }

  // A monogram where the registry has no icon: "f", "QQ", "豆".
  function glyph(g) {
    return h('text', { x: 12, y: 12, 'font-size': g.length > 1 ? 12 : 15 }, g);
  }

  function control(id, L, o) {
    const s = SERVICES[id], k = s.k, name = label(id, L), isLink = k == 'popup' || k == 'link';
    const b = h(isLink ? 'a' : 'button', {
      class: 'sb-btn', 'data-service': id, title: name,
      href: isLink && shareUrl(id, o),  // fresh again at click time
      type: !isLink && 'button',
      target: k == 'popup' && '_blank', rel: k == 'popup' && 'noopener',
      'aria-haspopup': (k == 'qr' || k == 'fediverse') && 'dialog',
    },
    h('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true' },
      s.i ? h('path', { d: s.i }) : glyph(s.g || s.n[L][0])),
    h('span', { class: 'sb-vh' }, name));
    // CSSOM, which a strict style-src allows, unlike a style attribute.
    b.style.setProperty('--sb-c', s.c);
    b.style.setProperty('--sb-d', s.d);
    return b;
  }

  // What a bar looks like; counts are added to a drawn bar, they need no redraw.
  function look(st) {
    return JSON.stringify({ ...st, counts: 0 });
  }

  // Draws at once, from the bar's attributes and what is known of the site so far (nothing,
  // before the config arrives: then a bar without data-services shows the default services,
  // redrawn only if the site chose others). Waiting for the config would cost a round trip
  // on every page view, as its answer is per page and so rarely cached.
  function render(host) {
    const st = settings(host), L = st.L;
    const o = opts(host.dataset), live = h('div', { class: 'sb-st', role: 'status' });
    const bar = h('div', {
      class: `sb sb-${st.theme} sb-${st.size} sb-${st.layout}`, role: 'group',
      'aria-label': T.share[L], lang: LANGS[L],
      hidden: !cssReady,  // so that it never shows unstyled
    }, ...st.services.map(id => control(id, L, o)), live);
    const ctx = { L, theme: st.theme, status: status(live) };
    const onEvent = e => {
      const b = e.target.closest('[data-service]');
      if (!b) return;
      // Links made fresh on touch and focus too, for middle-click and "copy link address".
      if (b.href) b.href = shareUrl(b.dataset.service, opts(host.dataset));
      if (e.type == 'pointerdown' && /^(qr|fediverse)$/.test(SERVICES[b.dataset.service].k)) loadDialogs();
      if (e.type == 'click') share(b.dataset.service, host.dataset, { ...ctx, e, b });
    };
    for (const type of ['click', 'pointerdown', 'focusin']) bar.addEventListener(type, onEvent);
    host.replaceChildren(bar);
    bars.set(host, { bar, st, look: look(st) });
    if (!configured) loadConfig();
    else if (st.counts) showCounts(host);
  }

  // Draws the bars not drawn yet: at start, and whenever the page adds elements. Pages with
  // like-and-share buttons or a recent-activity list get the code for them (sharebar-actions.js).
  function scan() {
    for (const host of document.querySelectorAll('[data-sharebar]')) {
      if (!bars.has(host)) render(host);
    }
    if (document.querySelector('[data-sharebar-action],[data-sharebar-activity]')) actions('scan');
  }

  function loadCss() {
    const link = h('link', { rel: 'stylesheet', href: BASE + 'static/sharebar.css' });
    // Should the stylesheet fail, an unstyled bar still works.
    link.onload = link.onerror = () => {
      cssReady = true;
      for (const d of bars.values()) d.bar.hidden = false;
    };
    document.head.append(link);
  }

  /* Config and counts: the only requests before a click. */

  function get(path) {
    return fetch(BASE + 'v1/' + path, { credentials: 'omit' })
      .then(r => r.ok ? r.json() : null).catch(() => null);
  }

  function loadConfig() {
    if (asked) return;
    asked = true;
    const url = pageUrl();
    const done = json => {
      if (json && json.site) {
        site = json.site;
        // It carries this page's counts when the site shows counts.
        if (json.counts) countsOf[url] = Promise.resolve(json.counts);
      }
      configured = true;
      configDone(site);
      reconcile();
      if (site && site.address_bar) startTagging();
    };
    if (!SITE) return done();
    get(`config?site=${enc(SITE)}&url=${enc(url)}`).then(done);
  }

  // Once the config is known: redraws the bars it changes, adds counts where it turns them on.
  function reconcile() {
    for (const [host, d] of bars) {
      const st = settings(host);
      if (!host.isConnected) bars.delete(host);
      else if (d.look != look(st)) render(host);
      else if (st.counts) showCounts(host);
    }
  }

  function showCounts(host) {
    const d = bars.get(host), L = d.st.L, url = opts(host.dataset).url;
    if (!SITE || d.counted) return;
    d.counted = true;
    countsOf[url] = countsOf[url] || get(`counts?site=${enc(SITE)}&url=${enc(url)}`);
    countsOf[url].then(c => {
      if (!c || bars.get(host) != d) return;  // failed, or the bar was redrawn since
      d.bar.prepend(h('div', { class: 'sb-total' }, h('b', {}, fmt(c.total, L)), h('span', {}, T.shares[L])));
      for (const b of d.bar.querySelectorAll('[data-service]')) {
        const n = (c.services || {})[b.dataset.service];
        // After the label, so the name reads "Share on Weibo (opens in a new window) 12".
        if (n) b.append(h('span', { class: 'sb-n' }, fmt(n, L)));
      }
    });
  }

  /* What a click does, for each kind. ctx: {L, theme, status(), e?, b?}. */

  // Every share gets a fresh code, in the link it sends (so = o with the coded URL) and in its
  // beacon (with the page's own URL): a reader coming back through the link brings the code.
  function share(id, d, ctx) {
    const s = SERVICES[id], k = s && s.k, L = ctx.L, e = ctx.e, b = ctx.b;
    if (!k) return;
    const o = opts(d), code = randomCode(10), so = { ...o, url: withCode(o.url, code) }, u = shareUrl(id, so);
    // A share offered after an action (sharebar-actions.js) carries the verb, and the page's
    // own title where the shared text is the action's sentence.
    const track = () => send({
      type: 'share', url: o.url, service: id, title: d.sbTitle || o.title, action: d.sbVerb,
      code: k == 'print' ? undefined : code,
    });
    // What the link opens when the browser follows it (blocked popup, mail, modified click).
    if (b && b.href) b.href = u;
    // The QR code is counted when shown, a Mastodon share when the reader has picked a server.
    if (k == 'qr' || k == 'fediverse') {
      if (k == 'qr') track();
      return loadDialogs().then(m => m[k](id, o, so, code, ctx, track), () => {});
    }
    // Counted once the reader picked an app: the share sheet can be dismissed.
    if (k == 'native') return navigator.share({ url: so.url, title: o.title, text: o.summary }).then(track, () => {});
    track();
    if (k == 'popup' || k == 'link') {
      // Mail and SMS links, and modified clicks: the browser does what links do.
      if (k == 'link' || e && (e.ctrlKey || e.metaKey || e.shiftKey)) {
        if (!e) location.href = u;
        return;
      }
      if (popup(u, s.w)) return e && e.preventDefault();
      // Blocked. The link's own target=_blank may still open a tab; show the way in any case.
      ctx.status(T.blocked[L], u, label(id, L));
    } else if (k == 'copy') {
      copy(so.url).then(ok => ok ? ctx.status(T.copied[L]) : ctx.status(T.copyThis[L], so.url, so.url));
    } else if (k == 'print') {
      print();
    }
  }

  // A centred popup window, or null when blocked. Not "noopener": with it window.open always
  // returns null, and blocking could not be told; the opener is cut by hand instead.
  function popup(u, [w, ht] = [600, 500]) {
    const win = open(u, '_blank', `popup,width=${w},height=${ht},left=${screenX + (outerWidth - w) / 2},top=${screenY + (outerHeight - ht) / 2}`);
    if (win) win.opener = null;
    return win;
  }

  // A function that says something in the bar's live region, with a link when href is given.
  function status(live) {
    let timer;
    return (text, href, linkText) => {
      clearTimeout(timer);
      live.replaceChildren(text);
      if (href) live.append(h('a', { href, target: '_blank', rel: 'noopener' }, linkText));
      else timer = setTimeout(() => live.replaceChildren(), 5000);
    };
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      // No Clipboard API (e.g. a page on plain http): copy a selected, unseen textarea.
      const ta = h('textarea', { class: 'sb-vh', readonly: true }), back = document.activeElement;
      ta.value = text;
      document.body.append(ta);
      ta.select();
      let ok = false;
      try { ok = document.execCommand('copy'); } catch (e2) { /* not copied: said below */ }
      ta.remove();
      if (back) back.focus();
      return ok;
    }
  }

  /* Code most pages never need, loaded on first use from the script's server like everything
     else (a CSP script-src allows it): the dialogs (WeChat's QR code, the Mastodon server) in
     sharebar-dialogs.js, on the first click that needs one (a pointerdown starts it early);
     like-and-share and recent activity in sharebar-actions.js, on pages that use them. */

  const modules = {};  // name -> promise of its functions

  function load(name) {
    return modules[name] = modules[name] || new Promise((ok, failed) => {
      // The file hands over its functions by calling this with a maker of them.
      api['_' + name] = make => ok(make({
        h, label, shareUrl, popup, opts, langIndex, render, bars, get, send, config,
        SERVICES, BASE, SITE, LANGS, T,
      }));
      const script = h('script', { src: `${BASE}static/sharebar-${name}.js` });
      script.onerror = () => {
        modules[name] = null;  // tried again on the next use
        script.remove();
        failed();
      };
      document.head.append(script);
    });
  }

  const loadDialogs = () => load('dialogs');

  // Calls the actions module's fn; quietly nothing should it fail to load.
  function actions(fn, ...args) {
    load('actions').then(m => m[fn](...args), () => {});
  }

  /* Beacons. */

  // n random base-62 characters (share codes, event ids). getRandomValues works on http
  // pages too, unlike randomUUID; bytes of 248 and over are dropped so every character is
  // equally likely.
  function randomCode(n) {
    let s = '';
    while (s.length < n) {
      for (const x of crypto.getRandomValues(new Uint8Array(n))) if (x < 248) s += B62[x % 62];
    }
    return s.slice(0, n);
  }

  // A text/plain body: no CORS preflight, and it survives the page being closed.
  function send(event) {
    const body = JSON.stringify({ site: SITE, id: randomCode(22), ...event }), url = BASE + 'v1/events';
    if (!navigator.sendBeacon(url, body)) {
      fetch(url, { method: 'POST', body, keepalive: true, mode: 'no-cors', credentials: 'omit' }).catch(() => {});
    }
  }

  /* Click-backs and address-bar attribution: the code travels in the query parameter PARAM. */

  let ownTag = '', taggedPage = '';  // the address tag this reader was given, and its page
  let changing = false;              // our own replaceState, which startTagging lets through

  function addressCode() {
    return new URLSearchParams(location.search).get(PARAM) || '';
  }

  // The address with its code set to c ('' takes it out): no reload, no new history entry.
  // Through the page's current replaceState, so a router that wraps it sees the change too.
  function setAddress(state, c) {
    changing = true;
    try {
      history.replaceState(state, '', withCode(location.href, c));
    } catch (e) {
      // throttled by the browser, or an address it refuses: the address stays as it was
    } finally {
      changing = false;
    }
  }

  // At start. A code in the address is either the reader's own address tag (a reload or a
  // restored tab: history.state remembers it; kept as it is) or a shared link followed: then
  // it leaves the address at once and is reported, once, when the page has loaded.
  function landing() {
    const code = addressCode();
    if (!code) return;
    if (code == history.state?.sbTag) {
      ownTag = code;
      taggedPage = pageUrl();
      return;
    }
    setAddress(history.state, '');
    afterLoad(() => SITE && send({ type: 'clickback', url: pageUrl(), code, referrer: document.referrer }));
  }

  // fn once: after the load event, when the browser is idle, so that it never competes with
  // the page's rendering; or when the reader leaves before that.
  function afterLoad(fn) {
    let done = false;
    const once = () => {
      if (done) return;
      done = true;
      fn();
    };
    const idle = () => window.requestIdleCallback ? requestIdleCallback(once, { timeout: 2000 }) : setTimeout(once);
    if (document.readyState == 'complete') idle();
    else addEventListener('load', idle, { once: true });
    addEventListener('pagehide', once, { once: true });
  }

  // Sites that opt in (address_bar) get their pages' addresses tagged, so that a link copied
  // from the address bar is attributed too: "a-", the time in base 36, 8 random characters
  // (ingest.ADDRESS_CODE); the server registers it on its first click-back. history.state
  // keeps it as the reader's own, so a reload sends nothing, while the link pasted elsewhere
  // (no such state) is a click-back. A page is tagged once; a state that is not a plain
  // object is the app's to keep as it is, so such an entry stays untagged.
  function tag() {
    const st = history.state, cur = addressCode(), page = pageUrl();
    if (cur && cur == st?.sbTag || st != null && (typeof st != 'object' || Array.isArray(st))) return;
    if (page != taggedPage) ownTag = `a-${Math.floor(Date.now() / 1000).toString(36)}-${randomCode(8)}`;
    taggedPage = page;
    setAddress({ ...st, sbTag: ownTag }, ownTag);
  }

  // Single-page apps change the address with pushState (a new, untagged entry) and
  // replaceState (which may drop the tag or its state), and back, forward or an in-page
  // anchor (popstate) reach entries that may have lost them. Wrapping the two methods is how
  // analytics scripts see route changes: popstate alone misses pushState, and the Navigation
  // API is not in every browser. The tag is redone once the app's turn is over, so its router
  // has finished with the address.
  function startTagging() {
    let timer;
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(tag);
    };
    for (const m of ['pushState', 'replaceState']) {
      const own = history[m];
      history[m] = function (...args) {
        const r = own.apply(this, args);
        if (!changing) later();
        return r;
      };
    }
    addEventListener('popstate', later);
    tag();
  }

  /* The JavaScript API: Sharebar('method', ...args) or Sharebar.method(...args). */

  function api(method, ...args) {
    if (typeof api[method] != 'function') throw new TypeError(`Sharebar: no method "${method}"`);
    return api[method](...args);
  }
  api.render = host => host ? (bars.delete(host), render(host)) : scan();
  api.shareUrl = (id, o) => shareUrl(id, opts(o || {}));
  api.share = (id, o = {}) => share(id, o, {
    L: langIndex(o.lang || site && site.lang || document.documentElement.lang),
    theme: site && site.theme || 'auto',
    status() {},
  });
  api.track = send;
  // Like-and-share from script: {url, title, actor, share}; never throws into the page.
  api.action = (verb, o) => { actions('action', verb, o); };

  const queue = window.Sharebar && window.Sharebar.q || [];
  window.Sharebar = api;
  landing();
  loadCss();
  scan();
  loadConfig();  // also with no bar on the page: it says whether to tag the address
  new MutationObserver(records => {
    // A data-sharebar attribute set, or elements added by the page (not the bars' own nodes,
    // dialogs, share prompts nor activity lists, which hold no new bars).
    if (records.some(r => r.type == 'attributes' ||
      [...r.addedNodes].some(n => n.closest && !n.closest('.sb,.sb-dlg,.sb-ask,.sb-feed')))) scan();
  }).observe(document.documentElement, { childList: true, subtree: true, attributeFilter: ['data-sharebar'] });
  // Like-and-share buttons, also those added later: the actions module does the rest.
  addEventListener('click', e => {
    const el = e.target.closest && e.target.closest('[data-sharebar-action]');
    if (el) actions('click', el);
  });
  // Calls made before the script loaded, in order; one failing does not stop the rest.
  for (const args of queue) {
    try { api(...args); } catch (e) { console.error(e); }
  }
})();
