/* Sharebar's whole service registry and the bar's own words, every name in all three
 * languages, and the default bar ({services, t, defaults}): loaded by sharebar.js only for a
 * bar that names services, or speaks a language, that the site's config did not bring (or
 * when the config failed to load). The server injects them (assets.services_config()) in place of the marker below;
 * the file adds them to the script's through Sharebar._services.
 */
(() => {
  'use strict';

  const sharebar = window.Sharebar;
  const BUILT = /*@services@*/null;  // null only when served as written, unbuilt
  const all = BUILT || {};
  // Added to what the config brought, into the bar's words' own arrays: modules hold copies
  // of T, not of its arrays.
  if (sharebar && sharebar._services) {
    sharebar._services(({ SERVICES, T, DEFAULTS }) => {
      Object.assign(SERVICES, all.services);
      DEFAULTS.push(...all.defaults || []);
      for (const k in all.t) T[k] = Object.assign(T[k] || [], all.t[k]);
    });
  }
})();
