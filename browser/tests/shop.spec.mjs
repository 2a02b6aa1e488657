// The web shop in a real browser, against the whole local stack: the pages a shopper uses,
// by keyboard and pointer, checked with axe, with screenshots at 360 and 1280 px in
// browser/screenshots (git-ignored) to look at.
import {test, expect} from '@playwright/test';
import {STACK, SHOP, accessToken, accessible, mailbox, orderAt, orderToPay, shoot, signUp, typeCard, uniqueEmail} from './support/pages.mjs';

test.use({baseURL: SHOP});

test('a visitor finds two makers\' products, signs up, pays by card and watches the order reach delivered', async ({page}) => {
  test.setTimeout(120_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  await page.goto('/');
  await expect(page.getByRole('heading', {level: 1})).toContainText('Handmade goods');
  // Search from the header, open a product of Maria's, add two.
  await page.getByRole('searchbox', {name: 'Search handmade goods'}).fill('mug');
  await page.getByRole('searchbox', {name: 'Search handmade goods'}).press('Enter');
  await expect(page).toHaveURL(/\/search\?q=mug/);
  await page.getByRole('link', {name: 'Speckled stoneware mug'}).click();
  await expect(page.getByRole('heading', {level: 1})).toHaveText('Speckled stoneware mug');
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', {name: 'Add to cart'}).click();
  await expect(page.getByRole('status').first()).toContainText('Added to your cart');
  // And one of João's, found through a category.
  await page.goto('/search?category=woodwork');
  await page.getByRole('link', {name: 'Walnut serving spoon'}).click();
  await page.getByRole('button', {name: 'Add to cart'}).click();
  await expect(page.locator('tfoot')).toContainText('Total (3 items)');
  await expect(page.locator('tfoot')).toContainText('€70.00');

  // Checkout asks for an account: sign up, confirm with the emailed code, sign in.
  await page.getByRole('link', {name: 'Sign in and check out'}).click();
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fcheckout/);
  await page.getByRole('link', {name: 'Create an account'}).click();
  const email = uniqueEmail('grace');
  await signUp(page, 'Grace Hopper', email, 'Compilers-1952');
  await expect(page).toHaveURL(/\/checkout$/);

  // The cart came along; ship and place the order.
  await expect(page.locator('tfoot')).toContainText('€70.00');
  await page.getByLabel('Full name').fill('Grace Hopper');
  await page.getByLabel('Address', {exact: true}).fill('1 Navy Yard');
  await page.getByLabel('Postal code').fill('75001');
  await page.getByLabel('City').fill('Paris');
  await page.getByLabel('Country code').fill('FR');
  await page.getByRole('button', {name: 'Place order'}).click();
  await expect(page.getByRole('heading', {name: 'Pay by card'})).toBeVisible();
  await expect(page.getByRole('group', {name: 'Card details'})).toBeVisible();
  await typeCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', {name: /^Pay €70\.00/}).click();
  await expect(page.getByText('Payment received')).toBeVisible();
  // The status part follows the order by itself: paid, then delivered, with no reload.
  const url = page.url();
  await expect(page.locator('#live .status')).toHaveText('Paid', {timeout: 20_000});
  await expect(page.locator('#live .status')).toHaveText('Delivered', {timeout: 60_000});
  expect(page.url()).toBe(url);
  // The emails arrived: welcome, paid, …, delivered.
  await expect.poll(async () => (await mailbox(email)).map((m) => m.subject).join('\n'), {timeout: 20_000})
    .toMatch(/delivered/);
  const subjects = (await mailbox(email)).map((m) => m.subject).join('\n');
  expect(subjects).toMatch(/Welcome/i);
  expect(subjects).toMatch(/payment received/);
  expect(errors).toEqual([]);
});

test('keyboard only: from a product page to a placed order with Tab and Enter', async ({page}) => {
  test.setTimeout(60_000);
  // A customer of its own: one may hold only 3 unpaid orders, and this one stays unpaid.
  const customer = STACK.users.shoppers[0];
  await page.goto('/sign-in');
  await page.getByLabel('Email').focus();
  await page.keyboard.type(customer.username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(customer.password);
  await page.keyboard.press('Enter');
  await expect(page.getByText('You are signed in')).toBeVisible();
  await page.goto('/search?q=planter');
  await page.getByRole('link', {name: 'Terracotta herb planter'}).focus();
  await page.keyboard.press('Enter');
  await page.getByLabel('Quantity').focus();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', {name: 'Add to cart'})).toBeFocused();
  await page.keyboard.press('Enter');
  await page.getByRole('link', {name: 'Check out'}).focus();
  await page.keyboard.press('Enter');
  // The address is the profile's; Tab to "Place order" and press Enter.
  await expect(page.getByLabel('City')).toHaveValue('Lyon');
  await page.getByRole('button', {name: 'Place order'}).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', {name: 'Pay by card'})).toBeVisible();
  await typeCard(page, '4242 4242 4242 4242');
  await expect(page.getByRole('button', {name: /^Pay/})).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#live .status')).toHaveText('Paid', {timeout: 20_000});
});

test('every page passes axe and is shot at 360 and 1280 px', async ({page}) => {
  test.setTimeout(180_000);
  const pages = [
    ['home', '/'],
    ['search', '/search?q=bowl'],
    ['search-errors', '/search?min=cheap'],
    ['cart-empty', '/cart'],
    ['sign-in', '/sign-in'],
    ['sign-up', '/sign-up'],
    ['forgot-password', '/forgot-password'],
    ['not-found', '/no-such-page'],
  ];
  for (const [name, path] of pages) {
    await page.goto(path);
    await accessible(page, name);
    await shoot(page, name);
  }
  // A product, a shop, a cart with a line, and the signed-in pages.
  await page.goto('/search?q=jewellery');
  await page.getByRole('link', {name: 'Cherry wood jewellery box'}).click();
  await accessible(page, 'listing');
  await shoot(page, 'listing');
  await page.getByRole('link', {name: 'João Woodworks'}).click();
  await accessible(page, 'shop');
  await shoot(page, 'shop');
  await page.goto('/search?q=runner');
  await page.getByRole('link', {name: 'Linen table runner'}).click();
  await page.getByRole('button', {name: 'Add to cart'}).click();
  await accessible(page, 'cart');
  await shoot(page, 'cart');
  const customer = STACK.users.shoppers[1];
  await page.goto('/sign-in?next=%2Fcheckout');
  await page.getByLabel('Email').fill(customer.username);
  await page.getByLabel('Password').fill(customer.password);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await expect(page).toHaveURL(/\/checkout$/);
  await accessible(page, 'checkout');
  await shoot(page, 'checkout');
  await page.getByRole('button', {name: 'Place order'}).click();
  await expect(page.getByRole('group', {name: 'Card details'})).toBeVisible();
  await accessible(page, 'order-pay');
  await shoot(page, 'order-pay');
  await page.goto('/account/orders');
  await accessible(page, 'orders');
  await shoot(page, 'orders');
  await page.goto('/account/profile');
  await accessible(page, 'profile');
  await shoot(page, 'profile');
});

test('without JavaScript a visitor still browses, fills a cart and reaches checkout', async ({browser}) => {
  const context = await browser.newContext({javaScriptEnabled: false, baseURL: SHOP});
  const page = await context.newPage();
  await page.goto('/search?q=coasters');
  await page.getByRole('link', {name: 'Cork and oak coasters'}).click();
  await page.getByLabel('Quantity').fill('3');
  await page.getByRole('button', {name: 'Add to cart'}).click();
  await expect(page.getByText('Total (3 items)')).toBeVisible();
  await page.getByLabel(/Quantity of Cork and oak coasters/).fill('1');
  await page.getByRole('button', {name: /Update/}).click();
  await expect(page.getByText('Total (1 item)')).toBeVisible();
  await page.getByRole('link', {name: 'Sign in and check out'}).click();
  const {customer} = STACK.users;
  await page.getByLabel('Email').fill(customer.username);
  await page.getByLabel('Password').fill(customer.password);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await expect(page.getByRole('heading', {name: 'Checkout'})).toBeVisible();
  await context.close();
});

test('a forged cross-site form changes nothing and a stored-XSS title stays text', async ({page}) => {
  // A maker lists a product whose title is markup.
  const token = await accessToken(STACK.users.maker);
  const created = await fetch(`${SHOP}/products`, {
    method: 'POST',
    headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'},
    body: JSON.stringify({title: '<img src=x onerror=alert(1)><script>alert(2)</script>', price_cents: 1000, stock: 3, category: 'tests'}),
  });
  expect(created.status).toBe(201);
  const product = await created.json();
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  await page.goto(`/listing/${product.id}`);
  await expect(page.getByRole('heading', {level: 1})).toHaveText('<img src=x onerror=alert(1)><script>alert(2)</script>');
  await page.getByRole('button', {name: 'Add to cart'}).click();
  await expect(page.getByText('Total (1 item)')).toBeVisible();
  // Another site's page posting to the cart with this visitor's cookie: refused, cart kept.
  const status = await page.evaluate(async ([shop, id]) => {
    const form = new URLSearchParams({action: 'remove', product_id: id, _token: 'forged'});
    const response = await fetch(`${shop}/cart`, {method: 'POST', body: form});
    return response.status;
  }, [SHOP, product.id]);
  expect(status).toBe(403);
  await page.goto('/cart');
  await expect(page.getByText('Total (1 item)')).toBeVisible();
  expect(dialogs).toEqual([]);
});

test('a declined card, then 4242 on the same order: one order, paid, never refunded', async ({page}) => {
  test.setTimeout(60_000);
  const customer = STACK.users.shoppers[2];
  const url = await orderToPay(page, 'espresso', 'Set of four espresso cups', customer);
  await typeCard(page, '4000 0000 0000 0002');
  await page.getByRole('button', {name: /^Pay/}).click();
  await expect(page.locator('#card-errors')).toHaveText('Your card was declined.');
  // The webhook records the attempt; the order waits, and its page says so.
  await expect.poll(async () => (await orderAt(url, customer)).payment.failed_attempts, {timeout: 15_000}).toBe(1);
  await page.reload();
  await expect(page.getByText('Your last card was declined')).toBeVisible();
  await expect(page.locator('#live .status')).toHaveText('Waiting for payment');
  await typeCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', {name: /^Pay/}).click();
  await expect(page.locator('#live .status')).toHaveText(/Paid|Being prepared|Shipped|Out for delivery|Delivered/, {timeout: 20_000});
  const order = await orderAt(url, customer);
  expect(order.payment.refund_status).toBeUndefined();
  expect(order.history.map((h) => h.status)).not.toContain('cancelled');
});

test('a card that asks for 3-D Secure: approved pays, failed leaves the order waiting', async ({page}) => {
  const customer = STACK.users.shoppers[3];
  const url = await orderToPay(page, 'vase', 'Porcelain bud vase', customer);
  await typeCard(page, '4000 0027 6000 3184');
  await page.getByRole('button', {name: /^Pay/}).click();
  const challenge = page.getByRole('dialog', {name: 'Authenticate your payment'});
  await expect(challenge).toBeVisible();
  await challenge.getByRole('button', {name: 'Fail authentication'}).click();
  await expect(page.locator('#card-errors')).toContainText(/authenticate/i);
  await expect(page.locator('#live .status')).toHaveText('Waiting for payment');
  await typeCard(page, '4000 0027 6000 3184');
  await page.getByRole('button', {name: /^Pay/}).click();
  await expect(challenge).toBeVisible();
  await challenge.getByRole('button', {name: 'Complete authentication'}).click();
  await expect(page.locator('#live .status')).toHaveText(/Paid|Being prepared|Shipped|Out for delivery|Delivered/, {timeout: 20_000});
  expect((await orderAt(url, customer)).payment.refund_status).toBeUndefined();
});

test('a paid order cancelled from its page: cancelled, refund shown, stock back', async ({page}) => {
  await page.goto('/search?q=shelf');
  await page.getByRole('link', {name: 'Oak wall shelf'}).click();
  const before = await page.locator('.buy .stock').textContent();
  await orderToPay(page, 'shelf', 'Oak wall shelf', STACK.users.shoppers[4]);
  await typeCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', {name: /^Pay/}).click();
  await expect(page.locator('#live .status')).toHaveText('Paid', {timeout: 20_000});
  await page.getByRole('button', {name: 'Cancel this order'}).click();
  await expect(page.getByText('Your order is cancelled. Your refund is on its way')).toBeVisible();
  await expect(page.locator('#live .status')).toHaveText('Cancelled');
  await expect(page.locator('#live')).toContainText(/Refund on its way|Refunded/);
  await page.goto('/search?q=shelf');
  await page.getByRole('link', {name: 'Oak wall shelf'}).click();
  await expect(page.locator('.buy .stock')).toHaveText(before);
});
