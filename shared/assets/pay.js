// The payment step of an order page: Stripe's card field (Stripe.js, loaded from the
// configured origin) and confirmCardPayment with the order's client secret. Everything it
// needs is on the form's data attributes: the page has no inline script (its CSP allows
// scripts only from the shop and Stripe.js's origin). A declined card shows Stripe's
// message and leaves the form ready for another card on the same order; a card that needs
// authentication gets Stripe's challenge. On success the form gives way to a message and
// the page's status part (which refreshes itself) shows the order paid.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) return;
  var errors = document.getElementById("card-errors");
  var button = form.querySelector("button[type=submit]");
  if (typeof window.Stripe !== "function") {
    errors.textContent = "The card form could not be loaded. Check your connection and reload the page.";
    return;
  }
  var stripe = window.Stripe(form.dataset.key);
  var card = stripe.elements().create("card", { style: { base: { fontSize: "16px" } } });
  card.mount("#card-element");
  card.on("change", function (event) {
    errors.textContent = event.error ? event.error.message : "";
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    button.textContent = "Paying…";
    errors.textContent = "";
    stripe
      .confirmCardPayment(form.dataset.secret, {
        payment_method: { card: card, billing_details: { name: form.dataset.name } },
      })
      .then(function (result) {
        if (result.error) {
          errors.textContent = result.error.message || "The payment did not go through.";
          button.disabled = false;
          button.textContent = button.dataset.label;
          return;
        }
        card.unmount && card.unmount();
        Array.prototype.forEach.call(form.querySelectorAll(".field, button"), function (el) {
          el.hidden = true;
        });
        document.getElementById("pay-done").hidden = false;
      })
      .catch(function () {
        errors.textContent = "The payment could not be sent. Check your connection and try again.";
        button.disabled = false;
        button.textContent = button.dataset.label;
      });
  });
})();
