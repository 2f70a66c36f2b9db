// Proves the sale page's identity and retry paths in a real browser against
// the real engine in demo mode (no FLASH_USER_SECRET) with a per-user buy
// rate of one a second: the page gets its own token from /api/demo/token and
// keeps it, replaces a token the engine no longer accepts, and retries a
// rate-limited buy by itself after the Retry-After the engine sent.

import t from 'tap';
import type { Browser } from 'playwright-core';
import {
  inCard, launchChromium, openShopperPage, waitForEnabled, waitForText, type ShopperPage,
} from '../helpers/browser-page';
import { item, modeNamed, startEngine, tempDataDir, type EngineHandle } from '../helpers/engine-process';

// One thread layout per run (a browser run takes long): by default shard
// workers fed by two HTTP threads, where the page's socket and its requests
// may each land on either thread; E2E_MODE names another layout of MODES.
const MODE = modeNamed(process.env.E2E_MODE ?? '--workers 2 --http-threads 2');

let engine: EngineHandle;
let browser: Browser;
const pages: ShopperPage[] = [];

t.before(async () => {
  engine = await startEngine({
    dataDir: tempDataDir('page-demo'), args: [...MODE.args],
    sale: [item('twice', { name: 'Two per shopper', stock: 10, perUserLimit: 2 })],
    env: { FLASH_USER_SECRET: '', FLASH_RATE_USER_PER_SEC: '1', FLASH_RATE_USER_BURST: '1' },
  });
  browser = await launchChromium();
});

t.teardown(async () => {
  for (const page of pages) await page.close().catch(() => undefined);
  await browser?.close();
  if (engine && engine.proc.exitCode === null) await engine.kill();
});

t.test('in demo mode the page gets its own token and keeps it across a reload', async (t) => {
  t.ok(engine.lines.some((line) => String(line.msg).startsWith('DEMO MODE')), 'the engine is in demo mode');
  const shopper = await openShopperPage(browser, engine.port, { userId: null });
  pages.push(shopper);
  const token = await shopper.page.evaluate('localStorage.getItem("fs_token")') as string;
  t.match(token, /^v1\.\d+\.\d+\.[A-Za-z0-9_-]+$/, 'a signed token is stored');
  t.equal(shopper.requestsTo('/api/demo/token').length, 1);
  t.notOk(await shopper.page.isVisible('#notice'), 'no sign-in notice');
  await shopper.page.reload();
  await shopper.page.waitForSelector('[data-item]');
  t.equal(await shopper.page.evaluate('localStorage.getItem("fs_token")'), token, 'the same token after a reload');
  t.equal(shopper.requestsTo('/api/demo/token').length, 1, 'no second token was asked for');
});

t.test('a rate-limited buy waits for Retry-After, retries by itself and wins', async (t) => {
  const shopper = await openShopperPage(browser, engine.port, { userId: null });
  pages.push(shopper);
  const buys: { sentAt: number; status: number; answeredAt: number }[] = [];
  shopper.page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname.startsWith('/api/buy/')) {
      const buy = { sentAt: Date.now(), status: 0, answeredAt: 0 };
      buys.push(buy);
      void request.response().then((response) => {
        buy.status = response?.status() ?? 0;
        buy.answeredAt = Date.now();
      });
    }
  });
  await waitForEnabled(shopper.page, inCard('twice', 'buy'), 5_000);
  await shopper.page.click(inCard('twice', 'buy'));
  await waitForText(shopper.page, inCard('twice', 'result'), /You won/);
  // The one-a-second bucket is empty now: the next buy is refused 429.
  await shopper.page.click(inCard('twice', 'buy'));
  t.pass(await waitForText(shopper.page, inCard('twice', 'result'), /^Too many tries at once: retrying in 1 s/, 5_000));
  t.pass(await waitForText(shopper.page, inCard('twice', 'result'), /You won/, 10_000));
  t.equal(buys[1]!.status, 429, 'the second buy was rate limited');
  t.equal(buys.at(-1)!.status, 200, 'the last retry won');
  for (let i = 2; i < buys.length; i++) {
    const waitedMs = buys[i]!.sentAt - buys[i - 1]!.answeredAt;
    t.ok(waitedMs >= 1000, `retry ${i - 1} waited the Retry-After second (${waitedMs} ms)`);
  }
});

t.test('a token the engine no longer accepts is replaced and the buy goes through', async (t) => {
  // The same for a token from an earlier boot, whose random demo secret is gone.
  const shopper = await openShopperPage(browser, engine.port,
    { userId: null, initScript: 'localStorage.setItem("fs_token", "v1.5.9999999999.forged");' });
  pages.push(shopper);
  await waitForEnabled(shopper.page, inCard('twice', 'buy'), 5_000);
  await shopper.page.click(inCard('twice', 'buy'));
  t.pass(await waitForText(shopper.page, inCard('twice', 'result'), /You won/));
  t.not(await shopper.page.evaluate('localStorage.getItem("fs_token")'), 'v1.5.9999999999.forged',
    'a fresh token was stored');
  t.equal(shopper.requestsTo('/api/demo/token').length, 1, 'after one 401 the page asked for a new token');
});

t.test('the engine stops cleanly after serving the pages', async (t) => {
  t.equal(await engine.stop(), 0);
});
