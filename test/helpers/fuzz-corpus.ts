// The fuzz corpus and its mutators, all driven by one seeded generator
// (mulberry32), so a run is reproduced exactly by its seed: FUZZ_SEED=<n>.
// Three kinds of input: real requests of every route, mutated; raw byte
// streams; and MessagePack frames for /ws, real and mutated.

import { pack } from 'msgpackr';
import type { Rand } from './seeded-random';


export const int = (rand: Rand, n: number): number => Math.floor(rand() * n);
export const pick = <T>(rand: Rand, list: readonly T[]): T => list[int(rand, list.length)]!;

export interface FuzzContext {
  buyPaths: string[];
  items: string[];
  tokens: string[];
  adminToken: string;
}

export interface FuzzRequest {
  /** The bytes to send. */
  bytes: Buffer;
  /** True when the request is well framed, so an answer must come (a stall is a failure). */
  framed: boolean;
  head: boolean;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'get', 'CONNECT', 'TRACE', 'G\u00c9T', ''];
const ODD_PATHS = [
  '/', '/index.html', '/page.js', '/sale.js', '/api/time', '/api/items', '/api/items/', '/api/buy', '/api/buy//',
  '/api/orders/0', '/api/orders/-1', '/api/orders/99999999999999999999', '/api/orders/4294967297',
  '/api/orders/4294967297/pay', '/api/orders/4294967297/cancel', '/metrics', '/healthz', '/readyz', '/admin/stats',
  '/admin/items', '/admin/orders?format=csv', '/admin/bans', '/admin/actions', '/../package.json', '/%2e%2e/README.md',
  '/api/items/%00', '/api/items/\u2603', '/ws', '/api/demo/token', '/api/items/x/challenge', '*',
  'http://127.0.0.1/api/time', '',
];
const HEADERS = [
  'content-type: application/json', 'accept-encoding: gzip, br', 'if-none-match: "x"', 'cookie: fs_user=',
  'transfer-encoding: chunked', 'expect: 100-continue', 'connection: upgrade', 'upgrade: websocket',
  'x-forwarded-for: 10.0.0.1', 'content-length: 5', 'content-length: -1', 'host:', ': empty-name', 'x\u0000y: z',
];

/** A real request of a random route, as a shopper, bot or admin would send it. */
function realRequest(rand: Rand, ctx: FuzzContext): { method: string; path: string; headers: string[]; body: Buffer } {
  const token = pick(rand, ctx.tokens);
  const auth = [`authorization: Bearer ${token}`];
  const item = pick(rand, ctx.items);
  const order = `${1 + int(rand, 4)}${int(rand, 2) === 0 ? '294967297' : String(int(rand, 1e9))}`;
  switch (int(rand, 14)) {
    case 0: case 1: case 2: return {
      method: 'POST', path: pick(rand, ctx.buyPaths), headers: auth, body: Buffer.alloc(0),
    };
    case 3: return {
      method: 'POST', path: pick(rand, ctx.buyPaths), headers: [...auth, 'content-type: application/json'],
      body: Buffer.from(JSON.stringify({
        challenge: `${Date.now()}.AAAAAAAAAAAAAAAA`, answer: String(int(rand, 99999)),
      })),
    };
    case 4: return { method: 'GET', path: '/api/items', headers: [], body: Buffer.alloc(0) };
    case 5: return { method: 'GET', path: `/api/items/${item}`, headers: [], body: Buffer.alloc(0) };
    case 6: return { method: 'GET', path: `/api/items/${item}/ticket`, headers: [], body: Buffer.alloc(0) };
    case 7: return { method: 'GET', path: `/api/items/${item}/challenge`, headers: auth, body: Buffer.alloc(0) };
    case 8: return { method: 'GET', path: `/api/orders/${order}`, headers: auth, body: Buffer.alloc(0) };
    case 9: return {
      method: 'POST', path: `/api/orders/${order}/${pick(rand, ['pay', 'cancel'])}`,
      headers: auth, body: Buffer.alloc(0),
    };
    case 10: return {
      method: 'GET', path: pick(rand, ['/', '/sale.js', '/api/time', '/metrics', '/healthz', '/readyz', '/page.css']),
      headers: ['accept-encoding: gzip, br'], body: Buffer.alloc(0),
    };
    case 11: return {
      method: 'GET',
      path: pick(rand, ['/admin/stats', '/admin/items', '/admin/bans', '/admin/actions?limit=5',
        '/admin/orders?format=ndjson&state=paid']),
      headers: [`authorization: Bearer ${ctx.adminToken}`], body: Buffer.alloc(0),
    };
    case 12: return {
      method: pick(rand, ['POST', 'PUT', 'DELETE']),
      path: pick(rand, ['/admin/items', `/admin/items/${item}`, `/admin/items/${item}/pause`, '/admin/bans',
        `/admin/items/${item}/restock`]),
      headers: ['authorization: Bearer not-the-admin-token', 'content-type: application/json'],
      body: Buffer.from('{"stock":5}'),
    };
    default: return { method: pick(rand, METHODS), path: pick(rand, ODD_PATHS), headers: [], body: Buffer.alloc(0) };
  }
}

function mutateString(rand: Rand, text: string): string {
  if (text.length === 0) return String.fromCharCode(int(rand, 256));
  const at = int(rand, text.length);
  switch (int(rand, 6)) {
    case 0: return text.slice(0, at) + text.slice(at + 1 + int(rand, 8));
    case 1: return text.slice(0, at) + String.fromCharCode(int(rand, 256)) + text.slice(at + 1);
    case 2: return text.slice(0, at) +
      pick(rand, ['%', '%00', '%2e%2e/', '../', '\u00ff', '//', '?', '#', ' ', '%25', '\\']) + text.slice(at);
    case 3: return text + 'A'.repeat(int(rand, 4) === 0 ? 3000 + int(rand, 70_000) : int(rand, 64));
    case 4: return text.split('').reverse().join('');
    default: return text.toUpperCase();
  }
}

/** A real request, mutated in method, path, token, headers or body (or kept real a fifth of the time). */
export function httpRequest(rand: Rand, ctx: FuzzContext): FuzzRequest {
  const req = realRequest(rand, ctx);
  let framed = true;
  const mutations = int(rand, 5) === 0 ? 0 : 1 + int(rand, 3);
  for (let m = 0; m < mutations; m++) {
    switch (int(rand, 6)) {
      case 0: req.method = pick(rand, METHODS); break;
      case 1: req.path = mutateString(rand, req.path); break;
      case 2: req.headers = req.headers.map((h) => (int(rand, 2) === 0 ? mutateString(rand, h) : h)); break;
      case 3: req.headers.push(pick(rand, HEADERS)); break;
      case 4: req.body = Buffer.from(mutateString(rand, req.body.toString('latin1')), 'latin1'); break;
      default: req.body = Buffer.from(Array.from(
        { length: int(rand, 3) === 0 ? 1024 + int(rand, 4096) : int(rand, 200) }, () => int(rand, 256)));
    }
  }
  const head = `${req.method} ${req.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n` +
    `${req.headers.map((h) => `${h}\r\n`).join('')}content-length: ${req.body.length}\r\n\r\n`;
  // Only a request whose every byte a parser can frame must be answered;
  // control characters, odd methods or our own conflicting headers may make
  // the engine close the connection instead, which is a fine answer.
  if (/[\u0000-\u0008\u000a-\u001f\u007f-\uffff]/.test(req.method + req.path + req.headers.join(''))
    || !/^[A-Z]+$/.test(req.method)) framed = false;
  if (req.headers.some((h) => /^(content-length|transfer-encoding|expect|connection|upgrade)\s*:/i.test(h)
    || !/^[A-Za-z0-9-]+:/.test(h))) framed = false;
  // A request target is visible ASCII only; uWebSockets.js leaves others waiting until its idle timeout.
  if (!/^\/[\x21-\x7e]*$/.test(req.path)) framed = false;
  // A body on a method that has none is undefined behaviour in HTTP/1.1: a
  // server may answer before reading it and close, or read past it.
  if (req.method !== 'POST' && req.method !== 'PUT' && req.body.length > 0) framed = false;
  return { bytes: Buffer.concat([Buffer.from(head, 'latin1'), req.body]), framed, head: req.method === 'HEAD' };
}

/** Random bytes, or a request line followed by random bytes. */
export function rawStream(rand: Rand): Buffer {
  const noise = Buffer.from(Array.from({ length: 1 + int(rand, 2048) }, () => int(rand, 256)));
  return int(rand, 2) === 0 ? noise : Buffer.concat([Buffer.from('POST /api/buy/x/y HTTP/1.1\r\n'), noise]);
}

/** A MessagePack frame for /ws: a real buy or time, mutated, or any value at all. */
export function wsFrame(rand: Rand, ctx: FuzzContext): Buffer {
  const path = pick(rand, ctx.buyPaths).split('/');
  const real: Record<string, unknown> = int(rand, 3) === 0
    ? { op: 'time', id: int(rand, 1000) }
    : { op: 'buy', id: int(rand, 1e6), item: path[3], ticket: path[4] };
  switch (int(rand, 6)) {
    case 0: return pack(real);
    case 1: return pack({
      ...real,
      [pick(rand, ['op', 'id', 'item', 'ticket', 'challenge', 'answer', '__proto__', 'constructor'])]:
        pick(rand, [null, -1, 2 ** 60, 'x'.repeat(int(rand, 600)), [], {}, true, 1.5, Buffer.alloc(3)]),
    });
    case 2: return pack(pick(rand, [null, 0, 'buy', [1, 2, 3], [real], new Map([[1, 2]]), Buffer.from('x'), -1, 2 ** 64,
      { op: ['buy'] }]));
    case 3: {
      const bytes = pack(real);
      bytes[int(rand, bytes.length)] = int(rand, 256);
      return bytes;
    }
    case 4: return Buffer.from(Array.from({ length: 1 + int(rand, 64) }, () => int(rand, 256)));
    default: return pack(real).subarray(0, 1 + int(rand, 8));
  }
}
