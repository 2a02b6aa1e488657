// A minimal checkout page of our own on 127.0.0.1, served with the Content-Security-Policy
// the shop will have: scripts only from the page's origin and the Stripe.js origin (here
// localstripe), no 'unsafe-inline', no 'unsafe-eval'. The page uses the real Stripe.js API
// (checkout/checkout.js), loading `{localstripe}/js.stripe.com/v3/`.
import {readFileSync} from 'node:fs';
import {createServer} from 'node:http';

const FILES = {
  '/checkout.js': ['checkout.js', 'text/javascript; charset=utf-8'],
  '/checkout.css': ['checkout.css', 'text/css; charset=utf-8'],
};

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function read(name) {
  return readFileSync(new URL(`checkout/${name}`, import.meta.url), 'utf8');
}

export async function startShop(stack) {
  const stripeOrigin = new URL(stack.stripe.apiBase).origin;
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${stripeOrigin}`,
    `connect-src 'self' ${stripeOrigin}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
  const page = read('checkout.html');

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const headers = {'Content-Security-Policy': csp, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff'};
    if (url.pathname === '/checkout') {
      const html = page
        .replaceAll('{{stripe_js}}', escape(`${stack.stripe.apiBase}js.stripe.com/v3/`))
        .replaceAll('{{publishable_key}}', escape(stack.stripe.publishableKey))
        .replaceAll('{{client_secret}}', escape(url.searchParams.get('client_secret') || ''))
        .replaceAll('{{total}}', escape(url.searchParams.get('total') || ''));
      res.writeHead(200, {...headers, 'Content-Type': 'text/html; charset=utf-8'}).end(html);
    } else if (url.pathname === '/csp-probe') {
      // An inline script, which the policy must refuse: proves the policy is in force.
      const html = '<!doctype html><html lang="en"><title>CSP probe</title><script>window.inlineRan = true;</script></html>';
      res.writeHead(200, {...headers, 'Content-Type': 'text/html; charset=utf-8'}).end(html);
    } else if (FILES[url.pathname]) {
      const [name, type] = FILES[url.pathname];
      res.writeHead(200, {...headers, 'Content-Type': type}).end(read(name));
    } else {
      res.writeHead(404, headers).end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    checkoutUrl: (intent, total) =>
      `${origin}/checkout?${new URLSearchParams({client_secret: intent.client_secret, total})}`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}
