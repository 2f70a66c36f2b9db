// Event-loop lag, measured as how late a repeating timer fires, and the
// shedding decision that follows from it: past `thresholdMs` the engine
// refuses buys 503 overloaded at once, until the lag falls below half the
// threshold (the gap keeps it from flapping). A lagging loop means answers
// are already late; taking more work would only make every answer later.

const SAMPLE_MS = 20;

export class LagMonitor {
  /** The latest lag measured, ms. */
  lagMs = 0;
  shedding = false;
  private expected = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly thresholdMs: number) {}

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
    this.lagMs = Math.max(0, nowMs - this.expected);
    this.expected = nowMs + SAMPLE_MS;
    if (this.lagMs > this.thresholdMs) this.shedding = true;
    else if (this.lagMs < this.thresholdMs / 2) this.shedding = false;
  }
}
