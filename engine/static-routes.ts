// The shop's static files (static-files.ts loads them at start-up): GET and
// HEAD with ETag revalidation and a precompressed variant per encoding, and
// 404 for every other path and method no other route took.

import type { HttpRequest } from 'uWebSockets.js';
import { ERROR_BODIES, ERRORS } from './error-catalog';
import { HEADER, type HttpReply } from './http-reply';
import type { HttpRoutes } from './http-routes';
import { matchesEtag, pickVariant, type StaticFile, type StaticVariant } from './static-files';

/** Headers of a static answer, the same for GET, HEAD and 304. */
function writeStaticHeaders(reply: HttpReply, file: StaticFile, variant: StaticVariant): void {
  reply.res.writeHeader('etag', variant.etag).writeHeader('cache-control', file.cacheControl)
    .writeHeader('vary', 'Accept-Encoding');
}

function serve(files: Map<string, StaticFile>, reply: HttpReply, req: HttpRequest, withBody: boolean): void {
  const { res } = reply;
  const file = files.get(req.getUrl());
  if (!file) {
    // HEAD answers the status and headers a GET would, and never a body (a
    // body would corrupt the keep-alive stream). end() with nothing: this
    // uWebSockets.js build ends the process on endWithoutBody() there.
    if (withBody) return reply.refuseWith('not_found', ERROR_BODIES.not_found);
    reply.count('not_found');
    res.writeStatus(ERRORS.not_found.status).end();
    return;
  }
  const variant = pickVariant(file, req.getHeader('accept-encoding'));
  reply.count('ok');
  if (matchesEtag(req.getHeader('if-none-match'), variant.etag)) {
    res.writeStatus('304 Not Modified');
    writeStaticHeaders(reply, file, variant);
    res.end();
    return;
  }
  res.writeStatus('200 OK').writeHeader(HEADER.contentType, file.contentType);
  if (variant.encoding !== 'identity') res.writeHeader('content-encoding', variant.encoding);
  writeStaticHeaders(reply, file, variant);
  if (withBody) res.end(variant.body);
  else res.end();
}

export function registerStaticRoutes(routes: HttpRoutes, files: Map<string, StaticFile>): void {
  routes.get('/*', 'static', (reply, req) => serve(files, reply, req, true));
  routes.head('/*', 'static', (reply, req) => serve(files, reply, req, false));
  routes.any('/*', 'not_found', (reply) => reply.refuse('not_found'));
}
