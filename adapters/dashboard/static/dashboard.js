// webhookd dashboard: progressive enhancement only. Every page is
// server-rendered and every form is a plain POST, so all of it works
// without this file. It adds two things:
//   - button[data-copy="<id>"] copies the text of element <id> (the new
//     endpoint secret) with the asynchronous clipboard API;
//   - on the overview, #live[data-refresh="<seconds>"] is re-read from
//     the server every few seconds while the tab is visible (a fetch of
//     the same page, its #live swapped in; forms are outside it).
(function () {
  'use strict';

  document.addEventListener('click', function (ev) {
    var btn = ev.target instanceof Element ? ev.target.closest('button[data-copy]') : null;
    if (!btn) {
      return;
    }
    var el = document.getElementById(btn.getAttribute('data-copy'));
    if (!el || !navigator.clipboard) {
      btn.textContent = 'Select the text to copy it';
      return;
    }
    navigator.clipboard.writeText(el.textContent.trim()).then(function () {
      btn.textContent = 'Copied';
    }, function () {
      btn.textContent = 'Copy failed: select the text';
    });
  });

  var live = document.getElementById('live');
  var seconds = live ? parseInt(live.getAttribute('data-refresh'), 10) : 0;
  if (!live || !(seconds >= 5) || !window.fetch || !window.DOMParser) {
    return;
  }
  var busy = false;
  var timer = setInterval(function () {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: 'same-origin', cache: 'no-store', redirect: 'manual' })
      .then(function (res) {
        if (!res.ok) {
          throw new Error('status ' + res.status);
        }
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('live');
        var current = document.getElementById('live');
        if (!fresh || !current) {
          throw new Error('no #live in the answer');
        }
        current.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () {
        clearInterval(timer); // logged out, or the server is gone: stop; a reload shows why
      })
      .finally(function () {
        busy = false;
      });
  }, seconds * 1000);
})();
