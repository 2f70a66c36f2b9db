// Every answer written after its handler returned needs an abort handler
// attached first (uWebSockets.js ends the process otherwise) and a way to
// know, at answer time, whether the client went away. One helper for all.

import type { HttpResponse } from 'uWebSockets.js';

function markAborted(this: HttpResponse): void {
  this.aborted = true;
}

/** Attaches the abort handler; `res.aborted` then says whether the client went away. */
export function watchAborted(res: HttpResponse): void {
  res.aborted = false;
  res.onAborted(markAborted.bind(res));
}
