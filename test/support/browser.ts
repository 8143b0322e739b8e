/**
 * Headless Chromium (the system /usr/bin/chromium, driven by playwright-core) for editor
 * and dashboard tests. A missing Chromium skips the test locally and fails it in CI
 * (see services.ts requireBinary).
 *
 *   const browser = await launchBrowser(t);     // null when skipped (t.skip was called)
 *   if (!browser) return;
 *   try {
 *     const page = await newPage(browser, { collectErrors: true, locale: 'zh-CN' });
 *     await page.goto(url);
 *     ...
 *     assert.deepEqual(page.errors(), []);
 *     await screenshot(page, 'editor-quota-guard');   // test-output/editor-quota-guard.png
 *   } finally {
 *     await browser.close();
 *   }
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, requireBinary } from './services';
import { testOutput } from './paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chromium } = require('playwright-core') as typeof import('playwright-core');

export type { Browser, Page } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Something with a skip(reason) method: a node:test TestContext. */
export interface Skippable {
  skip(reason?: string): void;
}

/**
 * Launches headless Chromium (playwright gives it a fresh temporary profile, removed on
 * close). Returns null, after t.skip(reason), when Chromium is not installed outside CI;
 * throws in CI.
 */
export async function launchBrowser(t?: Skippable): Promise<Browser | null> {
  const bin = requireBinary(CHROMIUM);
  if (!bin.ok) {
    if (t) t.skip(bin.reason);
    return null;
  }
  return chromium.launch({ executablePath: bin.path, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

export interface CollectedPage extends Page {
  /** uncaught page errors and console errors seen so far (always empty without collectErrors) */
  errors(): string[];
}

export interface NewPageOptions {
  /** record console errors and uncaught page errors, returned by page.errors() */
  collectErrors?: boolean;
  /** browser locale (navigator.language and Accept-Language), default en-US */
  locale?: string;
  viewport?: { width: number; height: number };
}

/** Opens a page in a new browser context (closing the page closes the context). */
export async function newPage(browser: Browser, opts: NewPageOptions = {}): Promise<CollectedPage> {
  const locale = opts.locale ?? 'en-US';
  const context = await browser.newContext({ locale, viewport: opts.viewport ?? { width: 1400, height: 900 }, extraHTTPHeaders: { 'Accept-Language': locale } });
  const page = await context.newPage();
  page.once('close', () => {
    context.close().catch(() => undefined);
  });
  const errors: string[] = [];
  if (opts.collectErrors) {
    page.on('pageerror', (e: Error) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const where = m.location()?.url;
      errors.push(`console.error: ${m.text()}${where ? ` (${where})` : ''}`);
    });
  }
  const collected = page as CollectedPage;
  collected.errors = () => [...errors];
  return collected;
}

/** Saves a PNG of the page as test-output/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  fs.mkdirSync(testOutput, { recursive: true });
  const file = path.join(testOutput, `${name.replace(/[^\w.-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
