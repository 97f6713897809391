// The hosted cashier's only script (served from the same origin; the page's
// Content-Security-Policy allows no other). It does three small things:
// 1. submits the provider's form (#auto-submit) as soon as the page loads;
// 2. follows the payment: polls data-status-url every second and reloads the page when the
//    server says the view changed (an action arrived, the payment became final);
// 3. on a final page, goes to the merchant's return URL (data-return-url) after four seconds.
// Without JavaScript the page still works: the form has its button, the return its link, and
// a Refresh link replaces the polling.
"use strict";
(function () {
  var root = document.getElementById("cashier");
  if (!root) { return; }
  var form = document.getElementById("auto-submit");
  if (form) { form.submit(); return; }
  var returnUrl = root.getAttribute("data-return-url");
  if (returnUrl) {
    window.setTimeout(function () { window.location.assign(returnUrl); }, 4000);
    return;
  }
  var statusUrl = root.getAttribute("data-status-url");
  var view = root.getAttribute("data-view");
  if (!statusUrl) { return; }
  function poll() {
    fetch(statusUrl, { headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && s.view && s.view !== view) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 1000);
})();
