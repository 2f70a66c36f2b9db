// Proves what a shopper sees of a fair start window in a real browser
// (Debian's chromium) against the real engine: the card says that buys in
// the first seconds are drawn; a buy inside the window shows "You are in
// the draw" with the time of the result; after the close the page asks for
// its result by itself and shows the win with its place and order, which
// is the order the engine holds for the shopper.

import t from 'tap';
import type { Browser } from 'playwright-core';
import { inCard, launchChromium, openShopperPage, waitForText } from '../helpers/browser-page';
import { item, readOrders, startEngine, tempDataDir } from '../helpers/engine-process';

const USER = 91;
const WINDOW_MS = 6000;

t.test('a buy inside a fair window shows the entry, then the result of the draw', async (t) => {
  const dataDir = tempDataDir('page-fair');
  // The page is up before the start, and the window is long enough for a loaded machine's click.
  const engine = await startEngine({
    dataDir, sale: [item('drop', { name: 'Drop', stock: 3, startsAt: Date.now() + 4000, fairWindowMs: WINDOW_MS })],
  });
  let browser: Browser | null = null;
  t.teardown(async () => {
    await browser?.close();
    if (engine.proc.exitCode === null) await engine.stop();
  });
  browser = await launchChromium();
  const shopper = await openShopperPage(browser, engine.port, { userId: USER });
  await waitForText(shopper.page, `[data-item="drop"] .limit`, /fair start: buys in the first 6 s are drawn/);
  await shopper.page.waitForSelector(`${inCard('drop', 'buy')}:not([disabled])`, { timeout: 15_000 });
  await shopper.page.click(inCard('drop', 'buy'));
  const entered = await waitForText(shopper.page, inCard('drop', 'result'), /You are in the draw\. Result at /);
  t.match(entered, /Result at \d/, 'the page says when the result comes');
  const shown = await waitForText(shopper.page, inCard('drop', 'result'), /You won the draw \(place 1\)! Order \d+\./,
    WINDOW_MS + 10_000);
  await shopper.close();
  t.equal(await engine.stop(), 0, 'SIGTERM exits 0');
  const orders = readOrders(dataDir).filter((order) => order.user_id === USER);
  t.equal(orders.length, 1, 'the engine holds the one order the draw gave the shopper');
  t.equal(shown, `You won the draw (place 1)! Order ${orders[0]!.id}.`, 'and the page shows it');
});
