// The makers' studio and the admins' desk in a real browser, against the whole local stack:
// a maker lists, edits and archives products and follows orders; an admin takes a product
// down and lifts it; nobody else gets in. Every page is checked with axe and shot at 360 and
// 1280 px (browser/screenshots, git-ignored).
import {test, expect} from '@playwright/test';
import {STACK, SHOP, accessToken, accessible, shoot, signIn, typeCard} from './support/pages.mjs';

test.use({baseURL: SHOP});

/** A product of `maker`'s, listed through the API, with a title no other test uses. */
async function listProduct(maker, title, extra = {}) {
  const token = await accessToken(maker);
  const response = await fetch(`${SHOP}/products`, {
    method: 'POST',
    headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'},
    body: JSON.stringify({title, description: 'Made for a browser test.', price_cents: 2400, stock: 5, category: 'ceramics', ...extra}),
  });
  expect(response.status).toBe(201);
  return response.json();
}

function unique(words) {
  return `${words} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

test('without JavaScript a maker lists a product, fixes the refused fields, archives and restores it', async ({browser}) => {
  test.setTimeout(90_000);
  const context = await browser.newContext({javaScriptEnabled: false, baseURL: SHOP});
  const page = await context.newPage();
  await signIn(page, STACK.users.maker);
  await page.getByRole('link', {name: 'Studio'}).click();
  await expect(page.getByRole('heading', {name: 'Your products'})).toBeVisible();
  await page.getByRole('link', {name: 'New product'}).click();
  const title = unique('Raku tea bowl');
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Price in euros').fill('twelve');
  await page.getByLabel('Stock').fill('3');
  await page.getByLabel('Category').fill('Tea Ware!');
  await page.getByRole('button', {name: 'List it for sale'}).click();
  // Each refusal next to its field, what was typed kept.
  await expect(page.getByText('Some fields need another look')).toBeVisible();
  await expect(page.getByLabel('Price in euros')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#price-error')).toContainText('Enter a price in euros');
  await expect(page.locator('#category-error')).toBeVisible();
  await expect(page.getByLabel('Title')).toHaveValue(title);
  await page.getByLabel('Price in euros').fill('38.00');
  await page.getByLabel('Category').fill('ceramics');
  await page.getByRole('button', {name: 'List it for sale'}).click();
  await expect(page.getByText('Your product is listed')).toBeVisible();
  await expect(page.getByRole('heading', {level: 1})).toHaveText(title);
  // Public, at its price.
  await page.getByRole('link', {name: 'See it in the shop'}).click();
  await expect(page.getByRole('heading', {level: 1})).toHaveText(title);
  await expect(page.locator('.buy .price')).toHaveText('€38.00');
  const listing = page.url();
  // A price change, then archive: gone from the shop; restore brings it back.
  await page.goBack();
  await page.getByLabel('Price in euros').fill('35.50');
  await page.getByRole('button', {name: 'Save changes'}).click();
  await expect(page.getByText('Your changes are saved')).toBeVisible();
  await page.getByRole('button', {name: 'Archive'}).click();
  await expect(page.getByText('Archived: it is no longer in the shop')).toBeVisible();
  expect((await fetch(listing)).status, 'hidden from the public').toBe(404);
  await page.goto('/studio?status=archived');
  await expect(page.getByRole('link', {name: title})).toBeVisible();
  await page.getByRole('link', {name: title}).click();
  await page.getByRole('button', {name: 'Restore to the shop'}).click();
  await expect(page.getByText('Restored')).toBeVisible();
  await page.goto(listing);
  await expect(page.locator('.buy .price')).toHaveText('€35.50');
  // The studio's list and the shop profile.
  await page.goto('/studio');
  await expect(page.getByRole('link', {name: title})).toBeVisible();
  await page.getByRole('link', {name: 'Shop profile'}).click();
  await expect(page.getByLabel('Shop name')).not.toHaveValue('');
  await context.close();
});

test('every studio page passes axe and is shot at 360 and 1280 px, a refused form included', async ({page}) => {
  test.setTimeout(90_000);
  await signIn(page, STACK.users.maker);
  await page.goto('/studio');
  await accessible(page, 'studio-products');
  await shoot(page, 'studio-products');
  const first = page.locator('table a[href^="/studio/products/"]').first();
  await first.click();
  await expect(page.getByRole('button', {name: 'Save changes'})).toBeVisible();
  await accessible(page, 'studio-product');
  await shoot(page, 'studio-product');
  await page.goto('/studio/products/new');
  await page.getByLabel('Title').fill('A');
  await page.getByLabel('Price in euros').fill('free');
  await page.getByRole('button', {name: 'List it for sale'}).click();
  await expect(page.locator('#price-error')).toBeVisible();
  await accessible(page, 'studio-new-errors');
  await shoot(page, 'studio-new-errors');
  await page.goto('/studio?status=archived');
  await accessible(page, 'studio-archived');
  await page.goto('/studio/shop');
  await accessible(page, 'studio-shop');
  await shoot(page, 'studio-shop');
});

test('a maker sees a new paid order appear without a reload and opens its packing slip', async ({browser, page}) => {
  test.setTimeout(120_000);
  const title = unique('Stoneware pitcher');
  const product = await listProduct(STACK.users.maker, title);
  await signIn(page, STACK.users.maker);
  await page.goto('/studio/orders');
  await expect(page.getByRole('heading', {name: 'Your orders'})).toBeVisible();
  await accessible(page, 'studio-orders');
  await page.evaluate(() => { window.sameDocument = true; });

  // Meanwhile a customer buys it and pays by card.
  const shopper = await browser.newContext({baseURL: SHOP});
  const customer = await shopper.newPage();
  await signIn(customer, STACK.users.shoppers[5]);
  await customer.goto(`/listing/${product.id}`);
  await customer.getByRole('button', {name: 'Add to cart'}).click();
  await customer.goto('/checkout');
  await customer.getByRole('button', {name: 'Place order'}).click();
  await expect(customer.getByRole('group', {name: 'Card details'})).toBeVisible();
  const orderId = customer.url().split('/').pop();
  await typeCard(customer, '4242 4242 4242 4242');
  await customer.getByRole('button', {name: /^Pay/}).click();
  await expect(customer.locator('#live .status')).not.toHaveText('Waiting for payment', {timeout: 20_000});
  await shopper.close();

  // The maker's list shows it by itself: the same document, no reload.
  const row = page.getByRole('row').filter({hasText: orderId});
  await expect(row).toBeVisible({timeout: 20_000});
  expect(await page.evaluate(() => window.sameDocument)).toBe(true);
  await shoot(page, 'studio-orders');
  await row.getByRole('link', {name: orderId}).click();
  await expect(page.getByRole('heading', {level: 1})).toContainText(orderId);
  await expect(page.getByRole('cell', {name: title})).toBeVisible();
  await accessible(page, 'studio-order');
  await shoot(page, 'studio-order');
  await page.getByRole('link', {name: 'Packing slip'}).click();
  await expect(page.getByRole('heading', {name: 'Packing slip'})).toBeVisible();
  await expect(page.getByText(title)).toBeVisible();
  await accessible(page, 'studio-slip');
  await shoot(page, 'studio-slip');
  // Printed, the slip is all there is.
  await page.emulateMedia({media: 'print'});
  await expect(page.locator('header.site')).toBeHidden();
  await expect(page.getByRole('heading', {name: 'Packing slip'})).toBeVisible();
});

test('by keyboard an admin takes a product down; its maker reads the note and cannot sell it; the admin lifts it', async ({browser, page}) => {
  test.setTimeout(120_000);
  const title = unique('Copied lamp');
  const product = await listProduct(STACK.users.maker, title);
  await signIn(page, STACK.users.admin);
  await page.goto('/desk');
  await accessible(page, 'desk');
  await shoot(page, 'desk');
  await page.getByRole('link', {name: 'Products'}).first().click();
  await page.getByLabel('Product id or words in its title').focus();
  await page.keyboard.type(product.id);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', {level: 1})).toHaveText(title);
  await accessible(page, 'desk-product');
  await shoot(page, 'desk-product');
  // An empty note is refused next to its field.
  await page.getByRole('button', {name: 'Take it down'}).focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('#moderation_note-error')).toBeVisible();
  const note = 'This design belongs to another studio; list only your own work.';
  await page.getByLabel('Note to the maker').focus();
  await page.keyboard.type(note);
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', {name: 'Take it down'})).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByText('Taken down: the product is hidden')).toBeVisible();
  expect((await fetch(`${SHOP}/listing/${product.id}`)).status, 'hidden from the public').toBe(404);

  const makerContext = await browser.newContext({baseURL: SHOP});
  const maker = await makerContext.newPage();
  await signIn(maker, STACK.users.maker);
  await maker.goto('/studio?status=removed');
  await expect(maker.getByText(note)).toBeVisible();
  await accessible(maker, 'studio-removed');
  await shoot(maker, 'studio-removed');
  await maker.getByRole('link', {name: title}).click();
  await expect(maker.getByRole('alert')).toContainText(note);
  await expect(maker.getByRole('button', {name: /Save|Restore|Archive/})).toHaveCount(0);

  // Search by words finds it no more among products on sale; the admin lifts it.
  await page.getByRole('button', {name: 'Lift the takedown'}).click();
  await expect(page.getByText('The takedown is lifted')).toBeVisible();
  expect((await fetch(`${SHOP}/listing/${product.id}`)).status).toBe(200);
  await maker.reload();
  await expect(maker.getByRole('button', {name: 'Save changes'})).toBeVisible();
  await makerContext.close();
  await page.goto('/desk/products?q=lamp');
  await accessible(page, 'desk-products');
  await shoot(page, 'desk-products');
  await page.goto('/desk/orders');
  await accessible(page, 'desk-orders');
  await shoot(page, 'desk-orders');
});

test('an admin finds a customer\'s order by their email and by its id, and cancels it', async ({page}) => {
  test.setTimeout(90_000);
  const product = await listProduct(STACK.users.other_maker, unique('Walnut board'));
  const customer = STACK.users.shoppers[0];
  const token = await accessToken(customer);
  const placed = await fetch(`${SHOP}/orders`, {
    method: 'POST',
    headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'},
    body: JSON.stringify({items: [{product_id: product.id, quantity: 1}], shipping_address: {name: 'Bea', line1: 'Rua 1', city: 'Porto', postal_code: '4000-001', country: 'PT'}}),
  });
  expect(placed.status).toBe(201);
  const order = await placed.json();
  await signIn(page, STACK.users.admin);
  await page.goto('/desk/orders');
  // By the customer's email address first: their orders, this one among them.
  const search = page.getByLabel('Order id, or a customer\'s email or user id');
  await search.fill(customer.username);
  await page.getByRole('button', {name: 'Find'}).click();
  await expect(page.getByRole('link', {name: order.id})).toBeVisible();
  await search.fill(order.id);
  await page.getByRole('button', {name: 'Find'}).click();
  await expect(page.getByRole('heading', {level: 1})).toContainText(order.id);
  await accessible(page, 'desk-order');
  await shoot(page, 'desk-order');
  await page.getByRole('button', {name: 'Cancel the order'}).click();
  await expect(page.getByText('The order is cancelled')).toBeVisible();
  await expect(page.locator('#status-title .status')).toHaveText('Cancelled');
  await page.getByRole('link', {name: 'This customer\'s orders'}).click();
  await expect(page.getByRole('link', {name: order.id})).toBeVisible();
});

test('customers cannot open the studio or the desk, and makers cannot open the desk', async ({browser}) => {
  test.setTimeout(90_000);
  for (const [user, paths] of [
    [STACK.users.customer, ['/studio', '/studio/products/new', '/studio/orders', '/studio/shop', '/desk', '/desk/products', '/desk/orders']],
    [STACK.users.maker, ['/desk', '/desk/products', '/desk/orders']],
  ]) {
    const context = await browser.newContext({baseURL: SHOP});
    const page = await context.newPage();
    await signIn(page, user);
    await expect(page.getByRole('link', {name: 'Desk'})).toHaveCount(0);
    for (const path of paths) {
      const response = await page.goto(path);
      expect(response.status(), path).toBe(403);
      await expect(page.getByRole('heading', {name: 'Not allowed'})).toBeVisible();
    }
    await accessible(page, 'forbidden');
    await shoot(page, 'forbidden');
    await context.close();
  }
});
