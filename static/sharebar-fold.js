/* Sharebar's fold button: on narrow screens a floating bar is a bottom strip, and where the
 * site chose "collapse" (float_mobile) a button folds it away to a corner tab, so that the
 * page's content stays reachable (sharebar-float.css shows the button below 600 px only).
 *
 * sharebar.js loads this file only for such bars, and passes in what it shares with it; the
 * file hands back its function through Sharebar._fold.
 */
(() => {
  'use strict';

  const sharebar = window.Sharebar;
  if (!sharebar || !sharebar._fold) return;

  sharebar._fold(({ h, t }) => (bar, L) => {
    // Named by aria-label, as the bar's controls are.
    const fold = h('button', {
      type: 'button', class: 'sb-fold', 'aria-expanded': 'true', title: t('share', L), 'aria-label': t('share', L),
    });
    fold.onclick = () => fold.setAttribute('aria-expanded', !bar.classList.toggle('sb-folded'));
    bar.prepend(fold);
  });
})();
