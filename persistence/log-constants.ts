// The bounds of the write-behind log and of the persistence worker, defined
// once. They live in persistence/ because the log's writer, its reader and its
// applier all need them and persistence/ never imports engine/; the engine's
// constants module checks their relations to its own limits at start-up.

/** Bytes in one write-behind log record (see log-record.ts). */
export const LOG_RECORD_BYTES = 48;

/**
 * Records one log batch buffer holds before it is written early. A busy turn
 * of the event loop rarely decides more than a few thousand orders; 16,384
 * records are 768 KiB of buffer per shard.
 */
export const LOG_BATCH_RECORDS_MAX = 16_384;

/** A log segment is closed and a new one begun past this size (64 MiB, about 1.4 M records). */
export const LOG_SEGMENT_BYTES_MAX = 64 * 1024 * 1024;

/** How often the persistence worker looks for new log records when nobody wakes it. */
export const PERSIST_POLL_MS = 10;

/** Records the persistence worker applies in one SQLite transaction, bounding its memory. */
export const PERSIST_BATCH_RECORDS_MAX = 8_192;

/**
 * The largest idempotency key a won record carries (engine/idempotency-key.ts
 * makes them, 1 .. 2^52): an exact integer in the record's float64 field.
 */
export const IDEMPOTENCY_KEY_MAX = 2 ** 52;
