// Proves the sale page's waitlist in a real browser (Debian's chromium)
// against the real engine: a shopper who finds a reserve-mode item with a
// waitlist sold out is offered "Join the waitlist", sees their place and how
// many are ahead; when the holder cancels, the WebSocket's `waitlist` push
// makes the page fetch its offer and show "A unit is held for you until
// HH:MM:SS" with Pay, and paying makes the unit the shopper's, as the
// engine confirms.

import t from 'tap';
import type { Browser } from 'playwright-core';
import { inCard, launchChromium, openShopperPage, waitForText } from '../helpers/browser-page';
import { buyPathOf, item, request, signToken, startEngine, tempDataDir } from '../helpers/engine-process';

const HOLDER = 1;
const SHOPPER = 2;

t.test('a sold-out shopper joins the waitlist, gets the returned unit pushed, and pays', async (t) => {
  const engine = await startEngine({ dataDir: tempDataDir('page-waitlist'), sale: [item('drop', {
    name: 'Drop sneaker', stock: 1, mode: 'reserve', payWindowSec: 600, waitlist: true, startsAt: Date.now() - 1000,
  })] });
  let browser: Browser | null = null;
  t.teardown(async () => {
    await browser?.close();
    if (engine.proc.exitCode === null) await engine.stop();
  });
  const won = await request(engine.port, 'POST', await buyPathOf(engine.port, 'drop'), { token: signToken(HOLDER) });
  t.equal(won.status, 200, 'the holder reserves the only unit');
  browser = await launchChromium();
  const shopper = await openShopperPage(browser, engine.port, { userId: SHOPPER });
  const { page } = shopper;
  await page.waitForSelector(`${inCard('drop', 'join-waitlist')}:not([disabled])`);
  await page.click(inCard('drop', 'join-waitlist'));
  t.equal(await waitForText(page, inCard('drop', 'waitlist-place'), /number 1/),
    'You are number 1 on the waitlist; 0 ahead of you.');
  await page.waitForFunction('window.__flash.socketOpen === true');
  const cancel = await request(engine.port, 'POST', `/api/orders/${won.json.order as string}/cancel`,
    { token: signToken(HOLDER) });
  t.equal(cancel.status, 200);
  const held = await waitForText(page, inCard('drop', 'result'), /A unit is held for you until/);
  t.match(held, /^A unit is held for you until \d\d:\d\d:\d\d\. Pay to keep it\.$/);
  t.match(await page.textContent(inCard('drop', 'order-state')), /^Order \d+: Reserved: pay to keep it$/);
  await page.click(inCard('drop', 'pay'));
  await waitForText(page, inCard('drop', 'result'), /^Paid\. Order \d+ is yours\.$/);
  const offer = await request(engine.port, 'GET', '/api/items/drop/waitlist', { token: signToken(SHOPPER) });
  const order = await request(engine.port, 'GET', `/api/orders/${offer.json.order as string}`,
    { token: signToken(SHOPPER) });
  t.same([order.json.state, order.json.user], ['paid', SHOPPER], 'the engine says the shopper paid for the unit');
  t.equal(shopper.navigations(), 1, 'the page never reloaded');
  await shopper.close();
});
