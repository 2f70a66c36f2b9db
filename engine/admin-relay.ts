// The admin API and /metrics live on the main thread, which holds the
// database, the shard workers' control rings and the sums over threads.
// A connection lands on whichever HTTP thread the kernel picks (the threads
// share the port), so every other HTTP thread relays these routes to the
// main thread: over a loopback HTTP connection to a port only the main
// thread listens on, the request as it came (method, path, headers, body),
// the answer streamed back as it goes (an order export can be large), with
// backpressure both ways.
//
// The relayed request carries the client's address in RELAY_ADDRESS_HEADER
// for the audit log, trusted only with RELAY_SECRET_HEADER equal to the
// per-boot secret: anyone on the machine can reach the loopback port, so
// without the secret the header is ignored.

import http from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { readBody } from './body-reader';
import { HttpReply, type HttpAnswers } from './http-reply';
import { ROUTE_INDEX } from './response-counts';

export const RELAY_SECRET_HEADER = 'x-flash-relay-secret';
export const RELAY_ADDRESS_HEADER = 'x-flash-relay-address';

/** Largest request body relayed: the admin API's own bound (4 KiB) is checked by the main thread. */
const RELAY_BODY_BYTES_MAX = 64 * 1024;
/** Connections kept open to the main thread per relaying thread. */
const RELAY_SOCKETS_MAX = 16;

/** Where the main thread listens for relayed requests, and the secret that marks them. */
export interface RelayTarget {
  port: number;
  secret: string;
}

/**
 * The outcome stream's long-polls and Server-Sent Event streams hold their
 * answer open for up to a minute, or for good: each gets a connection of its
 * own to the main thread, so that they never take the pooled sockets the
 * rest of the admin API and /metrics are relayed over.
 */
const HELD_OPEN_PATH = '/admin/events';

/** Methods relayed as they are (case-sensitive, as HTTP methods are). */
const RELAYED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/** Headers that describe one hop, not the message: never copied across the relay. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade',
  RELAY_SECRET_HEADER, RELAY_ADDRESS_HEADER]);

/** The client address of an admin request: the relaying thread's word for it when the secret matches. */
export function relayedAddress(req: HttpRequest, secret: string, socketAddress: () => string): string {
  if (secret !== '' && req.getHeader(RELAY_SECRET_HEADER) === secret) return req.getHeader(RELAY_ADDRESS_HEADER);
  return socketAddress();
}

/** Registers /admin/* and /metrics as relays to the main thread. Their requests are counted there, once. */
export function registerAdminRelay(app: TemplatedApp, answers: HttpAnswers, target: RelayTarget): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: RELAY_SOCKETS_MAX });
  const relay = (route: number) => (res: HttpResponse, req: HttpRequest): void => {
    const reply = new HttpReply(res, route, answers);
    const query = req.getQuery();
    const path = query ? `${req.getUrl()}?${query}` : req.getUrl();
    const method = req.getCaseSensitiveMethod();
    // The admin API and /metrics answer these only; the main thread's catch-all
    // answers any other method 404, and Node's client would treat CONNECT as a tunnel.
    if (!RELAYED_METHODS.has(method)) return reply.refuse('not_found');
    const headers: Record<string, string> = {};
    req.forEach((key, value) => {
      if (!HOP_HEADERS.has(key)) headers[key] = value;
    });
    headers[RELAY_SECRET_HEADER] = target.secret;
    headers[RELAY_ADDRESS_HEADER] = Buffer.from(res.getRemoteAddressAsText()).toString();
    readBody(reply, req, RELAY_BODY_BYTES_MAX,
      (body) => forward(reply, agent, target.port, method, path, headers, body));
  };
  app.any('/admin/*', relay(ROUTE_INDEX.admin));
  app.any('/metrics', relay(ROUTE_INDEX.metrics));
}

/**
 * One relayed exchange's answer: written once, ended once. The upstream
 * request and its answer can both report an end (an error after the last
 * byte, a close after a refusal), and a response must not be touched after
 * it ended or the client left.
 */
class RelayedAnswer {
  private ended = false;
  /** Whether the status line went out: a failure after it can only close the connection. */
  started = false;
  constructor(readonly reply: HttpReply) {}

  get open(): boolean {
    return !this.ended && !this.reply.aborted;
  }

  write(write: () => void): void {
    if (this.open) this.reply.cork(write);
  }

  end(write: () => void): void {
    if (!this.open) return;
    this.ended = true;
    this.reply.cork(write);
  }
}

function forward(reply: HttpReply, agent: http.Agent, port: number, method: string, path: string,
  headers: Record<string, string>, body: Buffer): void {
  const { res } = reply;
  const relayed = new RelayedAnswer(reply);
  if (body.length > 0) headers['content-length'] = String(body.length);
  let upstream: http.ClientRequest;
  try {
    const held = path === HELD_OPEN_PATH || path.startsWith(`${HELD_OPEN_PATH}?`);
    upstream = http.request({ host: '127.0.0.1', port, method, path, headers, agent: held ? false : agent },
      (answer) => relayAnswer(relayed, answer));
  } catch {
    // uWebSockets.js takes bytes in a path or a header value that Node's client
    // refuses (unescaped characters): no admin route has such a path, so the
    // request is refused here rather than thrown into the thread's event loop.
    return reply.refuse('bad_request');
  }
  // Replaces the body reader's handler, if it attached one: an abort now also ends the relayed request.
  res.aborted = false;
  res.onAborted(() => {
    res.aborted = true;
    upstream.destroy();
  });
  // The main thread is gone or stopping, or it cut the answer short.
  upstream.on('error', () => relayed.end(() => (relayed.started ? res.close() : reply.refuse('shutting_down'))));
  upstream.end(body);
}

/** Streams the main thread's answer back, pausing it while the client's socket is full. */
function relayAnswer(relayed: RelayedAnswer, answer: http.IncomingMessage): void {
  const { res } = relayed.reply;
  if (!relayed.open) return void answer.destroy();
  relayed.started = true;
  relayed.write(() => {
    res.writeStatus(`${answer.statusCode ?? 502} ${answer.statusMessage ?? ''}`);
    for (const [key, value] of Object.entries(answer.headers)) {
      if (HOP_HEADERS.has(key) || value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) res.writeHeader(key, one);
    }
  });
  answer.on('data', (chunk: Buffer) => {
    if (!relayed.open) return void answer.destroy();
    let writable = true;
    relayed.write(() => {
      writable = res.write(chunk);
    });
    if (!writable) {
      answer.pause();
      res.onWritable(() => {
        answer.resume();
        return true;
      });
    }
  });
  answer.on('end', () => relayed.end(() => res.end()));
  answer.on('error', () => relayed.end(() => res.close()));
}
