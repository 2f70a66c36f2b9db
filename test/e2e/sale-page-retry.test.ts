// Proves that the sale page retries a buy with the same Idempotency-Key
// after a network error, and so gets the order the engine had already made
// rather than a second unit: in a real browser (Debian's chromium) against
// the real engine, the first buy request is passed to the engine and its
// answer then dropped as a network failure (playwright's route.fetch, then
// abort). The page must send the buy again with the same key, show the
// order the engine made the first time, and the engine must hold one order
// for the shopper, who could have bought five.

import t from 'tap';
import type { Browser, Route } from 'playwright-core';
import { inCard, launchChromium, openShopperPage, waitForText } from '../helpers/browser-page';
import { item, readOrders, startEngine, tempDataDir } from '../helpers/engine-process';

const USER = 77;

t.test('a buy whose answer was lost is sent again with its key and shows the first order', async (t) => {
  const dataDir = tempDataDir('page-retry');
  const engine = await startEngine({
    dataDir, sale: [item('lamp', { name: 'Lamp', stock: 5, perUserLimit: 5, startsAt: Date.now() - 1000 })],
  });
  let browser: Browser | null = null;
  t.teardown(async () => {
    await browser?.close();
    if (engine.proc.exitCode === null) await engine.stop();
  });
  browser = await launchChromium();
  const shopper = await openShopperPage(browser, engine.port, { userId: USER });
  const keys: string[] = [];
  let firstOrder: string | null = null;
  await shopper.page.route('**/api/buy/**', async (route: Route) => {
    keys.push(route.request().headers()['idempotency-key'] ?? '');
    if (firstOrder !== null) return route.continue();
    // The engine decides and answers; the page never sees that answer.
    const answer = await route.fetch();
    firstOrder = ((await answer.json()) as { order: string }).order;
    await route.abort('failed');
  });
  await shopper.page.waitForSelector(`${inCard('lamp', 'buy')}:not([disabled])`);
  await shopper.page.click(inCard('lamp', 'buy'));
  const shown = await waitForText(shopper.page, inCard('lamp', 'result'), /You won! Order \d+\./);
  t.ok(firstOrder !== null, 'the first send reached the engine and won');
  t.equal(keys.length, 2, 'the buy was sent twice: once lost, once again');
  t.match(keys[0], /^"[0-9a-f-]{32,36}"$/, 'with a key of its own, as an sf-string');
  t.equal(keys[1], keys[0], 'the resend carried the same key');
  t.equal(shown, `You won! Order ${firstOrder}.`, 'the page shows the order the first send made');
  await shopper.close();
  t.equal(await engine.stop(), 0, 'SIGTERM exits 0');
  const orders = readOrders(dataDir).filter((order) => order.user_id === USER);
  t.equal(orders.length, 1, 'the engine holds one order for the shopper, not two');
  t.equal(String(orders[0]?.id), firstOrder, 'and it is the order shown');
});
