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

function forward(reply: HttpReply, agent: http.Agent, port: number, method: string, path: string,
  headers: Record<string, string>, body: Buffer): void {
  const { res } = reply;
  if (body.length > 0) headers['content-length'] = String(body.length);
  const upstream = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (answer) => {
    if (reply.aborted) return void answer.destroy();
    reply.cork(() => {
      res.writeStatus(`${answer.statusCode ?? 502} ${answer.statusMessage ?? ''}`);
      for (const [key, value] of Object.entries(answer.headers)) {
        if (HOP_HEADERS.has(key) || value === undefined) continue;
        for (const one of Array.isArray(value) ? value : [value]) res.writeHeader(key, one);
      }
    });
    answer.on('data', (chunk: Buffer) => {
      if (reply.aborted) return void answer.destroy();
      let writable = true;
      reply.cork(() => {
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
    answer.on('end', () => {
      if (!reply.aborted) reply.cork(() => res.end());
    });
    answer.on('error', () => {
      if (!reply.aborted) reply.cork(() => res.close());
    });
  });
  // Replaces the body reader's handler, if it attached one: an abort now also ends the relayed request.
  res.aborted = false;
  res.onAborted(() => {
    res.aborted = true;
    upstream.destroy();
  });
  upstream.on('error', () => {
    // The main thread is gone or stopping: nothing was done.
    if (!reply.aborted) reply.cork(() => reply.refuse('shutting_down'));
  });
  upstream.end(body);
}
