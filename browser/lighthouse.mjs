// Lighthouse (12.x, mobile defaults) on the shop's pages, on Debian's Chromium, against the
// local stack described by STACK_FILE: performance, accessibility, best practices and SEO
// (the median of RUNS runs each), and each page's weight — its HTML and the shop's CSS and
// JS it links, as served (gzip), without Stripe.js and photos. Prints a JSON report on stdout, which
// `cargo xtask bench` (section `web`) turns into BENCHMARKS.md's table.
//
//   STACK_FILE=.local/stack.json node browser/lighthouse.mjs
import lighthouse from 'lighthouse';
import * as chromeLauncher from 'chrome-launcher';
import puppeteer from 'puppeteer-core';
import {readFileSync} from 'node:fs';

const RUNS = Number(process.env.RUNS || 3);
const STACK = JSON.parse(readFileSync(process.env.STACK_FILE || '.local/stack.json', 'utf8'));
const SHOP = STACK.api_url.replace(/\/$/, '');
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];

/** The shop's cookie after signing in as `user` (the demo customer unless said otherwise),
 * for pages behind sign-in. */
async function signedInCookie(user = STACK.users.customer) {
  let cookie = '';
  const keep = (response) => {
    const set = response.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0];
  };
  const page = await fetch(`${SHOP}/sign-in`);
  keep(page);
  const html = await page.text();
  const token = html.match(/name="_token" value="([^"]+)"/)[1];
  const {username, password} = user;
  const response = await fetch(`${SHOP}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: {'content-type': 'application/x-www-form-urlencoded', origin: SHOP, cookie},
    body: new URLSearchParams({_token: token, email: username, password, next: '/'}),
  });
  keep(response);
  return cookie;
}

/** An order of the demo customer's, waiting for payment (its page shows the card step). */
async function pendingOrder(cookie, productId) {
  const form = async (path) => {
    const html = await (await fetch(`${SHOP}${path}`, {headers: {cookie}})).text();
    return html.match(/name="_token" value="([^"]+)"/)[1];
  };
  const post = (path, fields) => fetch(`${SHOP}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: {'content-type': 'application/x-www-form-urlencoded', origin: SHOP, cookie},
    body: new URLSearchParams(fields),
  });
  await post(`/listing/${productId}`, {_token: await form(`/listing/${productId}`), quantity: '1'});
  const checkout = await (await fetch(`${SHOP}/checkout`, {headers: {cookie}})).text();
  const key = checkout.match(/name="key" value="([^"]+)"/)[1];
  const token = checkout.match(/name="_token" value="([^"]+)"/)[1];
  const placed = await post('/checkout', {
    _token: token, key, name: 'Ada Lovelace', line1: '12 Rue des Artisans', postal_code: '69001', city: 'Lyon', country: 'FR',
  });
  return placed.headers.get('location');
}

/** What a browser transfers for the page's HTML and the shop's own CSS and JS it links,
 * gzip-compressed as served (Content-Length of each answer); Stripe.js is another origin's. */
async function pageWeight(path, cookie) {
  const get = (url) => fetch(url, {headers: {'accept-encoding': 'gzip', ...(cookie ? {cookie} : {})}});
  const size = async (response) => {
    const length = Number(response.headers.get('content-length'));
    const body = await response.arrayBuffer();
    return Number.isFinite(length) && length > 0 ? length : body.byteLength;
  };
  const page = await get(`${SHOP}${path}`);
  const html = await page.clone().text();
  let total = await size(page);
  const links = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  for (const link of new Set(links)) {
    total += await size(await get(`${SHOP}${link}`));
  }
  return total;
}

/** Puts the shop's cookie (`name=value`) in the browser Lighthouse drives. */
async function setCookie(port, cookie) {
  const browser = await puppeteer.connect({browserURL: `http://127.0.0.1:${port}`});
  const page = await browser.newPage();
  const at = cookie.indexOf('=');
  await page.setCookie({name: cookie.slice(0, at), value: cookie.slice(at + 1), url: SHOP, httpOnly: true, sameSite: 'Lax'});
  await page.close();
  await browser.disconnect();
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const home = await (await fetch(`${SHOP}/`)).text();
  const productId = home.match(/href="\/listing\/(prd_[A-Z0-9]+)"/)[1];
  const makerId = home.match(/href="\/shop\/([^"]+)"/)[1];
  const cookie = await signedInCookie();
  const orderPath = await pendingOrder(cookie, productId);
  const maker = await signedInCookie(STACK.users.maker);
  const admin = await signedInCookie(STACK.users.admin);
  const studio = await (await fetch(`${SHOP}/studio`, {headers: {cookie: maker}})).text();
  const makerProduct = studio.match(/href="\/studio\/products\/(prd_[A-Z0-9]+)"/)[1];
  const pages = [
    ['home', '/', null],
    ['search', '/search?q=bowl', null],
    ['product', `/listing/${productId}`, null],
    ['shop', `/shop/${makerId}`, null],
    ['cart', '/cart', null],
    ['sign-in', '/sign-in', null],
    ['order', orderPath, cookie],
    ['studio products', '/studio', maker],
    ['studio product', `/studio/products/${makerProduct}`, maker],
    ['studio new product', '/studio/products/new', maker],
    ['studio orders', '/studio/orders', maker],
    ['studio shop', '/studio/shop', maker],
    ['desk products', '/desk/products?q=bowl', admin],
    ['desk orders', '/desk/orders', admin],
  ];
  const chrome = await chromeLauncher.launch({
    chromePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    chromeFlags: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const results = [];
  try {
    for (const [name, path, pageCookie] of pages) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        const flags = {port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: CATEGORIES};
        if (pageCookie) {
          // Chrome keeps the session cookie (a Cookie header of Lighthouse's own is dropped);
          // Lighthouse must not clear it before loading the page.
          await setCookie(chrome.port, pageCookie);
          flags.disableStorageReset = true;
        }
        const {lhr} = await lighthouse(`${SHOP}${path}`, flags);
        // A page behind sign-in that sent Lighthouse to the sign-in page measured the wrong page.
        const landed = new URL(lhr.finalDisplayedUrl || lhr.finalUrl);
        if (`${landed.pathname}${landed.search}` !== path) {
          throw new Error(`${name}: Lighthouse landed on ${landed} instead of ${path}`);
        }
        const weight = await pageWeight(path, pageCookie);
        runs.push({
          scores: Object.fromEntries(CATEGORIES.map((c) => [c, Math.round((lhr.categories[c]?.score ?? 0) * 100)])),
          weight,
          failed: CATEGORIES.flatMap((c) => (lhr.categories[c]?.auditRefs || [])
            .map((ref) => lhr.audits[ref.id])
            .filter((a) => a && a.score !== null && a.score < 1 && a.scoreDisplayMode === 'binary')
            .map((a) => a.id)),
        });
      }
      results.push({
        page: name,
        path: path.replace(/ord_[A-Z0-9]+/, 'ord_…').replace(/prd_[A-Z0-9]+/, 'prd_…'),
        runs: RUNS,
        scores: Object.fromEntries(CATEGORIES.map((c) => [c, median(runs.map((r) => r.scores[c]))])),
        weight_bytes: median(runs.map((r) => r.weight)),
        failed_audits: [...new Set(runs.flatMap((r) => r.failed))],
      });
    }
  } finally {
    await chrome.kill();
  }
  process.stdout.write(JSON.stringify({lighthouse: '12', pages: results}, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
