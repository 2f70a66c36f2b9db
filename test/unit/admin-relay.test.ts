// The client address of an admin request (engine/admin-relay.ts): a relaying
// HTTP thread's word for it counts only with the per-boot secret, since
// anyone on the machine can reach the loopback relay port and write headers.

import t from 'tap';
import type { HttpRequest } from 'uWebSockets.js';
import { RELAY_ADDRESS_HEADER, RELAY_SECRET_HEADER, relayedAddress } from '../../engine/admin-relay';

const requestWith = (headers: Record<string, string>): HttpRequest =>
  ({ getHeader: (name: string) => headers[name] ?? '' }) as unknown as HttpRequest;
const socket = (): string => '127.0.0.1';

t.test('the relayed address with the secret, the socket address without it', async (t) => {
  const relayed = { [RELAY_SECRET_HEADER]: 's3cret', [RELAY_ADDRESS_HEADER]: '203.0.113.9' };
  t.equal(relayedAddress(requestWith(relayed), 's3cret', socket), '203.0.113.9', 'secret matches: the client');
  t.equal(relayedAddress(requestWith(relayed), 'other', socket), '127.0.0.1', 'a wrong secret: the socket');
  t.equal(relayedAddress(requestWith({ [RELAY_ADDRESS_HEADER]: '203.0.113.9' }), 's3cret', socket), '127.0.0.1',
    'no secret: the socket');
  t.equal(relayedAddress(requestWith({ [RELAY_SECRET_HEADER]: '', [RELAY_ADDRESS_HEADER]: '203.0.113.9' }), '',
    socket), '127.0.0.1', 'one HTTP thread (no secret configured): never trusted');
});
