// Proves the shopper's sale page in a real browser against the real engine:
// Debian's chromium (playwright-core) opens the page as signed-in shoppers
// (the fs_user cookie the shop would set) at a phone's width, and the engine
// runs a sale file whose items start a few seconds after boot. It checks the
// listing and the countdown, that Buy stays disabled until the start and
// enables at the start second without a reload (through the socket or
// /sale.js, and with WebSocket removed from the page altogether), winning,
// the per-user limit, sold out for a second shopper, duplicate clicks, the challenge, and
// paying and cancelling in reserve mode.

import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Browser } from 'playwright-core';
import {
  inCard, isDisabled, launchChromium, openShopperPage, waitForEnabled, waitForText, type ShopperPage,
} from '../helpers/browser-page';
import { challengeAnswer, challengeSecretOf } from '../../engine/challenge';
import {
  item, modeNamed, request, ROOT, signToken, startEngine, tempDataDir, type EngineHandle,
} from '../helpers/engine-process';

// Time for the engine and chromium to start and the pages to load before the
// items start; the start is then watched on pages that are already open.
// 15 s: with two HTTP threads on a loaded 2-core machine 9 s was once too few.
const START_DELAY_MS = 15_000;
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const TICKET_SECRET = 'e2e-ticket-secret-0123456789abcdefghij';

const startsAt = Date.now() + START_DELAY_MS;
const sale = [
  item('solo', { name: 'Solo lamp', price: 4999, stock: 1, startsAt }),
  item('multi', { name: 'Multi pack', price: 1250, stock: 5, startsAt }),
  item('hold', { name: 'Held phone', price: 99900, stock: 5, startsAt, mode: 'reserve', payWindowSec: 120 }),
  item('quiz', { name: 'Quiz watch', price: 15000, stock: 5, startsAt, challenge: true }),
  item('later', { name: 'Later kettle', price: 2000, stock: 3, startsAt: Date.now() + 7_200_000 }),
];

// One thread layout per run (a browser run takes long): by default shard
// workers fed by two HTTP threads, where the page's socket and its requests
// may each land on either thread; E2E_MODE names another layout of MODES.
const MODE = modeNamed(process.env.E2E_MODE ?? '--workers 2 --http-threads 2');

let engine: EngineHandle;
let browser: Browser;
const pages: ShopperPage[] = [];
let alice: ShopperPage; // user 1: the default page (socket when the engine has one, else /sale.js)
let bob: ShopperPage; // user 2: no WebSocket at all, /sale.js only

t.before(async () => {
  engine = await startEngine({ dataDir: tempDataDir('page'), args: [...MODE.args], sale,
    env: { FLASH_TICKET_SECRET: TICKET_SECRET } });
  browser = await launchChromium();
  alice = await openShopperPage(browser, engine.port, { userId: 1 });
  bob = await openShopperPage(browser, engine.port, { userId: 2, noWebSocket: true });
  pages.push(alice, bob);
});

// Runs even when a test failed: no browser or engine outlives the file.
t.teardown(async () => {
  for (const page of pages) await page.close().catch(() => undefined);
  await browser?.close();
  if (engine && engine.proc.exitCode === null) await engine.kill();
});

t.test('the page lists every item with its price, stock, limit, state and a countdown', async (t) => {
  const { page } = alice;
  t.same(await page.$$eval('[data-item]',
    (cards) => cards.map((c) => (c as unknown as { dataset: { item: string } }).dataset.item)),
    ['solo', 'multi', 'hold', 'quiz', 'later'], 'one card per item, in the engine\'s order');
  t.equal(await page.textContent('[data-item="hold"] h2'), 'Held phone');
  t.equal(await page.textContent(inCard('hold', 'price')), '999.00', 'the price in major units');
  t.equal(await page.textContent(inCard('solo', 'left')), '1 of 1 left');
  t.equal(await page.textContent(inCard('solo', 'state')), 'Upcoming');
  t.match(await page.textContent(inCard('later', 'countdown')), /^Starts in (2:00:00|1:59:[0-5][0-9])$/,
    'two hours away shows hours');
  const offsetMs = await page.evaluate('window.__flash.offsetMs') as number;
  t.ok(Number.isInteger(offsetMs) && Math.abs(offsetMs) < 1000,
    `the clock offset against the engine on the same machine is small (${offsetMs} ms)`);
  t.ok(await page.evaluate('document.documentElement.scrollWidth <= 390'), 'nothing is wider than a phone');
  const assets = alice.requests.map((r) => new URL(r.url()).pathname).filter((p) => /\.(js|css)$/.test(p));
  for (const [name, ext] of [['page', 'css'], ['msgpack', 'js'], ['page', 'js']]) {
    t.ok(assets.some((p) => new RegExp(`^/${name}\\.[A-Za-z0-9_-]+\\.${ext}$`).test(p)),
      `${name}.${ext} is loaded by its fingerprinted name (${assets.join(', ')})`);
  }
  t.equal(await page.getAttribute(inCard('solo', 'result'), 'aria-live'), 'polite', 'results are announced');
});

t.test('the countdown runs and Buy stays disabled before the start', async (t) => {
  const { page } = alice;
  const first = await page.textContent(inCard('solo', 'countdown'));
  t.match(first, /^Starts in 00:[01][0-9]$/);
  const second = await waitForText(page, inCard('solo', 'countdown'), new RegExp(`^(?!${first}$)`), 2_000);
  t.not(second, first, `the countdown moved on (${first} → ${second})`);
  t.ok(Date.now() < startsAt - 500, 'still well before the start');
  t.ok(await isDisabled(page, inCard('solo', 'buy')), 'Buy is disabled before the start');
  t.ok(await isDisabled(bob.page, inCard('solo', 'buy')), 'also on the page without WebSocket');
  t.ok(await isDisabled(page, inCard('later', 'buy')), 'and on the item two hours away');
});

t.test('at the start second Buy enables without a reload, with or without WebSocket', async (t) => {
  t.equal(await alice.page.evaluate('window.__flash.socketOpen'), true,
    'the default page has its socket open before the start');
  t.equal(await bob.page.evaluate('window.__flash.socketOpen'), false, 'the page without WebSocket has none');
  await alice.page.evaluate('window.__marker = "still here"');
  await bob.page.evaluate('window.__marker = "still here"');
  const timeoutMs = startsAt - Date.now() + 5_000;
  const [aliceAt, bobAt] = await Promise.all([
    waitForEnabled(alice.page, inCard('solo', 'buy'), timeoutMs),
    waitForEnabled(bob.page, inCard('solo', 'buy'), timeoutMs),
  ]);
  const shoppers = [['default page', alice, aliceAt], ['page without WebSocket', bob, bobAt]] as const;
  for (const [name, shopper, at] of shoppers) {
    // The page's clock is the machine's, as is the engine's: no offset to allow for.
    t.ok(at >= startsAt - 50, `${name}: not before the start (${at - startsAt} ms)`);
    t.ok(at <= startsAt + 2_000, `${name}: within two seconds of the start (${at - startsAt} ms)`);
    t.equal(await shopper.page.evaluate('window.__marker'), 'still here', `${name}: the page was not reloaded`);
    t.equal(shopper.navigations(), 1, `${name}: one navigation, the first load`);
    t.equal(shopper.requestsTo('/', 'GET').length, 1, `${name}: the document was fetched once`);
    t.ok(shopper.requestsTo('/sale.js').length <= 6,
      `${name}: a few /sale.js fetches at most (${shopper.requestsTo('/sale.js').length})`);
    t.equal(await shopper.page.textContent(inCard('solo', 'state')), 'Live');
    t.ok(await isDisabled(shopper.page, inCard('later', 'buy')), `${name}: the later item stays disabled`);
  }
  t.equal(await alice.page.evaluate('window.__flash.startedBy.solo'), 'push',
    'the default page learned the start from the socket\'s push');
  t.equal(alice.requestsTo('/sale.js').length, 0, 'and fetched no /sale.js');
  t.equal(await bob.page.evaluate('window.__flash.startedBy.solo'), 'sale.js',
    'without WebSocket the start came from /sale.js');
  t.ok(bob.requestsTo('/sale.js').every((r) => /^\?v=\d+$/.test(new URL(r.url()).search)),
    '/sale.js is fetched with ?v=<Date.now()>');
});

t.test('a buy wins and shows the order; a second buy shows the limit', async (t) => {
  const { page } = alice;
  await page.click(inCard('multi', 'buy'));
  const won = await waitForText(page, inCard('multi', 'result'), /You won! Order \d+\./);
  t.pass(won);
  t.equal(await waitForText(page, inCard('multi', 'left'), /^4 of 5 left$/, 2_000), '4 of 5 left',
    'the count shows the unit won, counted once');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'won.png'), fullPage: true });
  t.ok(await isDisabled(page, inCard('multi', 'buy')) === false,
    'Buy is enabled again: the server decides about the limit');
  await page.click(inCard('multi', 'buy'));
  t.pass(await waitForText(page, inCard('multi', 'result'), /^Limit reached/));
  t.equal(alice.requestsTo('/api/buy/multi/' + (await ticketOf('multi')), 'POST').length, 2, 'two clicks, two buys');
});

t.test('when one shopper wins a stock-1 item, another sees it sold out', async (t) => {
  await alice.page.click(inCard('solo', 'buy'));
  t.pass(await waitForText(alice.page, inCard('solo', 'result'), /You won! Order \d+\./));
  // Bob's page may already know (a refresh or a push can land first and
  // disable Buy); if not, his click is answered sold out. Either way his card
  // must end up showing it. The click runs in the page, so it is a no-op on a
  // button that was disabled, instead of Playwright waiting for it.
  await bob.page.$eval(inCard('solo', 'buy'), (button) => (button as unknown as { click(): void }).click());
  t.equal(await waitForText(bob.page, inCard('solo', 'state'), /^Sold out$/, 5_000), 'Sold out',
    'the card shows the item sold out');
  t.ok(await isDisabled(bob.page, inCard('solo', 'buy')), 'and Buy is disabled');
  const bobsBuys = bob.requests.filter((r) =>
    r.method() === 'POST' && new URL(r.url()).pathname.startsWith('/api/buy/solo/'));
  if (bobsBuys.length > 0) {
    t.equal((await bobsBuys[0]!.response())?.status(), 409, 'his buy was refused');
    t.match(await bob.page.textContent(inCard('solo', 'result')), /^Sold out/, 'and the refusal says sold out');
  }
  // The winner's page hears it from the sold_out push, up to 100 ms after the win.
  t.equal(await waitForText(alice.page, inCard('solo', 'state'), /^Sold out$/, 2_000), 'Sold out',
    'the winner\'s card shows it sold out too');
});

t.test('clicks while a buy is in flight send no second buy', async (t) => {
  const carol = await openShopperPage(browser, engine.port, { userId: 3 });
  pages.push(carol);
  await waitForEnabled(carol.page, inCard('multi', 'buy'), 5_000);
  // Five clicks in one task: the first disables the button before the rest.
  await carol.page.$eval(inCard('multi', 'buy'), (button) => {
    for (let i = 0; i < 5; i++) (button as unknown as { click(): void }).click();
  });
  t.pass(await waitForText(carol.page, inCard('multi', 'result'), /You won/));
  t.equal(carol.requestsTo('/api/buy/multi/' + (await ticketOf('multi')), 'POST').length, 1, 'one buy was sent');
  // Alice's page (socket open, so not polling) hears of Carol's unit by a stock push.
  t.equal(await waitForText(alice.page, inCard('multi', 'left'), /^3 of 5 left$/, 2_000), '3 of 5 left',
    'an open page shows the new count within two seconds');
  t.ok(alice.requestsTo('/api/items').length <= 2,
    'without polling: the first load and one catch-up when the socket opened');
});

t.test('reserve mode: a win shows a pay-by countdown; Pay makes it paid, Cancel cancels', async (t) => {
  await alice.page.click(inCard('hold', 'buy'));
  await waitForText(alice.page, inCard('hold', 'result'), /You won! Order \d+\./);
  t.match(await waitForText(alice.page, inCard('hold', 'pay-by'), /^Pay within/), /^Pay within (02:00|01:5[0-9])$/,
    'the pay window counts down from two minutes');
  t.match(await alice.page.textContent(inCard('hold', 'order-state')), /Reserved/);
  await alice.page.click(inCard('hold', 'pay'));
  t.pass(await waitForText(alice.page, inCard('hold', 'result'), /^Paid\. Order \d+ is yours\./));
  t.match(await alice.page.textContent(inCard('hold', 'order-state')), /: Paid$/);
  t.notOk(await alice.page.isVisible(inCard('hold', 'pay')), 'Pay is gone once paid');
  const alicesOrder = /Order (\d+)/.exec((await alice.page.textContent(inCard('hold', 'order-state')))!)![1]!;
  t.equal((await request(engine.port, 'GET', `/api/orders/${alicesOrder}`, { token: signToken(1) })).json.state, 'paid',
    'the engine has it paid');

  await bob.page.click(inCard('hold', 'buy'));
  await waitForText(bob.page, inCard('hold', 'pay-by'), /^Pay within/);
  await bob.page.click(inCard('hold', 'cancel'));
  t.pass(await waitForText(bob.page, inCard('hold', 'result'), /cancelled; the unit went back on sale/));
  t.match(await bob.page.textContent(inCard('hold', 'order-state')), /: Cancelled$/);
  const bobsOrder = /Order (\d+)/.exec((await bob.page.textContent(inCard('hold', 'order-state')))!)![1]!;
  t.equal((await request(engine.port, 'GET', `/api/orders/${bobsOrder}`, { token: signToken(2) })).json.state,
    'cancelled', 'the engine has it cancelled');
});

t.test('a challenge item shows its question as an image, asks again after challenge_failed, and wins with the answer',
  async (t) => {
  const { page } = alice;
  const challengeReply = () => page.waitForResponse((r) => new URL(r.url()).pathname === '/api/items/quiz/challenge');
  const buyBodies: unknown[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname.startsWith('/api/buy/quiz/')) {
      buyBodies.push(JSON.parse(r.postData() ?? 'null'));
    }
  });

  const [first] = await Promise.all([challengeReply(), page.click(inCard('quiz', 'buy'))]);
  const one = await first.json() as { challenge: string; question: string };
  await page.waitForSelector(inCard('quiz', 'answer'), { state: 'visible' });
  t.equal(await page.getAttribute(inCard('quiz', 'question'), 'src'),
    'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(one.question), 'the SVG question is shown as an image');
  t.ok(await page.$eval(inCard('quiz', 'question'),
    (img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0), 'and the browser draws it');
  t.ok(await isDisabled(page, inCard('quiz', 'buy')), 'Buy is disabled while the question is open');

  // A wrong answer (the right one with its first digit changed) is refused.
  const wrong = answerOf(one.challenge, 1).replace(/^./, (d) => String((Number(d) + 1) % 10));
  await page.fill(inCard('quiz', 'answer'), wrong);
  const [second] = await Promise.all([challengeReply(), page.click(inCard('quiz', 'submit-answer'))]);
  const two = await second.json() as { challenge: string; question: string };
  t.pass(await waitForText(page, inCard('quiz', 'result'), /not accepted\. Here is a new question/));
  t.equal(await page.inputValue(inCard('quiz', 'answer')), '', 'the answer field is cleared');
  t.not(two.challenge, one.challenge, 'a new challenge was fetched');
  t.equal(await page.getAttribute(inCard('quiz', 'question'), 'src'),
    'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(two.question), 'and its question shown');

  // The engine refuses answers given within a second of the question (a bot's speed).
  const issuedMs = Number(two.challenge.split('.')[0]);
  await sleep(Math.max(0, issuedMs + 1_100 - Date.now()));
  await page.fill(inCard('quiz', 'answer'), ` ${answerOf(two.challenge, 1)} `);
  await page.press(inCard('quiz', 'answer'), 'Enter');
  t.pass(await waitForText(page, inCard('quiz', 'result'), /You won! Order \d+\./));
  t.same(buyBodies,
    [{ challenge: one.challenge, answer: wrong }, { challenge: two.challenge, answer: answerOf(two.challenge, 1) }],
    'each buy carried its challenge and the trimmed answer as JSON');
  t.notOk(await page.isVisible(inCard('quiz', 'challenge')), 'the question is closed after the win');
});

t.test('a page with neither token nor cookie asks the shopper to sign in', async (t) => {
  const anonymous = await openShopperPage(browser, engine.port, { userId: null });
  pages.push(anonymous);
  t.match(await waitForText(anonymous.page, '#notice', /sign in on the shop site/), /Please sign in/);
  t.ok(await anonymous.page.isVisible('#notice'));
  await anonymous.page.click(inCard('multi', 'buy'));
  t.pass(await waitForText(anonymous.page, inCard('multi', 'result'), /^Please sign in on the shop site/));
});

t.test('the engine stops cleanly after serving the pages', async (t) => {
  t.equal(await engine.stop(), 0);
});

/**
 * The answer the engine expects, worked out as the engine does from the
 * ticket secret this test gave it (an operator's secret: neither the page nor
 * the browser has it, and the SVG draws the digits as strokes, not text).
 */
function answerOf(challenge: string, userId: number): string {
  const [issuedMs, nonce] = challenge.split('.') as [string, string];
  return challengeAnswer(challengeSecretOf(TICKET_SECRET), 'quiz', userId, Number(issuedMs), nonce);
}

/** The ticket part of an item's buy path (the engine's, to match request URLs). */
async function ticketOf(itemId: string): Promise<string> {
  const reply = await request(engine.port, 'GET', `/api/items/${itemId}/ticket`);
  return (reply.json.buyPath as string).split('/').pop()!;
}
