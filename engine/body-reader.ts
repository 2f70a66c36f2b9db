// Reads a small request body into one buffer of its announced length. uWS
// gives no total for a body without Content-Length, so a body must say its
// length; the answer to a body that is refused unread closes the connection,
// which could not carry another request.

import type { HttpRequest } from 'uWebSockets.js';
import { ERROR_BODIES } from './error-catalog';
import { HEADER, type HttpReply } from './http-reply';

const EMPTY = Buffer.alloc(0);
const LENGTH = /^[0-9]{1,20}$/;

/** Whether the request says it has no body: Content-Length 0, or neither Content-Length nor Transfer-Encoding. */
export function hasNoBody(req: HttpRequest): boolean {
  const length = req.getHeader(HEADER.contentLength);
  return length === '0' || (length === '' && req.getHeader(HEADER.transferEncoding) === '');
}

/**
 * Reads the body (at most `bytesMax`), then calls `done` with it, corked,
 * unless the client went away; or answers 413/400 itself.
 */
export function readBody(reply: HttpReply, req: HttpRequest, bytesMax: number, done: (body: Buffer) => void): void {
  if (hasNoBody(req)) {
    done(EMPTY);
    return;
  }
  // A body must say its length: one sent chunked would otherwise be ignored
  // (a buy taken as bodiless, a challenge answer dropped).
  const lengthHeader = req.getHeader(HEADER.contentLength);
  if (!LENGTH.test(lengthHeader)) return reply.refuseWith('bad_request', ERROR_BODIES.bad_request, true);
  const length = Number(lengthHeader);
  if (length > bytesMax) return reply.refuseWith('too_large', ERROR_BODIES.too_large, true);
  const body = Buffer.allocUnsafe(length);
  let received = 0;
  reply.watch();
  const { res } = reply;
  res.onData((chunk, isLast) => {
    const bytes = new Uint8Array(chunk);
    if (received + bytes.length > length) {
      res.cork(() => reply.refuse('bad_request'));
      res.aborted = true;
      return;
    }
    body.set(bytes, received);
    received += bytes.length;
    if (isLast && !res.aborted) {
      if (received !== length) res.cork(() => reply.refuse('bad_request'));
      else res.cork(() => done(body));
    }
  });
}
