// Server-side calls to localstripe, as the project's Rust code makes them
// (shared/src/payments/stripe.rs): form-encoded, the secret key as a bearer token.

function form(params) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const value of [].concat(v)) body.append(k, value);
  }
  return body;
}

async function call(stack, method, path, params, headers = {}) {
  const response = await fetch(new URL(path, stack.stripe.apiBase), {
    method,
    headers: {Authorization: `Bearer ${stack.stripe.secretKey}`, ...headers},
    body: params ? form(params) : undefined,
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(`${method} ${path}: localstripe answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/** A PaymentIntent with the parameters `StripePayments::create` sends: amount, currency,
 * metadata[order_id], and the Idempotency-Key `order-<id>-create`. */
export function createIntent(stack, {amount, currency = 'eur', orderId}) {
  return call(
    stack,
    'POST',
    'v1/payment_intents',
    {amount: String(amount), currency, 'metadata[order_id]': orderId},
    {'Idempotency-Key': `order-${orderId}-create`},
  );
}

export function getIntent(stack, id) {
  return call(stack, 'GET', `v1/payment_intents/${id}`);
}

/** localstripe's webhook registration (in memory; registering an id again replaces it). */
export async function registerWebhook(stack, id, {url, secret, events}) {
  const response = await fetch(new URL(`_config/webhooks/${encodeURIComponent(id)}`, stack.stripe.apiBase), {
    method: 'POST',
    body: form({url, secret, 'events[]': events}),
  });
  if (!response.ok) throw new Error(`registering the webhook ${id}: localstripe answered ${response.status}`);
}
