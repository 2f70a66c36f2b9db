// The shopper's sale page. It never reloads itself: the start of an item is
// learned from the WebSocket `start` push or, where no socket is up, from one
// fetch of /sale.js at the start second (server clock), so a crowd of open
// pages does not turn into a storm of reloads. Contract: shared/spec/API.md.
'use strict';
(() => {
  const TIME_SAMPLES = 5; // clock samples; the one with the smallest round trip wins
  const START_JITTER_MS = 200; // spreads a crowd's /sale.js fetches over a fifth of a second
  const START_RETRIES = 6; // /sale.js fetches per start before waiting for the 10 s refresh
  const START_RETRY_MS = 400;
  const PUSH_GRACE_MS = 1500; // with a socket, how long a start push may be late before /sale.js
  const REFRESH_MS = 10_000; // /api/items polling while no socket is up
  const BUY_RETRIES = 8; // automatic retries of a 429/503 buy
  const NETWORK_RETRIES = 4; // resends of a buy whose answer was lost, with its Idempotency-Key
  const TICKET_RETRIES = 5;
  const SOCKET_BACKOFF_MAX_MS = 30_000;
  const TICK_MS = 200;
  const ENTRY_POLL_MS = 500; // how often an entrant of a fair window asks for its result after the draw
  const ENTRY_POLLS = 20;

  // Tests read this; offsetMs is server clock minus local clock.
  const flash = (window.__flash = { offsetMs: 0, socketOpen: false, startedBy: {} });
  const items = new Map(); // id -> item record (server fields + page state + card elements)
  let token = null;
  let tokenFromDemo = false;
  let socketFailures = 0;
  let saleScriptLoading = null;

  const serverNow = () => Date.now() + flash.offsetMs;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const jitter = (ms) => Math.floor(Math.random() * ms);
  const $ = (id) => document.getElementById(id);

  // ---- Identity -----------------------------------------------------------

  function cookieToken() {
    const match = document.cookie.match(/(?:^|;\s*)fs_user=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : null;
  }

  /** The demo token (stored), else the shop's fs_user cookie, else null. */
  async function identify() {
    const stored = localStorage.getItem('fs_token');
    if (stored) { tokenFromDemo = true; return stored; }
    try {
      const reply = await fetch('/api/demo/token', { cache: 'no-store' });
      if (reply.ok) {
        const body = await reply.json();
        localStorage.setItem('fs_token', body.token);
        tokenFromDemo = true;
        return body.token;
      }
    } catch { /* no demo route reachable: fall through to the cookie */ }
    tokenFromDemo = false;
    return cookieToken();
  }

  function showSignIn(show) {
    const notice = $('notice');
    notice.textContent = 'Please sign in on the shop site to buy.';
    notice.hidden = !show;
  }

  // ---- HTTP ---------------------------------------------------------------

  /**
   * One API call; never throws: a network failure is status 0, error
   * "network". `key`, for a buy, is its Idempotency-Key (an sf-string).
   */
  async function api(method, path, body, key) {
    const headers = {};
    // Without a readable token the fs_user cookie (maybe httpOnly) still goes along.
    if (token) headers.authorization = 'Bearer ' + token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers['idempotency-key'] = '"' + key + '"';
    let reply;
    try {
      reply = await fetch(path, { method, headers, body, cache: 'no-store' });
    } catch {
      return { status: 0, json: { error: 'network' }, retryAfter: 0 };
    }
    let json = {};
    try { json = await reply.json(); } catch { /* not JSON: json stays empty */ }
    const retryAfter = Number(reply.headers.get('retry-after'));
    return { status: reply.status, json, retryAfter: Number.isFinite(retryAfter) ? retryAfter : 0 };
  }

  /** api(), and on a 401 with a stale demo token, one retry with a fresh token. */
  async function authedApi(method, path, body, key) {
    let reply = await api(method, path, body, key);
    if (reply.status === 401 && tokenFromDemo) {
      localStorage.removeItem('fs_token');
      token = await identify();
      reply = await api(method, path, body, key);
    }
    if (reply.status === 401) showSignIn(true);
    return reply;
  }

  // ---- Clock --------------------------------------------------------------

  /** NTP's rule: offset = serverNow - (t0 + rtt/2), from the sample with the smallest rtt. */
  async function syncClock() {
    let best = null;
    for (let i = 0; i < TIME_SAMPLES; i++) {
      try {
        const t0 = Date.now();
        const p0 = performance.now();
        const reply = await fetch('/api/time', { cache: 'no-store' });
        const { now } = await reply.json();
        const rtt = performance.now() - p0;
        if (best === null || rtt < best.rtt) best = { rtt, offset: now - (t0 + rtt / 2) };
      } catch { /* a lost sample is simply not counted */ }
    }
    if (best !== null) flash.offsetMs = Math.round(best.offset);
  }

  // ---- Items --------------------------------------------------------------

  async function loadItems() {
    const reply = await api('GET', '/api/items');
    if (reply.status === 200 && Array.isArray(reply.json.items)) {
      reply.json.items.forEach((data) => applyServerItem(data, 'list'));
    }
  }

  /** Takes an item's state from /api/items or /sale.js; `buyPath` only comes from /sale.js. */
  function applyServerItem(data, via) {
    let item = items.get(data.id);
    if (!item) item = createCard(data);
    else if (item.startsAt !== data.startsAt) resetStart(item); // an admin moved the start: a new round
    Object.assign(item, {
      name: data.name, price: data.price, stock: data.stock, left: data.left, perUserLimit: data.perUserLimit,
      startsAt: data.startsAt, endsAt: data.endsAt, mode: data.mode, challenge: data.challenge,
      waitlist: data.waitlist === true,
      fairWindowMs: data.fairWindowMs || 0,
    });
    // A place taken before this page loaded (a reload, another tab) is looked up once.
    if (item.waitlist && item.place === undefined) { item.place = null; void fetchPlace(item); }
    if (data.state === 'ended') item.ended = true;
    // A stale list may still say "upcoming" after we know better: started never goes back.
    if (data.state !== 'upcoming') markStarted(item, data.buyPath, via);
    render(item);
  }

  function resetStart(item) {
    item.started = false;
    item.buyPath = null;
    item.startTimer = null;
    item.ended = false;
  }

  /** The server told us the item started; get its buy path if we do not have it yet. */
  function markStarted(item, buyPath, via) {
    if (!item.started) flash.startedBy[item.id] = via;
    item.started = true;
    if (buyPath) item.buyPath = buyPath;
    else if (!item.buyPath && !item.ended) void fetchTicket(item);
    render(item);
  }

  async function fetchTicket(item) {
    if (item.ticketLoading) return;
    item.ticketLoading = true;
    try {
      for (let attempt = 0; attempt < TICKET_RETRIES && !item.buyPath; attempt++) {
        const reply = await api('GET', `/api/items/${encodeURIComponent(item.id)}/ticket`);
        if (reply.status === 200) item.buyPath = reply.json.buyPath;
        else if (reply.json.error === 'ended') item.ended = true;
        else if (reply.json.error !== 'not_started' && reply.status !== 0 && reply.status < 500) break;
        if (item.ended) break;
        if (!item.buyPath) await sleep(START_RETRY_MS + jitter(START_JITTER_MS));
      }
    } finally {
      item.ticketLoading = false;
      render(item);
    }
  }

  // ---- The start second ---------------------------------------------------

  /** Called by the tick for items whose start is less than two seconds away. */
  function scheduleStart(item) {
    if (item.startTimer || item.started) return;
    const delayMs = Math.max(0, item.startsAt - serverNow()) + jitter(START_JITTER_MS);
    item.startTimer = setTimeout(() => {
      // With a socket the push is coming; /sale.js only if it is late or lost.
      if (flash.socketOpen) setTimeout(() => { if (!item.started) void loadSaleScript(0); },
        PUSH_GRACE_MS + jitter(START_JITTER_MS));
      else void loadSaleScript(0);
    }, delayMs);
  }

  /** Loads /sale.js as a script (no reload, no eval) and applies its states; retries while a due item is missing. */
  function loadSaleScript(attempt) {
    if (saleScriptLoading) return saleScriptLoading;
    saleScriptLoading = new Promise((resolve) => {
      // A failed load must not re-apply the states of an earlier one.
      window.FLASH_SALE = undefined;
      const script = document.createElement('script');
      script.src = '/sale.js?v=' + Date.now();
      script.onload = script.onerror = () => {
        script.remove();
        const sale = window.FLASH_SALE;
        if (sale && Array.isArray(sale.items)) sale.items.forEach((data) => applyServerItem(data, 'sale.js'));
        resolve();
      };
      document.head.appendChild(script);
    }).then(() => {
      saleScriptLoading = null;
      const waiting = [...items.values()].some((item) => !item.started && !item.ended && item.startsAt <= serverNow());
      if (waiting && attempt + 1 < START_RETRIES) {
        setTimeout(() => void loadSaleScript(attempt + 1), START_RETRY_MS + jitter(START_JITTER_MS));
      }
    });
    return saleScriptLoading;
  }

  // ---- WebSocket pushes ---------------------------------------------------

  function connectSocket() {
    // No WebSocket at all: /sale.js at the start second and polling do the work.
    if (typeof window.WebSocket !== 'function' || !window.MsgPack) return;
    const url = location.origin.replace(/^http/, 'ws') + '/ws' + (token ? '?token=' + encodeURIComponent(token) : '');
    let socket;
    try {
      socket = new WebSocket(url);
    } catch {
      reconnectLater();
      return;
    }
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      socketFailures = 0;
      setSocketOpen(true);
      // Pushes sent while we were away are lost: catch up once.
      void loadItems();
    };
    socket.onmessage = (event) => {
      let message;
      try { message = window.MsgPack.decode(new Uint8Array(event.data)); } catch { return; }
      if (message && typeof message === 'object') onPush(message);
    };
    socket.onclose = () => {
      setSocketOpen(false);
      reconnectLater();
    };
  }

  function reconnectLater() {
    socketFailures++;
    const delayMs = Math.min(SOCKET_BACKOFF_MAX_MS, 1000 * 2 ** Math.min(socketFailures - 1, 5));
    setTimeout(connectSocket, delayMs / 2 + jitter(delayMs / 2));
  }

  function setSocketOpen(open) {
    flash.socketOpen = open;
    $('connection').textContent = open ? 'Live updates on' : 'Live updates every 10 s';
  }

  function onPush(message) {
    const item = items.get(message.item);
    if (!item) {
      // An item we have not seen (created after load): the list has it.
      if (typeof message.item === 'string') void loadItems();
      return;
    }
    if (message.op === 'start') markStarted(item, message.buyPath, 'push');
    else if (message.op === 'stock' && typeof message.left === 'number') item.left = message.left;
    else if (message.op === 'sold_out') item.left = 0;
    else if (message.op === 'ended') item.ended = true;
    else if (message.op === 'waitlist' && typeof message.served === 'number') onServed(item, message.served);
    render(item);
  }

  // ---- Buying -------------------------------------------------------------

  const MESSAGES = {
    sold_out: 'Sold out: every unit has been sold.',
    limit_reached: 'Limit reached: you already hold the most units allowed per shopper.',
    ended: 'The sale of this item has ended.',
    not_started: 'The sale has not started yet.',
    bad_ticket: 'This sale link is out of date; fetching a new one. Please try again.',
    unauthorized: 'Please sign in on the shop site to buy.',
    banned: 'This account cannot buy in this sale.',
    paused: 'The sale of this item is paused. Please try again shortly.',
    unknown_item: 'This item is no longer on sale.',
    challenge_failed: 'That answer was not accepted. Here is a new question.',
    expired: 'The reservation expired and the unit went back on sale.',
    cancelled: 'This order was cancelled.',
    already_paid: 'This order is already paid.',
    network: 'Network error: please check your connection and try again.',
    not_sold_out: 'Units are on sale again: buy now.',
    no_waitlist: 'This item has no waitlist.',
    waitlist_full: 'The waitlist is full.',
  };
  const BUSY = {
    rate_limited: 'Too many tries at once', overloaded: 'The shop is very busy',
    shutting_down: 'The shop is restarting', in_progress: 'Your buy is still being decided',
  };

  function say(item, text, kind) {
    item.el.result.textContent = text;
    item.el.result.className = 'result' + (kind ? ' ' + kind : '');
  }

  function sayError(item, reply) {
    const code = reply.json.error || 'http_' + reply.status;
    say(item, MESSAGES[code] || `Something went wrong (${code}). Please try again.`, 'error');
  }

  async function onBuyClick(item) {
    if (item.phase !== 'idle' || !item.buyPath) return; // a click while one is in flight is ignored
    if (item.challenge) return askChallenge(item, '');
    await buy(item, undefined);
  }

  /**
   * A fresh Idempotency-Key for one buy. randomUUID needs a secure context
   * (https or localhost); getRandomValues, its fallback, does not.
   */
  function newBuyKey() {
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    return Array.from(window.crypto.getRandomValues(new Uint8Array(16)),
      (byte) => byte.toString(16).padStart(2, '0')).join('');
  }

  /**
   * Sends the buy and shows its outcome. Every send of this one buy carries
   * the same Idempotency-Key: a resend after a network error (the answer
   * may have been lost after the engine decided) gets the first answer back
   * instead of buying a second unit; 429/503 and in_progress are retried
   * after their Retry-After.
   */
  async function buy(item, body) {
    item.phase = 'buying';
    render(item);
    say(item, 'Buying…');
    const key = newBuyKey();
    let reply;
    let lost = 0;
    for (let attempt = 0; ; attempt++) {
      reply = await authedApi('POST', item.buyPath, body, key);
      if (reply.status === 0 && lost < NETWORK_RETRIES) {
        lost++;
        say(item, 'Connection lost: sending the same buy again…', 'warn');
        await sleep(500 * lost + jitter(250));
        continue;
      }
      const busy = BUSY[reply.json.error];
      if (!busy || attempt >= BUY_RETRIES) break;
      const waitSec = Math.max(1, reply.retryAfter);
      say(item, `${busy}: retrying in ${waitSec} s…`, 'warn');
      await sleep(waitSec * 1000 + jitter(250));
    }
    item.phase = 'idle';
    const code = reply.json.error;
    if (reply.status === 200 && reply.json.result === 'won') {
      item.order = {
        id: reply.json.order, payBy: reply.json.payBy, state: reply.json.payBy === null ? 'confirmed' : 'reserved',
      };
      // Without a socket, count our own unit now (the next refresh gives the
      // exact number); with one, the stock push may already have counted it.
      if (!flash.socketOpen) item.left = Math.max(0, item.left - 1);
      say(item, `You won! Order ${item.order.id}.`, 'ok');
    } else if (reply.status === 202 && reply.json.result === 'entered') {
      await awaitDraw(item, reply.json.drawAt);
    } else if (code === 'challenge_failed' && item.challenge) {
      await askChallenge(item, MESSAGES.challenge_failed);
    } else {
      if (code === 'sold_out') item.left = 0;
      if (code === 'ended') item.ended = true;
      if (code === 'bad_ticket') { item.buyPath = null; void fetchTicket(item); }
      sayError(item, reply);
    }
    render(item);
  }

  /** The local clock time of a server time, as hh:mm:ss. */
  function clockTime(serverMs) {
    return new Date(serverMs - flash.offsetMs).toLocaleTimeString();
  }

  /**
   * A buy inside the item's fair window was entered: every buy of the
   * window is decided together at drawAt, in an order drawn from a seed
   * published in advance, so the page waits for the draw and then asks
   * for its result (GET .../entry), spreading a crowd's asks over a second.
   */
  async function awaitDraw(item, drawAt) {
    item.phase = 'entered';
    render(item);
    say(item, `You are in the draw. Result at ${clockTime(drawAt)}.`, 'warn');
    await sleep(Math.max(0, drawAt - serverNow()) + 300 + jitter(1000));
    for (let poll = 0; poll < ENTRY_POLLS; poll++) {
      const reply = await authedApi('GET', `/api/items/${item.id}/entry`);
      const result = reply.json;
      if (reply.status === 200 && result.state === 'won') {
        item.order = { id: result.order, payBy: result.payBy, state: result.payBy === null ? 'confirmed' : 'reserved' };
        if (!flash.socketOpen) item.left = Math.max(0, item.left - 1);
        say(item, `You won the draw (place ${result.place})! Order ${result.order}.`, 'ok');
        break;
      }
      if (reply.status === 200 && result.state === 'lost') {
        if (result.reason === 'sold_out') item.left = 0;
        say(item, `Not this time: you drew place ${result.place} and the units ran out first.`, 'error');
        break;
      }
      if (reply.status !== 200 && reply.status !== 0) {
        sayError(item, reply);
        break;
      }
      await sleep(ENTRY_POLL_MS + jitter(250));
    }
    item.phase = 'idle';
  }

  /** Fetches a challenge and shows its question; the form's submit sends the buy. */
  async function askChallenge(item, note) {
    item.phase = 'challenge';
    render(item);
    const reply = await authedApi('GET', `/api/items/${encodeURIComponent(item.id)}/challenge`);
    if (reply.status !== 200) {
      item.phase = 'idle';
      sayError(item, reply);
      render(item);
      return;
    }
    item.challengeId = reply.json.challenge;
    const el = item.el;
    el.question.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(reply.json.question);
    el.answer.value = '';
    el.challenge.hidden = false;
    el.submit.disabled = false;
    el.answer.focus();
    say(item, note || 'Answer the question to buy.', note ? 'warn' : '');
  }

  async function onAnswer(item, event) {
    event.preventDefault();
    if (item.phase !== 'challenge' || item.el.submit.disabled) return;
    item.el.submit.disabled = true;
    item.el.challenge.hidden = true;
    await buy(item, JSON.stringify({ challenge: item.challengeId, answer: item.el.answer.value.trim() }));
  }

  // ---- Reserve mode: pay or cancel ---------------------------------------

  async function settle(item, action) {
    const order = item.order;
    if (!order || order.busy || order.state !== 'reserved') return;
    order.busy = true;
    render(item);
    const reply = await authedApi('POST', `/api/orders/${encodeURIComponent(order.id)}/${action}`);
    order.busy = false;
    const code = reply.json.error;
    if (reply.status === 200) order.state = reply.json.state;
    else if (code === 'expired' || code === 'cancelled') order.state = code;
    else if (code === 'already_paid') order.state = 'paid';
    if (reply.status === 200 && order.state === 'paid') say(item, `Paid. Order ${order.id} is yours.`, 'ok');
    else if (reply.status === 200 && order.state === 'cancelled') say(item,
      `Order ${order.id} cancelled; the unit went back on sale.`, 'warn');
    else sayError(item, reply);
    render(item);
  }

  // ---- Waitlist: join, wait for `served` to reach the place, take the offer ----

  async function joinWaitlist(item) {
    if (item.phase !== 'idle') return;
    item.phase = 'joining';
    render(item);
    const reply = await authedApi('POST', `/api/items/${encodeURIComponent(item.id)}/waitlist`);
    item.phase = 'idle';
    if (reply.status === 200) takePlace(item, reply.json);
    else {
      if (reply.json.error === 'not_sold_out') item.left = Math.max(1, item.left);
      sayError(item, reply);
    }
    render(item);
  }

  /** Reads the shopper's place (and its offer); a shopper without one hears nothing. */
  async function fetchPlace(item) {
    const reply = await authedApi('GET', `/api/items/${encodeURIComponent(item.id)}/waitlist`);
    if (reply.status === 200) takePlace(item, reply.json);
    render(item);
  }

  function takePlace(item, place) {
    item.place = place;
    if (place.state === 'offered' && (!item.order || item.order.id !== place.order)) {
      item.order = { id: place.order, payBy: place.payBy, state: 'reserved' };
      const until = new Date(place.payBy - flash.offsetMs).toTimeString().slice(0, 8);
      say(item, `A unit is held for you until ${until}. Pay to keep it.`, 'ok');
    }
  }

  /** A `waitlist` push: the highest place offered a unit; ours, once reached, has an offer to fetch. */
  function onServed(item, served) {
    item.served = served;
    const place = item.place;
    if (place && place.state === 'waiting' && served >= place.place) void fetchPlace(item);
  }

  function renderWaitlist(item, state) {
    const el = item.el;
    const place = item.place;
    el.waitlist.hidden = !item.waitlist || (!place && state !== 'sold_out');
    if (el.waitlist.hidden) return;
    el.joinWaitlist.hidden = !!place;
    el.joinWaitlist.disabled = item.phase !== 'idle';
    if (!place) return setText(el.waitlistPlace, '');
    const ahead = Math.max(0, Math.min(place.ahead, place.place - (item.served || 0) - 1));
    setText(el.waitlistPlace, place.state === 'waiting'
      ? `You are number ${place.place} on the waitlist; ${ahead} ahead of you.`
      : place.state === 'offered' ? `Waitlist place ${place.place}: a unit was offered to you.`
        : `Waitlist place ${place.place}: skipped, you hold the most units allowed.`);
  }

  // ---- Rendering ----------------------------------------------------------

  const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const pad = (n) => String(n).padStart(2, '0');

  function formatDuration(ms) {
    let seconds = Math.max(0, Math.ceil(ms / 1000));
    const days = Math.floor(seconds / 86400);
    seconds %= 86400;
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const clock = `${pad(minutes)}:${pad(seconds % 60)}`;
    return (days ? days + 'd ' : '') + (days || hours ? `${hours}:${clock}` : clock);
  }

  function createCard(data) {
    const node = $('card-template').content.firstElementChild.cloneNode(true);
    const find = (testId) => node.querySelector(`[data-testid="${testId}"]`);
    node.dataset.item = data.id;
    node.querySelector('.name').id = 'name-' + data.id;
    node.setAttribute('aria-labelledby', 'name-' + data.id);
    const item = {
      id: data.id, started: false, ended: false, buyPath: null, phase: 'idle', order: null, startTimer: null,
      el: {
        card: node, name: node.querySelector('.name'), limit: node.querySelector('.limit'),
        state: find('state'), price: find('price'), left: find('left'), countdown: find('countdown'),
        buy: find('buy'), result: find('result'), challenge: find('challenge'), question: find('question'),
        answer: find('answer'), submit: find('submit-answer'), order: find('order'), orderState: find('order-state'),
        payBy: find('pay-by'), pay: find('pay'), cancel: find('cancel'),
        waitlist: find('waitlist'), joinWaitlist: find('join-waitlist'), waitlistPlace: find('waitlist-place'),
      },
    };
    item.el.joinWaitlist.addEventListener('click', () => void joinWaitlist(item));
    item.el.buy.addEventListener('click', () => void onBuyClick(item));
    item.el.challenge.addEventListener('submit', (event) => void onAnswer(item, event));
    item.el.pay.addEventListener('click', () => void settle(item, 'pay'));
    item.el.cancel.addEventListener('click', () => void settle(item, 'cancel'));
    items.set(data.id, item);
    $('items').appendChild(node);
    return item;
  }

  function displayState(item, now) {
    if (item.ended || now >= item.endsAt) return 'ended';
    if (!item.started) return 'upcoming';
    return item.left === 0 ? 'sold_out' : 'live';
  }

  const STATE_LABELS = { upcoming: 'Upcoming', live: 'Live', sold_out: 'Sold out', ended: 'Ended' };

  /** Writes text only when it changed: the tick renders five times a second. */
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function render(item) {
    const el = item.el;
    const now = serverNow();
    const state = displayState(item, now);
    setText(el.name, item.name);
    setText(el.state, STATE_LABELS[state]);
    el.state.className = 'badge ' + state;
    el.card.dataset.state = state;
    setText(el.price, money.format(item.price / 100));
    setText(el.left, `${item.left} of ${item.stock} left`);
    setText(el.limit, `Limit ${item.perUserLimit} per shopper` + (item.fairWindowMs > 0
      ? ` · fair start: buys in the first ${item.fairWindowMs / 1000} s are drawn`
      : ''));
    if (state === 'upcoming') setText(el.countdown, now < item.startsAt
      ? 'Starts in ' + formatDuration(item.startsAt - now)
      : 'Starting…');
    else setText(el.countdown, state === 'live' ? 'On sale now' : '');
    const canBuy = state === 'live' && !!item.buyPath && item.phase === 'idle';
    el.buy.disabled = !canBuy;
    setText(el.buy, item.phase === 'buying' || item.phase === 'entered'
      ? (item.phase === 'buying' ? 'Buying…' : 'In the draw…')
      : state === 'live' || state === 'upcoming' ? 'Buy' : STATE_LABELS[state]);
    renderOrder(item, now);
    renderWaitlist(item, state);
  }

  function renderOrder(item, now) {
    const order = item.order;
    const el = item.el;
    el.order.hidden = !order || order.payBy === null;
    if (el.order.hidden) return;
    // The server expires the reservation at payBy; show it then without asking.
    if (order.state === 'reserved' && now >= order.payBy) order.state = 'expired';
    const reserved = order.state === 'reserved';
    const words = {
      reserved: 'Reserved: pay to keep it', paid: 'Paid', cancelled: 'Cancelled', expired: 'Expired: not paid in time',
    };
    setText(el.orderState, `Order ${order.id}: ${words[order.state] || order.state}`);
    setText(el.payBy, reserved ? 'Pay within ' + formatDuration(order.payBy - now) : '');
    el.pay.disabled = el.cancel.disabled = !reserved || !!order.busy;
    el.pay.hidden = el.cancel.hidden = !reserved;
  }

  /** Countdowns, pay-by timers and start scheduling; cheap enough to run five times a second. */
  function tick() {
    const now = serverNow();
    for (const item of items.values()) {
      if (!item.started && !item.ended && item.startsAt - now < 2000) scheduleStart(item);
      render(item);
    }
  }

  /** Polls /api/items while no socket is up (pushes keep the page fresh otherwise). */
  function pollItems() {
    setTimeout(async () => {
      if (!flash.socketOpen) await loadItems();
      // Without pushes a waiting place learns of its offer here.
      for (const item of items.values()) {
        if (!flash.socketOpen && item.place && item.place.state === 'waiting') await fetchPlace(item);
      }
      pollItems();
    }, REFRESH_MS - 1000 + jitter(2000));
  }

  async function main() {
    token = await identify();
    showSignIn(!token);
    await Promise.all([syncClock(), loadItems()]);
    setSocketOpen(false);
    connectSocket();
    tick();
    setInterval(tick, TICK_MS);
    pollItems();
  }

  void main();
})();
