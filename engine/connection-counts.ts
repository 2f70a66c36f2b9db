// Open WebSocket connections, counted over every HTTP thread in shared
// memory: the engine-wide cap (--ws-max-connections) and the cap per client
// address (--ws-max-per-address) hold whichever thread a socket lands on.
// Each count is taken with Atomics.add and given back if it passed its cap,
// so two threads racing for the last place cannot both keep it.
//
// Per address, the count is direct-mapped by the address's hash: one client
// cannot take the whole connection cap from everyone else. Two addresses
// sharing a slot share a count (a 1-in-65,536 chance for each address),
// which can only make the limit stricter for them, never let one past it.

import { hashKey } from './key-hash';

/** Slots of the per-address count: 2^16 Int32 = 256 KiB, fixed. */
const ADDRESS_SLOTS = 1 << 16;
/** Word 0 is the total; the address slots follow it. */
const TOTAL = 0;

/** Int32Array(1 + ADDRESS_SLOTS) on shared memory: the total, then the per-address counts. */
export function createConnectionCountView(): Int32Array {
  return new Int32Array(new SharedArrayBuffer((1 + ADDRESS_SLOTS) * Int32Array.BYTES_PER_ELEMENT));
}

/** What open() answers when a cap is reached. */
export const OPEN_REFUSED = { total: -2, address: -3 } as const;

export class ConnectionCounts {
  constructor(private readonly counts: Int32Array, private readonly connectionsMax: number,
    private readonly perAddressMax: number) {
    if (counts.length !== 1 + ADDRESS_SLOTS) throw new Error('connection counts have 1 + 65,536 words');
  }

  /**
   * Takes a place for a new connection from the client whose rate key is
   * `rateKey` (0: exempt from the per-address cap). Returns the address slot
   * to give back on close (-1 for none), or an OPEN_REFUSED value.
   */
  open(rateKey: number): number {
    const { counts } = this;
    if (Atomics.add(counts, TOTAL, 1) >= this.connectionsMax) {
      Atomics.sub(counts, TOTAL, 1);
      return OPEN_REFUSED.total;
    }
    if (this.perAddressMax === 0 || rateKey === 0) return -1;
    const slot = 1 + (hashKey(rateKey) & (ADDRESS_SLOTS - 1));
    if (Atomics.add(counts, slot, 1) >= this.perAddressMax) {
      Atomics.sub(counts, slot, 1);
      Atomics.sub(counts, TOTAL, 1);
      return OPEN_REFUSED.address;
    }
    return slot;
  }

  /** Gives back what open() took; `slot` is what it returned. */
  close(slot: number): void {
    if (slot >= 1) Atomics.sub(this.counts, slot, 1);
    Atomics.sub(this.counts, TOTAL, 1);
  }

  /** Open connections over every thread. */
  get total(): number {
    return Atomics.load(this.counts, TOTAL);
  }
}
