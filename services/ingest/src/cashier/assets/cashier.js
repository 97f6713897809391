// The hosted cashier's only script (served from the same origin; the page's
// Content-Security-Policy allows no other). It does four small things:
// 1. submits the provider's form (#auto-submit) as soon as the page loads;
// 2. on a card form (#card), posts the card straight to the provider's API, as Stripe.js does:
//    POST {data-api-base}/v1/payment_intents/{id}/confirm with the publishable key and the
//    client secret (the page's connect-src allows exactly that origin). The card never goes to
//    paygate. succeeded / processing / requires_capture: the page goes on following the
//    payment; requires_action: to the provider's 3-D Secure page; an error: the provider's
//    message in #card-error (role=alert), and the form can be used again;
// 3. follows the payment: polls data-status-url every second and reloads the page when the
//    server says the view changed (an action arrived, the payment became final);
// 4. on a final page, goes to the merchant's return URL (data-return-url) after four seconds.
// Without JavaScript the page still works: the form has its button, the return its link, and
// a Refresh link replaces the polling; the card form stays disabled and says why.
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
  var card = document.getElementById("card");
  if (card) { wireCard(card); }
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

  function wireCard(cardForm) {
    var secret = cardForm.getAttribute("data-client-secret");
    var key = cardForm.getAttribute("data-publishable-key");
    var base = cardForm.getAttribute("data-api-base").replace(/\/+$/, "");
    var id = secret.split("_secret_")[0];
    var error = document.getElementById("card-error");
    var status = document.getElementById("card-status");
    var controls = cardForm.querySelectorAll("input, button");
    function usable(on) {
      for (var i = 0; i < controls.length; i++) { controls[i].disabled = !on; }
    }
    function value(inputId) { return document.getElementById(inputId).value.replace(/[\s-]/g, ""); }
    function failed(message) {
      status.textContent = "";
      error.textContent = message;
      usable(true);
      document.getElementById("card-number").focus();
    }
    usable(true);
    cardForm.addEventListener("submit", function (event) {
      event.preventDefault();
      error.textContent = "";
      status.textContent = cardForm.getAttribute("data-confirming");
      usable(false);
      var body = new URLSearchParams();
      body.append("key", key);
      body.append("client_secret", secret);
      body.append("payment_method_data[type]", "card");
      body.append("payment_method_data[card][number]", value("card-number"));
      body.append("payment_method_data[card][exp_month]", value("card-exp-month"));
      body.append("payment_method_data[card][exp_year]", value("card-exp-year"));
      body.append("payment_method_data[card][cvc]", value("card-cvc"));
      body.append("return_url", window.location.href.split("#")[0]);
      fetch(base + "/v1/payment_intents/" + encodeURIComponent(id) + "/confirm", {
        method: "POST", body: body, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer"
      })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (a) {
          var pi = a.ok ? a.body : null;
          var state = pi && pi.status;
          if (state === "succeeded" || state === "processing" || state === "requires_capture") {
            cardForm.setAttribute("data-state", state);
            status.textContent = cardForm.getAttribute("data-confirmed");
            return;
          }
          var next = pi && pi.next_action && pi.next_action.redirect_to_url;
          if (state === "requires_action" && next && next.url) {
            window.location.assign(next.url);
            return;
          }
          var problem = (a.body && a.body.error) || (pi && pi.last_payment_error) || {};
          failed(problem.message || cardForm.getAttribute("data-network-error"));
        })
        .catch(function () { failed(cardForm.getAttribute("data-network-error")); });
    });
  }
})();
