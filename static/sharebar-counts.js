/* Sharebar counts: a bar's total and each control's number, abbreviated by language.
 *
 * sharebar.js loads this file for bars with counts on, and passes in what it shares with it;
 * the file hands back its function through Sharebar._counts. The numbers come with
 * /v1/config (which the script asks for them when a bar in the page wants them at start, or
 * when the site shows counts), else from /v1/counts. Its pure function (fmt) is exported to
 * Node (tests/js/) before anything touches a browser API.
 */
(() => {
  'use strict';

  // en 999, 1.2k, 3.4M; zh-CN 9999, 1.2万, 3.4亿; zh-TW the same in traditional 萬, 億.
  function fmt(n, L) {
    let s = String(n);
    for (const [v, unit] of [[[1e4, '万'], [1e8, '亿']], [[1e4, '萬'], [1e8, '億']], [[1e3, 'k'], [1e6, 'M']]][L]) {
      // .99995 so that 999,950 makes 1M, not 1000k
      if (n >= v * .99995) s = Math.round(n / v * 10) / 10 + unit;
    }
    return s;
  }

  if (typeof module === 'object' && module.exports) {
    module.exports = { fmt };
    return;
  }

  const sharebar = window.Sharebar;
  if (!sharebar || !sharebar._counts) return;

  sharebar._counts(({ h, t, opts, get, bars, countsOf }) => {
    // The counts of a drawn bar (host), added to it: counts need no redraw. (Without a site
    // key, the server refuses to say: nothing is added.)
    function show(host) {
      const d = bars.get(host), L = d.st.L, url = opts(host.dataset).url;
      countsOf[url] = countsOf[url] || get('counts', '&url=' + encodeURIComponent(url));
      countsOf[url].then(c => {
        if (!c || bars.get(host) !== d) return;  // failed, or the bar was redrawn since
        d.bar.prepend(h('div', { class: 'sb-total' }, h('b', {}, fmt(c.total, L)), h('span', {}, t('shares', L))));
        for (const b of d.bar.querySelectorAll('[data-service]')) {
          let n = c.services[b.dataset.service];
          // Said after the name too (a control is named by its aria-label, not by its text):
          // "Share on Weibo (opens in a new window) 12".
          if (n) b.append(h('span', { class: 'sb-n' }, n = fmt(n, L))), b.ariaLabel += ' ' + n;
        }
      });
    }

    return { show };
  });
})();
