/* Sharebar's whole service registry, every name in all three languages: loaded by sharebar.js
 * only for a bar that names services, or speaks a language, that the site's config did not
 * bring (or when the config failed to load). The server injects the registry
 * (platforms.registry()) in place of the marker below; the file hands it over through
 * Sharebar._services.
 */
(() => {
  'use strict';

  const sharebar = window.Sharebar;
  const BUILT = /*@services@*/null;  // null only when served as written, unbuilt
  if (sharebar && sharebar._services) sharebar._services(() => BUILT || {});
})();
