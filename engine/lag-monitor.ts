// Event-loop lag, measured as how late a repeating timer fires, and the
// shedding decision that follows from it: past `thresholdMs` the engine
// refuses buys 503 overloaded at once, until the lag falls below half the
// threshold (the gap keeps it from flapping). A lagging loop means answers
// are already late; taking more work would only make every answer later.

const SAMPLE_MS = 20;

/** Fields of a monitor's array: the latest lag in ms, and 1 while shedding. */
export const LAG_FIELDS = 2;
const LAG_MS = 0;
const SHEDDING = 1;

export class LagMonitor {
  private expected = 0;
  private timer: NodeJS.Timeout | null = null;

  /**
   * `fields` (LAG_FIELDS) has one writer, this monitor's thread; it may be
   * shared memory that /metrics reads from another thread.
   */
  constructor(private readonly thresholdMs: number, readonly fields: Float64Array = new Float64Array(LAG_FIELDS)) {}

  /** The latest lag measured, ms. */
  get lagMs(): number {
    return this.fields[LAG_MS]!;
  }

  get shedding(): boolean {
    return this.fields[SHEDDING] === 1;
  }

  start(): void {
    if (this.thresholdMs === 0) return;
    this.expected = performance.now() + SAMPLE_MS;
    this.timer = setInterval(() => this.sample(performance.now()), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  sample(nowMs: number): void {
    const lagMs = Math.max(0, nowMs - this.expected);
    this.fields[LAG_MS] = lagMs;
    this.expected = nowMs + SAMPLE_MS;
    if (lagMs > this.thresholdMs) this.fields[SHEDDING] = 1;
    else if (lagMs < this.thresholdMs / 2) this.fields[SHEDDING] = 0;
  }
}
