// A webhook endpoint on 127.0.0.1 that checks Stripe's signature (`Stripe-Signature:
// t=…,v1=…`, HMAC-SHA256 of "t.body" with the endpoint's secret) and keeps the events.
import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto';
import {createServer} from 'node:http';

function verified(header, body, secret) {
  const parts = Object.fromEntries(String(header || '').split(',').map((p) => p.split('=', 2)));
  if (!parts.t || !parts.v1) return false;
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startWebhookReceiver() {
  const secret = `whsec_browser_${randomBytes(16).toString('hex')}`;
  const events = [];
  const forged = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (!verified(req.headers['stripe-signature'], body, secret)) {
        forged.push(body);
        res.writeHead(400).end();
        return;
      }
      events.push(JSON.parse(body));
      res.writeHead(200).end();
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/webhooks/stripe`,
    secret,
    forged,
    /** The events about one intent, in the order they arrived. */
    about: (intentId) => events.filter((e) => e.data && e.data.object && e.data.object.id === intentId),
    close: () => new Promise((ok) => server.close(ok)),
  };
}
