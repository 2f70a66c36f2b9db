// Writes JSON answers into one reused byte buffer, so that a won order or an
// order view costs no string building and no JSON.stringify. Only ASCII is
// written: item ids are [a-z0-9-], numbers are digits, states are fixed words.

import assert from 'node:assert/strict';
import { ANSWER_BUFFER_BYTES } from './constants';

export class AnswerWriter {
  readonly buffer = Buffer.alloc(ANSWER_BUFFER_BYTES);
  length = 0;

  reset(): this {
    this.length = 0;
    return this;
  }

  bytes(source: Uint8Array): this {
    assert.ok(this.length + source.length <= this.buffer.length);
    // A loop beats TypedArray.prototype.set for fragments of a few dozen bytes.
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < source.length; i++) buffer[at++] = source[i]!;
    this.length = at;
    return this;
  }

  /** Writes a non-negative integer below 2^53 in decimal: digits into a scratch from the end, then copied. */
  integer(value: number): this {
    assert.ok(Number.isSafeInteger(value) && value >= 0);
    const scratch = this.digits;
    let at = scratch.length;
    let v = value;
    do {
      const next = Math.floor(v / 10);
      scratch[--at] = 48 + (v - next * 10);
      v = next;
    } while (v > 0);
    assert.ok(this.length + scratch.length - at <= this.buffer.length);
    const buffer = this.buffer;
    let out = this.length;
    while (at < scratch.length) buffer[out++] = scratch[at++]!;
    this.length = out;
    return this;
  }

  /** 2^53 has 16 decimal digits. */
  private readonly digits = new Uint8Array(16);

  /** A time in ms, or null for 0 (no payBy). */
  timeOrNull(value: number): this {
    return value === 0 ? this.bytes(NULL) : this.integer(value);
  }

  /** A view of the written bytes (uWS copies it when sending); one view per length, made once. */
  view(): Buffer {
    let view = this.views[this.length];
    if (view === undefined) {
      view = this.buffer.subarray(0, this.length);
      this.views[this.length] = view;
    }
    return view;
  }

  private readonly views: (Buffer | undefined)[] =
    new Array<Buffer | undefined>(ANSWER_BUFFER_BYTES + 1).fill(undefined);
}

const NULL = Buffer.from('null');

/** Prebuilt fragments of the answers. */
export const FRAGMENT = {
  wonOrder: Buffer.from('{"result":"won","order":"'),
  enteredItem: Buffer.from('{"result":"entered","item":"'),
  enteredDrawAt: Buffer.from('","drawAt":'),
  wonItem: Buffer.from('","item":"'),
  wonPayBy: Buffer.from('","payBy":'),
  viewOrder: Buffer.from('{"order":"'),
  viewItem: Buffer.from('","item":"'),
  viewUser: Buffer.from('","user":'),
  viewState: Buffer.from(',"state":"'),
  viewCreatedAt: Buffer.from('","createdAt":'),
  viewPayBy: Buffer.from(',"payBy":'),
  close: Buffer.from('}'),
} as const;
