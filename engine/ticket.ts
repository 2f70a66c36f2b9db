// Buy tickets: the secret part of an item's buy path. A ticket is an HMAC of
// the item id and its start time under a server secret, so it cannot be
// derived or guessed before the start, and it changes when the start moves.
// It is revealed only from startsAt on (ticket route, /sale.js, WebSocket).

import crypto from 'node:crypto';
import { TICKET_CHARS } from './constants';

export function deriveTicket(secret: string, itemId: string, startsAt: number): string {
  return crypto.createHmac('sha256', secret).update(`ticket.${itemId}.${startsAt}`).digest('base64url')
    .slice(0, TICKET_CHARS);
}

/** Compares a presented ticket with the item's in time independent of where they differ. */
export function ticketMatches(presented: string, expected: string): boolean {
  if (presented.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= presented.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0;
}
