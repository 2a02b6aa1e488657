// Becoming a maker and product photos in a real browser, against the whole local stack: a
// customer applies, an admin approves, the new maker lists a product and uploads a JPEG and a
// PNG from the studio (straight to moto's S3), reorders them, and the public product page
// shows the image function's WebP renditions with srcset; files that are not images, too
// big, or decompression bombs are refused with the reason.
import {test, expect} from '@playwright/test';
import {deflateSync} from 'node:zlib';
import {STACK, SHOP, accessToken, accessible, mailbox, shoot, signIn, signUp, uniqueEmail} from './support/pages.mjs';

test.use({baseURL: SHOP});

/** A product of the demo maker's, listed through the API. */
async function listProduct(title) {
  const token = await accessToken(STACK.users.maker);
  const response = await fetch(`${SHOP}/products`, {
    method: 'POST',
    headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'},
    body: JSON.stringify({title, price_cents: 3100, stock: 4, category: 'ceramics'}),
  });
  expect(response.status).toBe(201);
  return response.json();
}

/** An image of `width`×`height` drawn and encoded by the browser itself. */
async function drawn(page, type, width, height) {
  const base64 = await page.evaluate(async ([type, width, height]) => {
    const canvas = new OffscreenCanvas(width, height);
    const g = canvas.getContext('2d');
    const gradient = g.createLinearGradient(0, 0, width, height);
    gradient.addColorStop(0, '#8a3b12');
    gradient.addColorStop(1, '#f6e7dc');
    g.fillStyle = gradient;
    g.fillRect(0, 0, width, height);
    const bytes = new Uint8Array(await (await canvas.convertToBlob({type, quality: 0.9})).arrayBuffer());
    let text = '';
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text);
  }, [type, width, height]);
  return Buffer.from(base64, 'base64');
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A valid `side`×`side` PNG of zero pixels: tiny on disk, `side`² pixels decoded. */
function bombPng(side) {
  const chunk = (kind, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(kind, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([1, 0, 0, 0, 0], 8);
  const raw = Buffer.alloc(side * (1 + Math.ceil(side / 8)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, {level: 9})),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function upload(page, file) {
  await page.getByLabel('Add a photo').setInputFiles(file);
  await page.getByRole('button', {name: 'Upload photo'}).click();
}

test('a customer applies to sell, an admin approves, and the new maker lists a product with a JPEG and a PNG the shop shows', async ({browser, page}) => {
  test.setTimeout(180_000);
  // A new customer signs up and applies from the footer's "Sell on Makers Market".
  const email = uniqueEmail('rosa');
  const shopName = `Barro Vivo ${Date.now().toString(36)}`;
  await page.goto('/sign-up');
  await signUp(page, 'Rosa Ramalho', email, 'Clay-and-Fire-1892');
  await expect(page.getByText('You are signed in')).toBeVisible();
  await page.getByRole('link', {name: 'Sell on Makers Market'}).click();
  await page.getByRole('button', {name: 'Apply to sell'}).click();
  await expect(page.locator('#shop_name-error')).toBeVisible();
  await page.getByLabel('Shop name').fill(shopName);
  await page.getByLabel('About you and what you make').fill('Figures and jugs in Barcelos clay, wood-fired.');
  await page.getByLabel('Location').fill('Barcelos');
  await page.getByRole('button', {name: 'Apply to sell'}).click();
  await expect(page.getByText('your application is in')).toBeVisible();
  await expect(page.getByRole('status').filter({hasText: 'waiting for an admin'})).toBeVisible();
  await accessible(page, 'sell');
  await shoot(page, 'sell');

  // An admin approves it on the desk.
  const desk = await browser.newContext({baseURL: SHOP});
  const admin = await desk.newPage();
  await signIn(admin, STACK.users.admin);
  await admin.goto('/desk/applications');
  const application = admin.getByRole('region', {name: shopName});
  await expect(application).toContainText('Figures and jugs');
  await accessible(admin, 'desk-applications');
  await shoot(admin, 'desk-applications');
  await application.getByRole('button', {name: 'Approve'}).click();
  await expect(admin.getByText(`${shopName} is approved`)).toBeVisible();
  await desk.close();
  await expect.poll(async () => (await mailbox(email)).map((m) => m.subject).join('\n'), {timeout: 15_000})
    .toContain(`Your shop ${shopName} is open`);

  // Signed in again, the new maker has the studio, and lists a product.
  await page.getByRole('button', {name: 'Sign out'}).click();
  await signIn(page, {username: email, password: 'Clay-and-Fire-1892'});
  await page.getByRole('link', {name: 'Studio'}).click();
  await page.getByRole('link', {name: 'New product'}).click();
  const title = `Rooster jug ${Date.now().toString(36)}`;
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Price in euros').fill('42');
  await page.getByLabel('Stock').fill('3');
  await page.getByLabel('Category').fill('ceramics');
  await page.getByRole('button', {name: 'List it for sale'}).click();
  await expect(page.getByText('Your product is listed')).toBeVisible();
  const productId = page.url().split('/').pop();

  // Two photos, a JPEG then a PNG, straight to the bucket.
  await expect(page.getByRole('heading', {name: /Photos/})).toContainText('0 of 8');
  await upload(page, {name: 'jug.jpg', mimeType: 'image/jpeg', buffer: await drawn(page, 'image/jpeg', 1600, 1200)});
  await expect(page.getByText('Photo added')).toBeVisible({timeout: 20_000});
  await upload(page, {name: 'jug-side.png', mimeType: 'image/png', buffer: await drawn(page, 'image/png', 900, 900)});
  await expect(page.getByText('Photo added')).toBeVisible({timeout: 20_000});
  await expect(page.getByRole('heading', {name: /Photos/})).toContainText('2 of 8');
  // The image function makes the renditions; the studio shows them once made.
  await expect(async () => {
    await page.reload();
    await expect(page.locator('ol.photos img')).toHaveCount(2, {timeout: 1000});
  }).toPass({timeout: 30_000});
  await accessible(page, 'studio-photos');
  await shoot(page, 'studio-photos');
  const jpeg = await page.locator('ol.photos img').first().getAttribute('src');
  // The PNG first, by keyboard.
  await page.getByRole('button', {name: 'Move photo 2 earlier'}).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByText('Photos reordered')).toBeVisible();
  expect(await page.locator('ol.photos img').nth(1).getAttribute('src')).toBe(jpeg);

  // The public page: the renditions, PNG first, with srcset, sizes, width and height.
  const visitor = await browser.newContext({baseURL: SHOP});
  const shopper = await visitor.newPage();
  await shopper.goto(`/listing/${productId}`);
  const images = shopper.locator('.gallery img');
  await expect(images).toHaveCount(2);
  const lead = images.first();
  await expect(lead).toHaveAttribute('srcset', /400\.webp 400w, .*800\.webp 800w/);
  await expect(lead).toHaveAttribute('sizes', /.+/);
  await expect(lead).toHaveAttribute('width', '800');
  await expect(lead).toHaveAttribute('height', '800');
  await expect(images.nth(1)).toHaveAttribute('height', '600');
  await expect(images.nth(1)).toHaveAttribute('loading', 'lazy');
  expect(await lead.evaluate((img) => img.decode().then(() => img.naturalWidth))).toBeGreaterThan(0);
  await expect(shopper.getByRole('link', {name: shopName})).toBeVisible();
  await shoot(shopper, 'listing-photos');
  await visitor.close();
});

test('a file that is not an image, one over 5 MiB, and a 20000 × 20000 PNG are refused with the reason', async ({page}) => {
  test.setTimeout(120_000);
  const product = await listProduct(`Refusals ${Date.now().toString(36)}`);
  await signIn(page, STACK.users.maker);
  await page.goto(`/studio/products/${product.id}`);
  // Not an image, whatever its name says: uploaded, checked, deleted, and said why.
  await upload(page, {name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('these are my notes, not a photo')});
  await expect(page.getByText('That photo was refused and deleted')).toBeVisible({timeout: 20_000});
  await expect(page.getByRole('heading', {name: /Photos/})).toContainText('0 of 8');
  // Too big: refused before anything is sent, next to the field.
  const big = Buffer.alloc(6 * 1024 * 1024);
  big.set([0xff, 0xd8, 0xff]);
  await upload(page, {name: 'huge.jpg', mimeType: 'image/jpeg', buffer: big});
  await expect(page.locator('#photo-error')).toHaveText(/too big/);
  await expect(page.getByLabel('Add a photo')).toHaveAttribute('aria-invalid', 'true');
  await accessible(page, 'studio-photo-refused');
  await shoot(page, 'studio-photo-refused');
  // A decompression bomb: a few KiB that would be 400 million pixels.
  await upload(page, {name: 'bomb.png', mimeType: 'image/png', buffer: bombPng(20000)});
  await expect(page.getByText('That photo was refused and deleted')).toBeVisible({timeout: 20_000});
  await expect(page.locator('.flash')).toContainText(/6000|pixels|px/);
  await expect(page.getByRole('heading', {name: /Photos/})).toContainText('0 of 8');
  // A plain text file is not even offered to the storage.
  await upload(page, {name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello')});
  await expect(page.locator('#photo-error')).toHaveText(/JPEG, PNG or WebP/);
});
