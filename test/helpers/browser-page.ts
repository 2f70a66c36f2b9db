// Drives the sale page in Debian's chromium (playwright-core, no browser
// download): launches it, opens the page as a given shopper (the fs_user
// cookie, signed as the shop would) and records what the page asked the
// engine for, so tests can check it never reloaded and did not storm.

import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page, type Request } from 'playwright-core';
import { signToken } from './engine-process';

export const CHROMIUM = '/usr/bin/chromium';
/** A phone's width: the page must work there. */
export const PHONE_VIEWPORT = { width: 390, height: 844 };

/** Launches chromium; throws (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
}

export interface ShopperPage {
  context: BrowserContext;
  page: Page;
  /** Main-frame navigations: 1 after the first load, and it must stay 1. */
  navigations: () => number;
  /** Requests the page made, in order. */
  requests: Request[];
  /** Requests whose path (without the query) is `path`, optionally of one method. */
  requestsTo: (path: string, method?: string) => Request[];
  close: () => Promise<void>;
}

export interface OpenOptions {
  /** The shopper's user id for the fs_user cookie; null: no cookie. */
  userId: number | null;
  /** Removes window.WebSocket before the page runs, to force the /sale.js path. */
  noWebSocket?: boolean;
  /** Script run in the page before its own code, at every load. */
  initScript?: string;
}

export async function openShopperPage(browser: Browser, port: number, options: OpenOptions): Promise<ShopperPage> {
  const origin = `http://127.0.0.1:${port}`;
  const context = await browser.newContext({ viewport: PHONE_VIEWPORT });
  context.setDefaultTimeout(15_000);
  if (options.userId !== null) {
    await context.addCookies([{ name: 'fs_user', value: signToken(options.userId), url: origin }]);
  }
  // A string: the test code is compiled without the DOM's types.
  if (options.noWebSocket) await context.addInitScript('delete window.WebSocket;');
  if (options.initScript) await context.addInitScript(options.initScript);
  const page = await context.newPage();
  let navigations = 0;
  const requests: Request[] = [];
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations++; });
  page.on('request', (request) => requests.push(request));
  await page.goto(origin + '/');
  // Loaded: the first card is there.
  await page.waitForSelector('[data-item]');
  return {
    context, page, requests,
    navigations: () => navigations,
    requestsTo: (path, method) => requests.filter((r) =>
      new URL(r.url()).pathname === path && (!method || r.method() === method)),
    close: () => context.close(),
  };
}

/** The selector of an element with data-testid `testId` on the card of `itemId`. */
export function inCard(itemId: string, testId: string): string {
  return `[data-item="${itemId}"] [data-testid="${testId}"]`;
}

// The little of the DOM that the functions below run in the page use (the
// test code is compiled without the DOM's types).
declare const document: { querySelector(selector: string): { textContent: string | null; disabled?: boolean } | null };

/** Waits until the element's text matches; returns the text. */
export async function waitForText(page: Page, selector: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const handle = await page.waitForFunction(([sel, source, flags]) => {
    const text = document.querySelector(sel!)?.textContent ?? '';
    // An object, so that a match of the empty text is truthy too.
    return new RegExp(source!, flags).test(text) ? { text } : false;
  }, [selector, pattern.source, pattern.flags], { timeout: timeoutMs, polling: 25 });
  return ((await handle.jsonValue()) as { text: string }).text;
}

/** Waits until the button is enabled; returns the page's Date.now() at that moment (polled every 10 ms). */
export async function waitForEnabled(page: Page, selector: string, timeoutMs: number): Promise<number> {
  const handle = await page.waitForFunction((sel) => {
    const button = document.querySelector(sel);
    return button !== null && button.disabled === false ? Date.now() : 0;
  }, selector, { timeout: timeoutMs, polling: 10 });
  return (await handle.jsonValue()) as number;
}

/** Whether the button is disabled now. */
export async function isDisabled(page: Page, selector: string): Promise<boolean> {
  return page.$eval(selector, (button) => (button as unknown as { disabled: boolean }).disabled);
}
