/* Sharebar clicks and beacons: what each kind of control does, share codes, beacons that are
 * retried, click-backs and address-bar tags, the JavaScript API but render, and the console
 * warnings: for a refusal the owner can fix, and for what a bar could not draw.
 *
 * sharebar.js loads this file when a reader reaches for a bar (pointerdown, focus), when a
 * shared link brought them (a code in the address), when the site tags addresses, when the
 * page calls the API, when the server refuses the config, or on bad input (a warning); it passes in what it shares
 * with it, and the file hands back its functions through Sharebar._share. Nothing here runs
 * before one of those, so a page that only shows a bar never fetches it. Its pure function
 * (refusal) is exported to Node (tests/js/) before anything touches a browser API.
 */
(() => {
  'use strict';

  // The warning for a refusal of the config or of a beacon (p: the server's problem
  // document) when its reason is the owner's to fix: the page is not on the site's domains,
  // or the snippet's key is not the site's. The detail says what to do. '' for any other.
  function refusal(p) {
    const code = /(foreign-domain|foreign-origin|invalid-site-key|unknown-site)$/.exec(p && p.type);
    return code ? `${p.detail} (${code[1]})` : '';
  }

  if (typeof module === 'object' && module.exports) {
    module.exports = { refusal };
    return;
  }

  const sharebar = window.Sharebar;
  if (!sharebar || !sharebar._share) return;

  const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  // In the order of sharebar.js's LANGS: zh-CN, zh-TW, en.
  const T = {
    copied: ['已复制链接', '已複製連結', 'Link copied'],
    copyThis: ['请复制链接：', '請複製連結：', 'Copy the link: '],
    blocked: ['弹出窗口被拦截：', '彈出視窗被封鎖：', 'Popup blocked: '],
  };
  // What a bar could not draw (sharebar.js's warn), by key; x is what it names.
  const WARNINGS = {
    lang: x => `no language "${x}"`,
    services: x => `unknown services: ${x.slice(0, 5).join(', ')}`,
    icon: x => `no icon for ${x}`,
    list: () => 'service list did not load',
    config: () => 'site config did not load: default bar',
  };
  // Each service's popup window size, from the server (assets.popup_sizes): only a click
  // needs them.
  const BUILT = /*@popups@*/null;  // null only when served as written, unbuilt
  const SIZES = BUILT || {};
  // Beacon retries: after 1, 2, 4, 8 and 16 s (or what Retry-After says, up to a minute).
  const RETRIES = 5, FIRST_WAIT = 1000, LONGEST_WAIT = 60000;

  sharebar._share(({
    h, label, shareUrl, opts, lang, nameOf, load, config, pageUrl, filterQuery, loadEverything, sheet,
    site, SERVICES, BASE, SITE, PARAM, T: BAR,
  }) => {
    sheet('sharebar-share');  // the status line's look: what a click says
    const said = new WeakMap();  // a bar's live region -> its status function
    const pending = new Map();   // beacon body -> its retry timer, until stored or refused
    const warned = new Set();    // the kinds of warning given

    // One warning per page for whatever the bars could not draw (kind 'bar'), and one for a
    // refusal by the server ('refused'): enough to notice, never a flood.
    function once(kind, text) {
      if (!warned.has(kind)) console.warn('Sharebar: ' + text);
      warned.add(kind);
    }

    // What a bar could not draw (what: a key of WARNINGS, x: what it names).
    function warn(what, x) {
      once('bar', WARNINGS[what](x));
    }

    // u with its share code set to c (taken out when c is ''), any fragment kept at the end.
    function withCode(u, c) {
      const i = (u + '#').indexOf('#'), q = filterQuery(u.slice(0, i), p => p.split('=')[0] !== PARAM);
      return q + (c ? (q.includes('?') ? '&' : '?') + PARAM + '=' + c : '') + u.slice(i);
    }

    // A refusal of the config or of a beacon, named in the console (once) when the owner can
    // fix it; true when it is.
    function refused(p) {
      const what = refusal(p);
      if (what) once('refused', what);
      return !!what;
    }

    // Touch, focus or click (e) on a bar's control b: links are made fresh (for middle-click
    // and "copy link address" too), and a click shares.
    function on(e, b, host, ctx) {
      const id = b.dataset.service;
      if (b.href) b.href = shareUrl(id, opts(host.dataset));
      if (e.type === 'click') start(id, host.dataset, { ...ctx, e, b });
    }

    // A service no bar on the page shows, or not in language L (Sharebar.share, shareUrl),
    // needs the whole registry first.
    function known(id, L) {
      const ready = L === undefined ? !!SERVICES[id] : nameOf(id, L) !== undefined;
      return ready ? Promise.resolve() : loadEverything();
    }

    function start(id, d, ctx) {
      return known(id, ctx.L).then(() => share(id, d, ctx));
    }

    /* What a click does, for each kind. ctx: {L, theme, live?, e?, b?}. */

    // Every share gets a fresh code, in the link it sends (so = o with the coded URL) and in
    // its beacon (with the page's own URL): a reader coming back through the link brings it.
    function share(id, d, ctx) {
      const s = SERVICES[id], k = s && s.k, L = ctx.L, e = ctx.e, b = ctx.b;
      if (!k) return;
      const o = opts(d), code = randomCode(10), so = { ...o, url: withCode(o.url, code) }, u = shareUrl(id, so);
      const status = ctx.live ? statusOf(ctx.live) : () => {};
      // A share offered after an action (sharebar-actions.js) carries the verb, and the
      // page's own title where the shared text is the action's sentence.
      const track = () => send({
        type: 'share', url: o.url, service: id, title: d.sbTitle || o.title, action: d.sbVerb,
        code: k === 'print' ? undefined : code,
      });
      // What the link opens when the browser follows it (blocked popup, mail, modified click).
      if (b && b.href) b.href = u;
      // The QR code is counted when shown, a Mastodon share when the reader has picked a server.
      if (k === 'qr' || k === 'fediverse') {
        if (k === 'qr') track();
        return load('dialogs', { popup, T: { ...BAR, ...T } })
          .then(m => m[k](id, o, so, code, { ...ctx, status }, track), () => {});
      }
      // Counted once the reader picked an app: the share sheet can be dismissed.
      if (k === 'native') return navigator.share({ url: so.url, title: o.title, text: o.summary }).then(track, () => {});
      track();
      if (k === 'popup' || k === 'link') {
        // Mail and SMS links, and modified clicks: the browser does what links do.
        if (k === 'link' || e && (e.ctrlKey || e.metaKey || e.shiftKey)) {
          if (!e) location.href = u;
          return;
        }
        if (popup(u, id)) return e && e.preventDefault();
        // Blocked. The link's own target=_blank may still open a tab; show the way in any case.
        status(T.blocked[L], u, label(id, L));
      } else if (k === 'copy') {
        copy(so.url).then(ok => ok ? status(T.copied[L]) : status(T.copyThis[L], so.url, so.url));
      } else if (k === 'print') {
        print();
      }
    }

    // A centred popup window, or null when blocked. Not "noopener": with it window.open
    // always returns null, and blocking could not be told; the opener is cut by hand instead.
    function popup(u, id) {
      const [w, ht] = SIZES[id] || [600, 500];
      const win = open(u, '_blank', `popup,width=${w},height=${ht},left=${screenX + (outerWidth - w) / 2},top=${screenY + (outerHeight - ht) / 2}`);
      if (win) win.opener = null;
      return win;
    }

    // A function that says something in a bar's live region, with a link when href is given.
    function statusOf(live) {
      if (said.has(live)) return said.get(live);
      let timer;
      const status = (text, href, linkText) => {
        clearTimeout(timer);
        live.replaceChildren(text);
        if (href) live.append(h('a', { href, target: '_blank', rel: 'noopener' }, linkText));
        else timer = setTimeout(() => live.replaceChildren(), 5000);
      };
      said.set(live, status);
      return status;
    }

    async function copy(text) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        // No Clipboard API (e.g. a page on plain http): copy a selected, unseen textarea.
        const ta = h('textarea', { class: 'sb-vh', readonly: true }), back = document.activeElement;
        ta.value = text;
        document.body.append(ta);
        ta.select();
        let ok = false;
        try { ok = document.execCommand('copy'); } catch { /* not copied: said below */ }
        ta.remove();
        if (back) back.focus();
        return ok;
      }
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

    // A text/plain body (no CORS preflight) with its own event id, so that the server stores
    // it once however often it arrives: a refusal the server may get over (5xx, 429) or a
    // network error is tried again after a growing wait while the page is open, and once
    // more with sendBeacon when the reader leaves. 2xx and other 4xx end it.
    function send(event) {
      attempt(JSON.stringify({ site: SITE, id: randomCode(22), ...event }), 0);
    }

    function attempt(body, tries) {
      pending.delete(body);
      fetch(BASE + 'v1/events', { method: 'POST', body, keepalive: true, credentials: 'omit' }).then(
        r => r.status >= 500 || r.status === 429 ? later(body, tries, r.headers.get('Retry-After')) :
          r.ok || r.json().then(refused, () => {}),  // named in the console when the owner can fix it
        () => later(body, tries, null));
    }

    function later(body, tries, retryAfter) {
      if (tries >= RETRIES) return;
      const asked = Number(retryAfter) * 1000;
      const wait = asked >= 0 && retryAfter !== null ? Math.min(asked, LONGEST_WAIT) :
        FIRST_WAIT * 2 ** tries * (0.75 + Math.random() / 2);
      pending.set(body, setTimeout(() => attempt(body, tries + 1), wait));
    }

    addEventListener('pagehide', () => {
      for (const [body, timer] of pending) {
        clearTimeout(timer);
        navigator.sendBeacon(BASE + 'v1/events', body);
      }
      pending.clear();
    });

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
      } catch {
        // throttled by the browser, or an address it refuses: the address stays as it was
      } finally {
        changing = false;
      }
    }

    // At start. A code in the address is either the reader's own address tag (a reload or a
    // restored tab: history.state remembers it; kept as it is) or a shared link followed:
    // then it leaves the address at once and is reported, once, when the page has loaded.
    function landing() {
      const code = addressCode();
      if (!code) return;
      if (history.state && code === history.state.sbTag) {
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
      if (document.readyState === 'complete') idle();
      else addEventListener('load', idle, { once: true });
      addEventListener('pagehide', once, { once: true });
    }

    // Sites that opt in (address_bar) get their pages' addresses tagged, so that a link
    // copied from the address bar is attributed too: "a-", the time in base 36, 8 random
    // characters (ingest.ADDRESS_CODE); the server registers it on its first click-back.
    // history.state keeps it as the reader's own, so a reload sends nothing, while the link
    // pasted elsewhere (no such state) is a click-back. A page is tagged once; a state that
    // is not a plain object is the app's to keep as it is, so such an entry stays untagged.
    function tag() {
      const st = history.state, cur = addressCode(), page = pageUrl();
      if (cur && st && cur === st.sbTag || st != null && (typeof st !== 'object' || Array.isArray(st))) return;
      if (page !== taggedPage) ownTag = `a-${Math.floor(Date.now() / 1000).toString(36)}-${randomCode(8)}`;
      taggedPage = page;
      setAddress({ ...st, sbTag: ownTag }, ownTag);
    }

    // Single-page apps change the address with pushState (a new, untagged entry) and
    // replaceState (which may drop the tag or its state), and back, forward or an in-page
    // anchor (popstate) reach entries that may have lost them. Wrapping the two methods is how
    // analytics scripts see route changes: popstate alone misses pushState, and the Navigation
    // API is not in every browser. The tag is redone once the app's turn is over, so its
    // router has finished with the address.
    function startTagging() {
      let timer;
      const again = () => {
        clearTimeout(timer);
        timer = setTimeout(tag);
      };
      for (const m of ['pushState', 'replaceState']) {
        const own = history[m];
        history[m] = function (...args) {
          const r = own.apply(this, args);
          if (!changing) again();
          return r;
        };
      }
      addEventListener('popstate', again);
      tag();
    }

    landing();
    config.then(s => s && s.address_bar && startTagging());
    // The JavaScript API but render (sharebar.js), which waits for this file.
    const api = {
      // A promise of the URL: the service may have to be loaded first.
      shareUrl: (id, o) => known(id).then(() => shareUrl(id, opts(o || {}))),
      share: (id, o = {}) => start(id, o, {
        L: lang(o.lang || site() && site().lang || document.documentElement.lang),
        theme: site() && site().theme || 'auto',
      }),
      track: send,
      // Like-and-share from script: {url, title, actor, share}; never throws into the page.
      action: (verb, o) => { load('actions').then(m => m.action(verb, o), () => {}); },
    };
    return { on, refused, send, api, warn };
  });
})();
