/* Dashboard enhancements; every page works without them. Loaded from /dashboard/static
   under a strict CSP: no inline code, no eval, text set with textContent. */
(function () {
  'use strict';

  // Copy the snippet, saying so in the live region beside the button.
  function copyButtons() {
    for (const button of document.querySelectorAll('button[data-copy]')) {
      const source = document.getElementById(button.dataset.copy);
      const status = button.nextElementSibling;
      button.hidden = false;
      button.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(source.value);
          status.textContent = status.dataset.copied;
        } catch {  // no clipboard (permissions, an old browser): select the text for the reader to copy
          source.select();
          status.textContent = status.dataset.copyFailed;
        }
      });
    }
  }

  // Move a service up or down in place, keeping focus on the pressed button.
  function reorder() {
    const list = document.getElementById('service-list');
    if (!list) return;
    list.addEventListener('click', e => {
      const button = e.target.closest('button.move');
      if (!button) return;
      e.preventDefault();
      const item = button.closest('li'), up = button.value.endsWith(':up');
      const other = up ? item.previousElementSibling : item.nextElementSibling;
      if (!other) return;
      list.insertBefore(item, up ? other : other.nextElementSibling);
      refreshMoves(list);
      (button.disabled ? item.querySelector('button.move:not(:disabled)') : button).focus();
      const status = document.getElementById('status');
      if (status) status.textContent = status.dataset.moved || '';
      preview();
    });
  }

  function refreshMoves(list) {
    const items = [...list.children];
    items.forEach((li, i) => {
      const [up, down] = li.querySelectorAll('button.move');
      up.disabled = i === 0;
      down.disabled = i === items.length - 1;
    });
  }

  // The preview bar again with the form's unsaved values as its data- attributes.
  function preview() {
    const form = document.getElementById('site-form'), old = document.getElementById('preview');
    if (!form || !old) return;
    const value = name => (form.elements[name] || {}).value || '';
    const bar = document.createElement('div');
    for (const attr of old.attributes) if (attr.name.startsWith('data-')) bar.setAttribute(attr.name, attr.value);
    bar.id = 'preview';
    const services = [...form.querySelectorAll('input[name=services]:checked')].map(i => i.value);
    bar.dataset.services = services.join(',');
    bar.dataset.theme = value('theme');
    bar.dataset.size = value('size');
    bar.dataset.counts = form.elements.counts.checked ? 'true' : 'false';
    bar.dataset.via = value('via').replace(/^@/, '');
    bar.dataset.hashtags = value('hashtags');
    if (value('lang')) bar.dataset.lang = value('lang'); else delete bar.dataset.lang;
    bar.setAttribute('data-sharebar', '');
    old.replaceWith(bar);
  }

  function livePreview() {
    const form = document.getElementById('site-form');
    if (!form) return;
    form.addEventListener('change', preview);
    form.addEventListener('input', e => { if (/^(via|hashtags)$/.test(e.target.name)) preview(); });
  }

  copyButtons();
  reorder();
  livePreview();
})();
