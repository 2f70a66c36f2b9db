// Who an HTTP request (or WebSocket upgrade) is from: the user id of its
// token, read from the Authorization header, else from the cookie.

import type { HttpRequest } from 'uWebSockets.js';
import { HEADER } from './http-reply';
import { verifyRequestToken, type UserTokenVerifier } from './user-token';

/** The user id of the request's token, or 0. Reads the cookie only when there is no Authorization header. */
export function requestUser(verifier: UserTokenVerifier, req: HttpRequest, nowMs: number): number {
  return verifyRequestToken(verifier, req.getHeader(HEADER.authorization), req, HEADER.cookie, nowMs);
}
