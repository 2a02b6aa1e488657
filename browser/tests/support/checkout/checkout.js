// The payment step exactly as a page written for the real Stripe.js does it.
const form = document.getElementById('payment-form');
const pay = document.getElementById('pay');
const errors = document.getElementById('card-errors');
const result = document.getElementById('result');

const stripe = Stripe(form.dataset.publishableKey);
const elements = stripe.elements();
const card = elements.create('card', {
  style: {
    base: {color: '#1f2328', fontSize: '16px'},
    invalid: {color: '#b3261e'},
  },
});
card.mount('#card-element');
card.on('change', (event) => {
  errors.textContent = event.error ? event.error.message : '';
  window.cardState = {complete: event.complete, empty: event.empty, brand: event.brand, error: event.error && event.error.code};
});

let busy = false;
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (busy) return;
  // Not `disabled`: a disabled button loses the keyboard focus.
  busy = true;
  pay.setAttribute('aria-disabled', 'true');
  result.textContent = 'Processing…';
  const {paymentIntent, error} = await stripe.confirmCardPayment(form.dataset.clientSecret, {
    payment_method: {card, billing_details: {name: form.elements.name.value}},
  });
  busy = false;
  pay.removeAttribute('aria-disabled');
  if (error) {
    window.lastResult = {error: {type: error.type, code: error.code, decline_code: error.decline_code, message: error.message, intent_status: error.payment_intent && error.payment_intent.status}};
    result.textContent = '';
    errors.textContent = error.message;
    if (error.type === 'card_error' || error.type === 'validation_error' || error.code === 'payment_intent_authentication_failure') {
      card.focus();
    }
  } else {
    window.lastResult = {paymentIntent: {id: paymentIntent.id, status: paymentIntent.status}};
    errors.textContent = '';
    result.textContent = `Payment ${paymentIntent.status}.`;
  }
});
