// A Reply for unit tests of code that only refuses (the buy gate): it records
// each refusal with its item, and fails the test if anything answers a buy.

import type { ErrorCode, Outcome } from '../../engine/error-catalog';
import type { Reply } from '../../engine/reply';
import type { OrderView } from '../../engine/shard';

export class RecordingReply implements Reply {
  readonly refusals: { code: ErrorCode; itemIndex: number }[] = [];
  aborted = false;
  watch(): void {}
  cork(write: () => void): void {
    write();
  }
  answer(_op: number, _itemIndex: number, _outcome: Outcome, _view: OrderView): void {
    throw new Error('only refusals are expected here');
  }
  refuse(code: ErrorCode, itemIndex = -1): void {
    this.refusals.push({ code, itemIndex });
  }
}
