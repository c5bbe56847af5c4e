//# allFunctionsCalledOnLoad
/* Sharebar widget: turns every [data-sharebar] element into a share bar.
 *
 * Plain ES2020 and no build step: the server injects a small config (tracking parameters),
 * sharebar.css and, per site, the site's /v1/config in place of the markers below, and
 * minifies. It works under a strict CSP because it never writes style attributes or inline
 * <style>: its stylesheets are adopted (constructed), brand colours set through CSSOM. Only
 * what the bar draws travels: this file only draws bars from /v1/config, which carries the
 * site's services (templates, one
 * language's names, brand marks); a bar that names other services, or another language,
 * loads the whole registry (sharebar-services.js) once, a bar with counts sharebar-counts.js.
 * Everything else is in sharebar-share.js, loaded when a reader reaches for a bar, when the
 * page uses the rest of the JavaScript API, or when the server refuses something: what a
 * click does, beacons, the console warnings (for a refusal, or for what a bar could not draw:
 * their words load only on bad input). It sets no cookie and stores
 * nothing unless asked.
 *
 * The pure functions come first and are exported to Node (tests/js/) before anything touches
 * a browser API; in a browser the file runs as it is (the server leaves the export out).
 */
(() => {
  'use strict';

  /* Pure functions: share URLs, URL cleaning, languages and numbers. */

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

  // href without its fragment and without the query parameters tracking matches.
  function cleanUrl(href, tracking) {
    return filterQuery(href.split('#')[0], p => !tracking.test(p.split('=')[0]));
  }

  // template filled with o ({url, title, summary, image, via, hashtags: []}), each value
  // encoded; parameters left empty are dropped (platforms take them as "given, blank").
  function fillTemplate(template, o) {
    const tags = o.hashtags || [];
    const v = {
      ...o,
      hashtags: tags.join(','),
      tags_weibo: tags.map(tag => ` #${tag}#`).join(''),  // Weibo topics are #话题#
      via_at: o.via && ' @' + o.via,
    };
    const u = (template || '').replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(v[k] || ''));
    return filterQuery(u, p => !p.endsWith('='));
  }

  // 0 zh-CN, 1 zh-TW, 2 en; -1 for a language the bar does not speak.
  function langIndex(l) {
    l = String(l || '').toLowerCase();
    return /^zh-(tw|hk|mo|hant)/.test(l) ? 1 : l.startsWith('zh') ? 0 : /^en\b/.test(l) ? 2 : -1;
  }

  if (typeof module === 'object' && module.exports) {
    module.exports = { list, filterQuery, cleanUrl, fillTemplate, langIndex };
    return;
  }

  /* The browser. The stylesheet comes with the script, and so does the site's config when the
     server could tell the page's site: the bar is then drawn at the script's first run, with no
     request of its own. Otherwise the config is asked for first thing: the bar waits for it,
     and nothing else the script does is worth waiting for. */

  const me = document.currentScript || document.querySelector('script[data-site][src*="sharebar.js"]');
  // Paths are taken relative to the script, so a server behind a path prefix works as well.
  const BASE = new URL('../', me.src).href;
  const sheets = {};  // stylesheet name -> its CSSStyleSheet or <link>, done once in (sheet)
  const CSS = /*@css@*/null;  // sharebar.css, built in by the server (assets.py): no request

  // A second copy of the snippet on the page: the first one already does everything.
  if (window.Sharebar && window.Sharebar.render) return;

  // From the server (assets.widget_config), so both ends agree (as written, unbuilt, only the
  // share code's parameter):
  //   tracking: RegExp source of the query parameters that do not name a page (urls.TRACKING)
  //   param:    the query parameter carrying a share code (urls.SHARE_PARAM)
  const CONFIG =
    /*@config@*/{ tracking: '^_sb$', param: '_sb' };
  const TRACKING = new RegExp(CONFIG.tracking);
  const LANGS = ['zh-CN', 'zh-TW', 'en'];
  const SITE = me.dataset.site || '';
  const enc = encodeURIComponent;
  const configUrl = pageUrl();
  const pageLang = lang(document.documentElement.lang);
  // This site's /v1/config, built in by the server when the address of the page that asked
  // for the script (its Referer) is on one site's domains: the bar draws with no round trip.
  // Taken when it is the site of this snippet's key (k: the key's last characters, of its
  // signature) and in the language the bar needs (the site's own, else the page's), else
  // asked for as usual.
  const OWN = /*@site@*/null;
  let named;  // a promise: whether a refusal of the config was named in the console
  const configJson = OWN && SITE.endsWith(OWN.k) && (OWN.site.lang || OWN.lang === pageLang) ?
    OWN : SITE ?
    // With this page's counts when a bar wants them (else only when the site shows counts).
    get('config', `&url=${enc(configUrl)}&lang=${LANGS[pageLang]}` +
      (document.querySelector('[data-sharebar][data-counts=true]') ? '&counts=1' : ''),
      p => { named = refused(p); }) :
    null;
  const KINDS = /^(popup|link|qr|copy|print|native|fediverse)$/;
  const GRID = 48;  // the icons' viewBox is GRID units square: the server's (marks.GRID)
  // The bar's words (assets.STRINGS): key -> [zh-CN, zh-TW, en], % a name. The config brings
  // its language's, the whole registry all of them: known in a language when the services'
  // names are.
  const T = {};

  // id -> {k: kind, u: template, n: name (one language, `l`) or names [zh-CN, zh-TW, en],
  //        c: light colour, d: dark colour (else c), i: path on the GRID, g: monogram}
  const SERVICES = {};
  // The services drawn when neither the bar nor the site name them: with the whole registry,
  // which a bar needs anyway when the site's config failed.
  const DEFAULTS = [];
  const bars = new Map();  // host element -> {bar, st, look} (empty until drawn)
  const countsOf = {};     // page URL -> promise of its counts
  let site = null;         // the site's bar defaults, from /v1/config
  let configured = false;  // /v1/config answered or failed
  let everything = null;   // promise of the whole registry (sharebar-services.js)
  let haveEverything = false;  // ... loaded (or failed: then what is known is all there is)
  let configDone;          // resolves the promise below with the site's settings (or null)
  const config = new Promise(ok => configDone = ok);
  let clicker = null;      // the share module's functions, once loaded
  sheet('sharebar');

  // What a bar could not draw (what: a key of the share module's WARNINGS, x: what it names),
  // said in the console by the share module: its words are bytes only bad input needs.
  function warn(what, x) {
    clicks().then(m => m.warn(what, x), () => {});
  }

  // A refusal of the config (the server's problem document): the share module names it in
  // the console when the owner can fix it. A promise of whether it did.
  function refused(p) {
    return clicks().then(m => m.refused(p), () => false);
  }

  // The stylesheet static/<name>.css, added once; true once it is in (or failed: unstyled, a
  // bar still works). Bars are hidden until their stylesheets are in: float bars need
  // sharebar-float.css as well, which inline bars (most pages) never fetch. Adopted
  // (constructed, which a strict CSP allows as it does the script that makes it), after
  // sharebar.css, which comes with the script: later, they win where they say otherwise. A
  // browser that cannot adopt gets <link>s.
  function sheet(name) {
    if (!(name in sheets)) {
      const url = `${BASE}static/${name}.css`;
      const s = sheets[name] = document.adoptedStyleSheets ? new CSSStyleSheet() : h('link', { rel: 'stylesheet', href: url });
      const done = css => {
        if (css != null) {
          s.replaceSync(css);
          document.adoptedStyleSheets = [...document.adoptedStyleSheets, s];
        }
        s.done = 1;
        for (const d of bars.values()) if (d.bar) d.bar.hidden = !styled(d.st);
      };
      if (!s.replaceSync) {
        s.onload = s.onerror = () => done();
        document.head.append(s);
      } else if (name === 'sharebar' && CSS) done(CSS);
      else fetch(url).then(r => r.ok ? r.text() : '').catch(() => '').then(done);
    }
    return !!sheets[name].done;
  }

  function styled(st) {
    const float = st.layout !== 'float' || sheet('sharebar-float');  // asked for at once
    return sheet('sharebar') && float;
  }

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
    try { return u && new URL(u, location.href).href; } catch { return u; }
  }

  /* What is shared. Read at click time, so that a single-page app shares the page it shows. */

  function pageUrl() {
    const canonical = document.querySelector('link[rel~="canonical"]');
    return canonical && canonical.href || cleanUrl(location.href, TRACKING);
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
    return fillTemplate(SERVICES[id] && SERVICES[id].u, o);
  }

  /* Names. A language the bar does not speak falls back to the site's, then the page's, then
     English; only a bar's own data-lang is worth a warning (a page in French is no error). */

  function lang(wanted) {
    const L = langIndex(wanted);
    return L < 0 ? 2 : L;
  }

  function barLang(d) {
    const own = langIndex(d.lang);
    if (d.lang && own < 0) warn('lang', d.lang);
    return own >= 0 ? own : lang(site && site.lang || document.documentElement.lang);
  }

  // The service's name in language L, when it is known in that language.
  function nameOf(id, L) {
    const s = SERVICES[id], n = s && s.n;
    return Array.isArray(n) ? n[L] : s && s.l === L ? n : undefined;
  }

  function t(key, L, x) {
    return ((T[key] || [])[L] || '').replace('%', x);
  }

  // The accessible name, also the tooltip: "分享到微博（在新窗口中打开）".
  function label(id, L) {
    const k = SERVICES[id].k, name = nameOf(id, L);
    if (k === 'link') return t('via', L, name);
    if (k === 'popup') return t('on', L, name) + t('newWin', L);
    if (k === 'qr' || k === 'fediverse') return t('on', L, name);
    return name;  // copy, print, native: the name says it all
  }

  /* Rendering. A bar's own attributes win, then the site's config, then the defaults. */

  function settings(host) {
    const d = host.dataset, s = site || {};
    const pick = (k, allowed) => [d[k], s[k]].find(v => allowed.includes(v)) || allowed[0];
    const own = list(d.services);
    return {
      // Duplicates go; so do services of no kind we draw, and "native" where there is no
      // Web Share API (see drawable).
      wanted: [...new Set(own.length ? own : s.services || DEFAULTS)],
      theme: pick('theme', ['auto', 'light', 'dark']),
      size: pick('size', ['medium', 'small', 'large']),
      layout: pick('layout', ['inline', 'float']),
      small: pick('floatMobile', ['reserve', 'collapse']),  // a float bar on narrow screens
      counts: d.counts ? d.counts === 'true' : !!s.counts,
      L: barLang(d),
    };
  }

  function drawable(id) {
    const s = SERVICES[id];
    return s && KINDS.test(s.k) && (id !== 'native' || !!navigator.share);
  }

  // A monogram where the set has no mark: "in", "贴".
  function glyph(g) {
    return h('text', { x: GRID / 2, y: GRID / 2, 'font-size': GRID / (g.length > 1 ? 2 : 1.6) }, g);
  }

  // Named by aria-label, not by text hidden from the eye: text would be laid out, its script's
  // fallback font looked up and its glyphs shaped (for Chinese names, about half of the first
  // frame's layout), all for nothing on screen.
  function control(id, L, o) {
    const s = SERVICES[id], k = s.k, name = label(id, L), isLink = k === 'popup' || k === 'link';
    if (!s.i && !s.g) warn('icon', id);
    const b = h(isLink ? 'a' : 'button', {
      class: 'sb-btn', 'data-service': id, title: name, 'aria-label': name,
      href: isLink && shareUrl(id, o),  // fresh again at click time
      type: !isLink && 'button',
      target: k === 'popup' && '_blank', rel: k === 'popup' && 'noopener',
      'aria-haspopup': (k === 'qr' || k === 'fediverse') && 'dialog',
    },
    h('svg', { viewBox: `0 0 ${GRID} ${GRID}`, 'aria-hidden': 'true' },
      s.i ? h('path', { d: s.i }) : glyph(s.g || nameOf(id, L)[0])));
    // CSSOM, which a strict style-src allows, unlike a style attribute.
    b.style.setProperty('--sb-c', s.c);
    b.style.setProperty('--sb-d', s.d || s.c);  // d left out: c does in both themes
    return b;
  }

  // What a bar looks like; counts are added to a drawn bar, they need no redraw.
  function look(st) {
    return JSON.stringify({ ...st, counts: 0 });
  }

  // The whole registry, every name in every language: once, for bars that need more than
  // the config brought (or when the config failed).
  function loadEverything() {
    everything = everything || load('services').catch(() => warn('list'))
      .then(() => { haveEverything = true; });
    return everything;
  }

  // Draws once the site's config is known (before, a bar could only guess which services the
  // site chose), and after the whole registry when the bar needs services or a language the
  // config did not bring; then only what can be drawn, with one warning for the rest.
  function render(host) {
    bars.set(host, {});
    if (!configured) return;
    const st = settings(host), L = st.L;
    // Without the site's config, the default services are the registry's too.
    if ((!site || st.wanted.some(id => nameOf(id, L) === undefined)) && !haveEverything) {
      loadEverything().then(() => bars.get(host) && !bars.get(host).bar && render(host));
      return;
    }
    st.services = st.wanted.filter(id => drawable(id) && nameOf(id, L) !== undefined);
    if (st.services.length < st.wanted.filter(id => id !== 'native').length) {
      warn('services', st.wanted.filter(id => !SERVICES[id]));
    }
    const o = opts(host.dataset), live = h('div', { class: 'sb-st', role: 'status' });
    const bar = h('div', {
      class: `sb sb-${st.theme} sb-${st.size} sb-${st.layout} sb-${st.small}`, role: 'group',
      'aria-label': t('share', L), lang: LANGS[L], hidden: !styled(st),
    }, ...st.services.map(id => control(id, L, o)), live);
    const ctx = { L, theme: st.theme, live };
    // Touch, focus and click go to the share module (sharebar-share.js), loaded by the first.
    const onEvent = e => {
      const b = e.target.closest('[data-service]');
      if (!b) return;
      // Ready on pointerdown or focus nearly always; else the click waits for it (a mail or
      // SMS link is followed by the browser all the same).
      if (e.type === 'click' && !clicker && SERVICES[b.dataset.service].k !== 'link' &&
        !(e.ctrlKey || e.metaKey || e.shiftKey)) e.preventDefault();
      const on = m => m.on(e, b, host, ctx);
      clicker ? on(clicker) : clicks().then(on, () => {});
    };
    for (const type of ['click', 'pointerdown', 'focusin']) bar.addEventListener(type, onEvent);
    // Narrow screens, float bars, owner's choice "collapse": a button that folds the bar away
    // (sharebar-fold.js, which only such bars fetch).
    if (st.layout === 'float' && st.small === 'collapse') load('fold').then(fold => fold(bar, L), () => {});
    host.replaceChildren(bar);
    bars.set(host, { bar, st, look: look(st) });
    if (st.counts) load('counts').then(m => m.show(host), () => {});
  }

  // Draws the bars not drawn yet: at start, and whenever the page adds elements. Pages with
  // like-and-share buttons or a recent-activity list get the code for them (sharebar-actions.js).
  function scan() {
    for (const host of document.querySelectorAll('[data-sharebar]')) {
      if (!bars.has(host)) render(host);
    }
    if (document.querySelector('[data-sharebar-action],[data-sharebar-activity]')) actions('scan');
  }

  /* The config: the only request before a click (with counts' code for bars with counts). */

  // The JSON answer of /v1/<what> for this site (query: the rest of the query string), or
  // null; a refusal (its problem document) goes to problem.
  function get(what, query, problem = () => {}) {
    return fetch(`${BASE}v1/${what}?site=${enc(SITE)}${query}`, { credentials: 'omit' })
      .then(r => r.ok ? r.json() : r.json().then(problem, () => {}).then(() => null))
      .catch(() => null);
  }

  // The config (asked for at the start) names the site's services in the language the site
  // chose, else the page's.
  function loadConfig() {
    const url = configUrl;
    Promise.resolve(configJson).then(json => {
      if (json && json.refused) named = refused(json.refused);
      if (json && json.site) {
        site = { ...json.site, floatMobile: json.float_mobile, activity: json.activity };
        for (const id in json.services || {}) SERVICES[id] = { ...json.services[id], l: json.lang };
        for (const k in json.t) (T[k] = T[k] || [])[json.lang] = json.t[k];
        // It carries this page's counts when the site shows counts, or a bar asked for them.
        if (json.counts) countsOf[url] = Promise.resolve(json.counts);
      } else if (SITE) {
        Promise.resolve(named).then(n => n || warn('config'));
      }
      configured = true;
      configDone(site);
      reconcile();
      if (site && site.address_bar) clicks();
    });
  }

  // Once the config is known: draws the waiting bars, redraws those it changes.
  function reconcile() {
    for (const [host, d] of bars) {
      if (!host.isConnected) bars.delete(host);
      else if (!d.bar || d.look !== look(settings(host))) render(host);
    }
  }

  /* Code most pages never need before a click, loaded from the script's server like
     everything else (a CSP script-src allows it): what a click does and the beacons
     (sharebar-share.js: when a reader reaches for a bar, a shared link brought them, or the
     site tags addresses, the rest of the API, a refusal), the dialogs (sharebar-dialogs.js),
     the whole registry (sharebar-services.js), counts (sharebar-counts.js), the fold button
     of floating bars (sharebar-fold.js), like-and-share and recent activity
     (sharebar-actions.js). */

  const modules = {};  // name -> promise of its functions

  // extra: more for the module to have (the share module gives the dialogs its popups).
  function load(name, extra) {
    return modules[name] = modules[name] || new Promise((ok, failed) => {
      // The file hands over its functions by calling this with a maker of them.
      api['_' + name] = make => ok(make({
        h, t, label, shareUrl, opts, langIndex, lang, nameOf, render, bars, countsOf, get, config, load,
        loadEverything, sheet,
        send: event => api.track(event),
        pageUrl, filterQuery, SERVICES, DEFAULTS, BASE, SITE, LANGS, T, PARAM: CONFIG.param, site: () => site,
        ...extra,
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

  // The share module (sharebar-share.js), started early by pointerdown and focus.
  function clicks() {
    return load('share').then(m => clicker = m);
  }

  // Calls the actions module's fn; quietly nothing should it fail to load.
  function actions(fn, ...args) {
    load('actions').then(m => m[fn](...args), () => {});
  }

  /* The JavaScript API: Sharebar('method', ...args) or Sharebar.method(...args). All but
     render are the share module's, loaded at their first use. */

  function api(method, ...args) {
    if (typeof api[method] !== 'function') throw new TypeError(`Sharebar: no method "${method}"`);
    return api[method](...args);
  }
  api.render = host => host ? (bars.delete(host), render(host)) : scan();
  for (const m of ['shareUrl', 'share', 'track', 'action']) {
    // shareUrl and share: a promise (of the URL); track and action: nothing. Never a
    // rejection into the page: should the module not load, the call does nothing.
    api[m] = (...args) => {
      const p = clicks().then(x => x.api[m](...args), () => {});
      if (m[0] === 's') return p;
    };
  }

  const queue = window.Sharebar && window.Sharebar.q || [];
  window.Sharebar = api;
  // A shared link followed: its code is taken out of the address and reported.
  if (new URLSearchParams(location.search).has(CONFIG.param)) clicks().catch(() => {});
  scan();
  loadConfig();  // also with no bar on the page: it says whether to tag the address
  new MutationObserver(records => {
    // A data-sharebar attribute set, or elements added by the page (not the bars' own nodes,
    // dialogs, share prompts nor activity lists, which hold no new bars).
    if (records.some(r => r.type === 'attributes' ||
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
