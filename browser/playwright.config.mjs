// Playwright on Debian's Chromium (never a browser that Playwright downloads: this network
// has none to give, and `npx playwright install` must not be run). The tests read where the
// local stack runs from the JSON file named by STACK_FILE (default ../.local/stack.json,
// what `cargo xtask dev` writes); see README.md.
import {defineConfig} from '@playwright/test';

// Without the background-networking flags Chromium keeps trying to reach Google's hosts,
// which this closed network refuses. --no-sandbox: the tests run as root here.
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export default defineConfig({
  testDir: './tests',
  // Traces and screenshots of failed tests (git-ignored).
  outputDir: './test-results',
  fullyParallel: true,
  workers: 2,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  timeout: 30_000,
  expect: {timeout: 10_000},
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    video: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: CHROMIUM_FLAGS,
    },
  },
});
