// What the page tests share: where the local stack runs (the JSON file named by STACK_FILE,
// default ../.local/stack.json, what `cargo xtask dev` writes), axe and screenshot checks,
// typing a card into Stripe's card element, signing in, and reading moto's mailbox.
import AxeBuilder from '@axe-core/playwright';
import {expect} from '@playwright/test';
import {mkdirSync, readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

export const STACK = JSON.parse(readFileSync(process.env.STACK_FILE || fileURLToPath(new URL('../../../.local/stack.json', import.meta.url)), 'utf8'));
export const SHOP = STACK.api_url.replace(/\/$/, '');
const SHOTS = fileURLToPath(new URL('../../screenshots/', import.meta.url));
mkdirSync(SHOTS, {recursive: true});

/** Every email moto's SES kept for `to`. */
export async function mailbox(to) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const response = await fetch(`${STACK.aws_endpoint_url}/moto-api/data.json`);
    if (response.ok) {
      const data = await response.json();
      return (data.ses?.Message || []).filter((m) => (m.destinations?.ToAddresses || []).includes(to));
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('moto did not answer');
}

/** No serious or critical axe violation on the page as it is now. */
export async function accessible(page, what) {
  const results = await new AxeBuilder({page}).analyze();
  const bad = results.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  expect(bad.map((v) => `${what}: ${v.id} ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`)).toEqual([]);
}

/** Screenshots of the page at 360 and 1280 px; at neither does it scroll sideways. */
export async function shoot(page, name) {
  for (const width of [360, 1280]) {
    await page.setViewportSize({width, height: width === 360 ? 780 : 900});
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(scrollWidth, `${name} at ${width} px scrolls sideways`).toBeLessThanOrEqual(width);
    await page.screenshot({path: `${SHOTS}${name}-${width}.png`, fullPage: true});
  }
  await page.setViewportSize({width: 1280, height: 900});
}

/** Types a card into the card element, field by field with Tab, then Tab to Pay. */
export async function typeCard(page, number) {
  await page.getByLabel('Card number').focus();
  for (const value of [number, '12 / 34', '123', '69001']) {
    await page.keyboard.type(value);
    await page.keyboard.press('Tab');
  }
}

export function uniqueEmail(name) {
  return `${name}.${Date.now()}.${Math.floor(Math.random() * 1e6)}@makers-market.test`;
}

/** An access token for a demo user, from moto's Cognito (as a script would sign in). */
export async function accessToken(user) {
  const response = await fetch(`${STACK.aws_endpoint_url}/`, {
    method: 'POST',
    headers: {'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSCognitoIdentityProviderService.InitiateAuth'},
    body: JSON.stringify({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: STACK.cognito.client_id,
      AuthParameters: {USERNAME: user.username, PASSWORD: user.password},
    }),
  });
  const body = await response.json();
  return body.AuthenticationResult.AccessToken;
}

/** Signs in as `customer` (a demo customer of its own: one may hold only 3 unpaid orders),
 * puts `product` (found by searching `words`) in the cart, places the order and lands on its
 * page with the card step. */
export async function orderToPay(page, words, product, customer) {
  await signIn(page, customer);
  await page.goto(`/search?q=${encodeURIComponent(words)}`);
  await page.getByRole('link', {name: product}).click();
  await page.getByRole('button', {name: 'Add to cart'}).click();
  await page.goto('/checkout');
  await page.getByRole('button', {name: 'Place order'}).click();
  await expect(page.getByRole('group', {name: 'Card details'})).toBeVisible();
  return page.url();
}

/** The order behind an order page, as its customer sees it through the API. */
export async function orderAt(url, customer) {
  const id = url.split('/').pop();
  const token = await accessToken(customer);
  return (await fetch(`${SHOP}/orders/${id}`, {headers: {authorization: `Bearer ${token}`}})).json();
}

/** Signs `user` in from the sign-in page and waits for the shop to say so. */
export async function signIn(page, user) {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await expect(page.getByText('You are signed in')).toBeVisible();
}

/** Signs up `name` with `email` from the sign-up page: the emailed code confirms the address,
 * and the page then asks for the password again to sign in. */
export async function signUp(page, name, email, password) {
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', {name: 'Create account'}).click();
  await expect(page.getByRole('heading', {name: 'Confirm your email'})).toBeVisible();
  let code;
  await expect.poll(async () => {
    const mails = await mailbox(email);
    const mail = mails.find((m) => /confirmation code/.test(m.subject));
    code = mail && mail.subject.match(/(\d{6})/)[1];
    return code;
  }, {timeout: 15_000}).toBeTruthy();
  await page.getByLabel('Code').fill(code);
  await page.getByRole('button', {name: 'Confirm'}).click();
  await expect(page.getByText('Your email address is confirmed')).toBeVisible();
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', {name: 'Sign in'}).click();
}
