// One task run at a time, for work that is expensive and whose result any
// later caller may share, such as a snapshot. A request while a run is going
// is served by the next run, which starts when the current one ends and is
// shared by everyone who asks meanwhile. So every caller gets a result from a
// run that began after its request, and at most one run waits: two signals or
// admin requests at once cannot pile up writer threads or copies.

export class CoalescedRuns<T> {
  private running: Promise<T> | null = null;
  private queued: Promise<T> | null = null;
  private closed = false;

  constructor(private readonly task: () => Promise<T>) {}

  /** A result from a run that begins now or, if one is going, right after it. */
  request(): Promise<T> {
    if (this.closed) return Promise.reject(new Error('closed: no new runs'));
    if (this.queued !== null) return this.queued;
    if (this.running === null) return this.begin();
    const after = this.running.then(() => undefined, () => undefined);
    this.queued = after.then(() => {
      this.queued = null;
      if (this.closed) throw new Error('closed: no new runs');
      return this.begin();
    });
    return this.queued;
  }

  /** Refuses new runs (and the queued one); resolves when no run is going. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.running, this.queued]);
  }

  private begin(): Promise<T> {
    const run: Promise<T> = this.task().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }
}
