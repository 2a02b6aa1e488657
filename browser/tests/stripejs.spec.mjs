// localstripe's Stripe.js as served by the project's launcher (local/py/stripe_js_v3.js),
// driven through a checkout page that uses the real Stripe.js API, by keyboard, with a
// Content-Security-Policy that allows no inline script and no eval.
import {randomBytes} from 'node:crypto';
import {mkdirSync} from 'node:fs';

import AxeBuilder from '@axe-core/playwright';
import {test as base, expect} from '@playwright/test';

import {createIntent, getIntent, registerWebhook} from './support/localstripe.mjs';
import {startShop} from './support/shop.mjs';
import {readStack} from './support/stack.mjs';
import {startWebhookReceiver} from './support/webhooks.mjs';

const SCREENSHOTS = new URL('../screenshots/', import.meta.url);
const EVENTS = ['payment_intent.succeeded', 'payment_intent.payment_failed'];

const CARDS = {
  visa: '4242 4242 4242 4242',
  declined: '4000 0000 0000 0002',
  threeDSecure: '4000 0027 6000 3184',
};

const test = base.extend({
  stack: [async ({}, use) => use(readStack()), {scope: 'worker'}],

  shop: [
    async ({stack}, use) => {
      const shop = await startShop(stack);
      await use(shop);
      await shop.close();
    },
    {scope: 'worker'},
  ],

  // One endpoint per worker (localstripe sends every event to every endpoint).
  webhooks: [
    async ({stack}, use, workerInfo) => {
      const receiver = await startWebhookReceiver();
      const id = `browser-tests-${workerInfo.workerIndex}`;
      await registerWebhook(stack, id, {url: receiver.url, secret: receiver.secret, events: EVENTS});
      await use(receiver);
      // localstripe cannot forget an endpoint: leave this one listening to no event.
      await registerWebhook(stack, id, {url: receiver.url, secret: receiver.secret, events: ['none']});
      await receiver.close();
      expect(receiver.forged, 'webhooks whose signature did not verify').toEqual([]);
    },
    {scope: 'worker'},
  ],

  // A fresh PaymentIntent of €12.34 and the checkout page for it, open in `page`. Fails the
  // test if the page broke its Content-Security-Policy or threw.
  checkout: async ({page, stack, shop, webhooks}, use) => {
    const orderId = `ord_browser_${randomBytes(8).toString('hex')}`;
    const intent = await createIntent(stack, {amount: 1234, currency: 'eur', orderId});
    expect(intent.status).toBe('requires_payment_method');
    const problems = [];
    page.on('console', (m) => {
      if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    await page.goto(shop.checkoutUrl(intent, '€12.34'));
    await expect(page.getByRole('group', {name: 'Card details'})).toBeVisible();
    await use({
      intent,
      events: () => webhooks.about(intent.id),
      retrieve: () => getIntent(stack, intent.id),
    });
    expect(problems, 'CSP violations and page errors').toEqual([]);
  },
});

/** Types the card, field by field, moving with Tab, from the card number field to Pay. */
async function typeCard(page, {number, expiry = '12 / 34', cvc = '123', postal = '69001'}) {
  for (const [label, value] of [['Card number', number], ['Expiry', expiry], ['CVC', cvc], ['Postal code', postal]]) {
    await expect(page.getByLabel(label)).toBeFocused();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type(value);
    await page.keyboard.press('Tab');
  }
  await expect(page.getByRole('button', {name: /^Pay/})).toBeFocused();
}

/** From a fresh page: Tab to the name, type it, Tab into the card element, type the card,
 * Tab to Pay and press Enter. */
async function payWith(page, card) {
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Name on card')).toBeFocused();
  await page.keyboard.type('Ada Lovelace');
  await page.keyboard.press('Tab');
  await typeCard(page, card);
  await page.keyboard.press('Enter');
}

const result = (page) => page.getByRole('status');
const cardError = (page) => page.getByRole('alert');
const challenge = (page) => page.getByRole('dialog', {name: 'Authenticate your payment'});
const lastResult = (page) => page.evaluate(() => window.lastResult);

async function eventsOf(checkout) {
  const events = checkout.events();
  return events.map((e) => `${e.type}${e.data.object.last_payment_error ? ` (${e.data.object.last_payment_error.code})` : ''}`);
}

test('the page CSP refuses inline scripts, so a clean run means Stripe.js needs none', async ({page, shop}) => {
  const refused = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
  });
  await page.goto(`${shop.origin}/csp-probe`);
  expect(await page.evaluate(() => window.inlineRan)).toBeUndefined();
  await expect.poll(() => refused.length).toBeGreaterThan(0);
});

test('4242 4242 4242 4242 pays the intent', async ({page, checkout}) => {
  await payWith(page, {number: CARDS.visa});
  await expect(result(page)).toHaveText('Payment succeeded.');
  await expect(cardError(page)).toHaveText('');
  expect(await lastResult(page)).toEqual({paymentIntent: {id: checkout.intent.id, status: 'succeeded'}});

  const intent = await checkout.retrieve();
  expect(intent.status).toBe('succeeded');
  expect(intent.amount_received).toBe(1234);
  expect(intent.last_payment_error).toBeNull();
  await expect.poll(() => eventsOf(checkout)).toEqual(['payment_intent.succeeded']);
});

test('4000 0000 0000 0002 is declined, then 4242 pays the same intent', async ({page, checkout}) => {
  await payWith(page, {number: CARDS.declined});
  await expect(cardError(page)).toHaveText('Your card was declined.');
  expect(await lastResult(page)).toEqual({
    error: {
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'generic_decline',
      message: 'Your card was declined.',
      intent_status: 'requires_payment_method',
    },
  });
  const declined = await checkout.retrieve();
  expect(declined.status).toBe('requires_payment_method');
  expect(declined.last_payment_error).toMatchObject({type: 'card_error', code: 'card_declined'});
  await expect.poll(() => eventsOf(checkout)).toEqual(['payment_intent.payment_failed (card_declined)']);

  // The page puts the focus back on the card number; the other fields keep their values.
  await typeCard(page, {number: CARDS.visa});
  await page.keyboard.press('Enter');
  await expect(result(page)).toHaveText('Payment succeeded.');
  await expect(cardError(page)).toHaveText('');
  expect((await checkout.retrieve()).status).toBe('succeeded');
  await expect
    .poll(() => eventsOf(checkout))
    .toEqual(['payment_intent.payment_failed (card_declined)', 'payment_intent.succeeded']);
});

test('4000 0027 6000 3184 asks for 3-D Secure; completing it pays', async ({page, checkout}) => {
  await payWith(page, {number: CARDS.threeDSecure});
  const dialog = challenge(page);
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('€12.34');
  await expect(dialog.getByRole('button', {name: 'Complete authentication'})).toBeFocused();
  expect((await checkout.retrieve()).status).toBe('requires_action');
  await page.keyboard.press('Enter');

  await expect(dialog).toBeHidden();
  await expect(result(page)).toHaveText('Payment succeeded.');
  expect((await checkout.retrieve()).status).toBe('succeeded');
  await expect.poll(() => eventsOf(checkout)).toEqual(['payment_intent.succeeded']);
  // The focus went back where it was before the dialog.
  await expect(page.getByRole('button', {name: /^Pay/})).toBeFocused();
});

test('failing 3-D Secure gives the authentication error, and the intent stays payable', async ({page, checkout}) => {
  await payWith(page, {number: CARDS.threeDSecure});
  const dialog = challenge(page);
  await expect(dialog.getByRole('button', {name: 'Complete authentication'})).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(dialog.getByRole('button', {name: 'Fail authentication'})).toBeFocused();
  await page.keyboard.press('Enter');

  await expect(dialog).toBeHidden();
  await expect(cardError(page)).toHaveText(
    'We are unable to authenticate your payment method. Please choose a different payment method and try again.',
  );
  expect(await lastResult(page)).toMatchObject({
    error: {type: 'invalid_request_error', code: 'payment_intent_authentication_failure', intent_status: 'requires_payment_method'},
  });
  const failed = await checkout.retrieve();
  expect(failed.status).toBe('requires_payment_method');
  expect(failed.last_payment_error.code).toBe('payment_intent_authentication_failure');
  await expect
    .poll(() => eventsOf(checkout))
    .toEqual(['payment_intent.payment_failed (payment_intent_authentication_failure)']);

  await typeCard(page, {number: CARDS.visa});
  await page.keyboard.press('Enter');
  await expect(result(page)).toHaveText('Payment succeeded.');
  expect((await checkout.retrieve()).status).toBe('succeeded');
});

test('Escape closes the 3-D Secure challenge as a failed authentication', async ({page, checkout}) => {
  await payWith(page, {number: CARDS.threeDSecure});
  await expect(challenge(page)).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(challenge(page)).toBeHidden();
  await expect(cardError(page)).toContainText('unable to authenticate');
  expect((await checkout.retrieve()).status).toBe('requires_payment_method');
});

test('the card element validates as Stripe.js does, before anything is sent', async ({page, checkout}) => {
  const confirms = [];
  page.on('request', (r) => {
    if (r.url().includes('/confirm')) confirms.push(r.url());
  });
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const number = page.getByLabel('Card number');
  await expect(number).toBeFocused();

  // A number that fails the Luhn check is flagged as soon as it is whole.
  await page.keyboard.type('4242424242424241');
  await expect(cardError(page)).toHaveText('Your card number is invalid.');
  await expect(number).toHaveAttribute('aria-invalid', 'true');
  await expect(number).toHaveValue('4242 4242 4242 4241');
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('4242424242424242');
  await expect(cardError(page)).toHaveText('');
  await expect(number).not.toHaveAttribute('aria-invalid');

  // An unfinished expiry is reported when the customer leaves the field, not before.
  await page.keyboard.press('Tab');
  await page.keyboard.type('1');
  await expect(cardError(page)).toHaveText('');
  await page.keyboard.press('Tab');
  await expect(cardError(page)).toHaveText("Your card's expiration date is incomplete.");
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('End');
  await page.keyboard.type('234');
  await expect(page.getByLabel('Expiry')).toHaveValue('12 / 34');
  await expect(cardError(page)).toHaveText('');

  // Pay without a CVC: Stripe.js's validation error, and no request.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', {name: /^Pay/})).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(cardError(page)).toHaveText("Your card's security code is incomplete.");
  expect(await lastResult(page)).toMatchObject({error: {type: 'validation_error', code: 'incomplete_cvc'}});
  expect(await page.evaluate(() => window.cardState)).toEqual({complete: false, empty: false, brand: 'visa', error: 'incomplete_cvc'});
  await expect(number).toBeFocused();
  expect(confirms).toEqual([]);
  expect((await checkout.retrieve()).status).toBe('requires_payment_method');
});

test('the checkout page and the 3-D Secure challenge pass axe (screenshots in browser/screenshots)', async ({page, checkout}) => {
  mkdirSync(SCREENSHOTS, {recursive: true});
  await page.keyboard.press('Tab');
  await page.keyboard.type('Ada Lovelace');
  await page.keyboard.press('Tab');
  await typeCard(page, {number: CARDS.threeDSecure});
  expect((await new AxeBuilder({page}).analyze()).violations).toEqual([]);
  await page.screenshot({path: new URL('checkout-card.png', SCREENSHOTS).pathname, fullPage: true});

  await page.keyboard.press('Enter');
  await expect(challenge(page)).toBeVisible();
  expect((await new AxeBuilder({page}).analyze()).violations).toEqual([]);
  await page.screenshot({path: new URL('checkout-3ds.png', SCREENSHOTS).pathname, fullPage: true});

  await page.keyboard.press('Enter');
  await expect(result(page)).toHaveText('Payment succeeded.');
  expect((await checkout.retrieve()).status).toBe('succeeded');
});
