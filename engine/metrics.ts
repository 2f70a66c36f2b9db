// GET /metrics in Prometheus text format. prom-client keeps the registry and
// writes the format; every value is read at scrape time from the engine's
// typed-array counters (shard counters, HTTP refusals, route counts, the
// latency histogram; those of the HTTP threads summed over them), so a buy
// never calls into the library.

import client from 'prom-client';
import type { Persister } from '../persistence/persister';
import { BUY_REFUSALS } from './error-catalog';
import type { ItemCatalog } from './item-catalog';
import type { ItemCounters } from './item-counters';
import { LATENCY_BOUNDS_SECONDS, type LatencyHistogram } from './latency-histogram';
import type { HttpReply } from './http-reply';
import type { RouteHandler } from './http-routes';
import { RESPONSE_OUTCOMES, ROUTE_NAMES } from './response-counts';
import type { ShardDispatcher } from './shard-dispatcher';
import type { SummedCounters } from './thread-counters';
import { EARLY_BUCKETS, SIGNAL } from './bot-signals';
import type { SignalReport } from './signal-report';

export interface MetricsSources {
  catalog: ItemCatalog;
  shards: ShardDispatcher;
  persister: Persister;
  counts: ItemCounters;
  /** The HTTP threads' counters: requests, responses, latency, lag. */
  threads: SummedCounters;
  /** Whether each HTTP thread is alive, the main thread first. */
  httpThreadsAlive: () => boolean[];
  /** The outcome stream: the newest event's offset, and the webhook sender's progress (null: no webhook). */
  events: { head: () => number; webhook: { delivered: number; failures: number } | null };
  /** Bot signals (signal-report.ts). */
  signals: SignalReport;
}

/** A histogram whose buckets live in our typed array; prom-client only formats it. */
class BuyLatencyMetric {
  readonly name = 'flash_buy_latency_seconds';
  readonly help = 'Buy latency from arrival in the handler to the answer, including the wait for the write-behind log.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(private readonly read: () => LatencyHistogram) {}

  get(): {
    name: string; help: string; type: string; aggregator: string;
    values: { value: number; labels: Record<string, string | number>; metricName: string }[];
  } {
    const latency = this.read();
    const cumulative = latency.cumulative();
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] =
      cumulative.map((value, i) => ({
        value,
        labels: { le: i < LATENCY_BOUNDS_SECONDS.length ? LATENCY_BOUNDS_SECONDS[i]! : '+Inf' },
        metricName: `${this.name}_bucket`,
      }));
    values.push({ value: latency.sumSeconds, labels: {}, metricName: `${this.name}_sum` });
    values.push({ value: latency.count, labels: {}, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

function gauge(registry: client.Registry, name: string, help: string, labelNames: string[],
  collect: (g: client.Gauge) => void): void {
  new client.Gauge({ name, help, labelNames, registers: [registry],
    collect(this: client.Gauge) { this.reset(); collect(this); } });
}

function counter(registry: client.Registry, name: string, help: string, labelNames: string[],
  collect: (c: client.Counter) => void): void {
  new client.Counter({ name, help, labelNames, registers: [registry],
    collect(this: client.Counter) { this.reset(); collect(this); } });
}

export function createMetrics(sources: MetricsSources): client.Registry {
  const { catalog, shards, persister, counts, threads } = sources;
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'flash_' });
  const perItem = (visit: (id: string, index: number) => void): void =>
    catalog.existingIndexes().forEach((index) => visit(catalog.items[index]!.id, index));
  counter(registry, 'flash_http_requests_total', 'Requests by route, counted on arrival.', ['route'], (c) => {
    const routeCounts = threads.requests();
    ROUTE_NAMES.forEach((route, i) => c.inc({ route }, routeCounts[i]!));
  });
  counter(registry, 'flash_http_responses_total',
    'Responses by route and outcome (ok, or the error code); only pairs that occurred.', ['route', 'outcome'], (c) => {
    const responseCounts = threads.responses();
    ROUTE_NAMES.forEach((route, r) => RESPONSE_OUTCOMES.forEach((outcome, o) => {
      const count = responseCounts[r * RESPONSE_OUTCOMES.length + o]!;
      if (count > 0) c.inc({ route, outcome }, count);
    }));
  });
  counter(registry, 'flash_buys_total',
    'Buy answers by item and outcome (refusals since start-up; won over the whole sale).', ['item', 'outcome'],
    (c) => perItem((item, index) => {
    c.inc({ item, outcome: 'won' }, counts.won(index));
    for (const outcome of BUY_REFUSALS) c.inc({ item, outcome }, counts.refused(index, outcome));
  }));
  counter(registry, 'flash_shed_total',
    'Buys refused 503 overloaded: a shard ring was full, or the event loop lagged past --shed-lag-ms.', [], (c) => {
    let shed = 0;
    perItem((_, index) => (shed += counts.refused(index, 'overloaded')));
    c.inc(shed);
  });
  counter(registry, 'flash_rate_limited_total', 'Buys refused 429 rate_limited (per user or per address).', [], (c) => {
    let limited = 0;
    perItem((_, index) => (limited += counts.refused(index, 'rate_limited')));
    c.inc(limited);
  });
  gauge(registry, 'flash_item_stock', 'Stock of each item.', ['item'],
    (g) => perItem((item, index) => g.set({ item }, catalog.items[index]!.stock)));
  gauge(registry, 'flash_item_left', 'Units left of each item.', ['item'],
    (g) => perItem((item, index) => g.set({ item }, Atomics.load(catalog.left, index))));
  gauge(registry, 'flash_orders', 'Orders by item and state.', ['item', 'state'], (g) => perItem((item, index) => {
    const { reserved, paid, confirmed, expired, cancelled } = counts.read(index);
    g.set({ item, state: 'reserved' }, reserved);
    g.set({ item, state: 'paid' }, paid);
    g.set({ item, state: 'confirmed' }, confirmed);
    g.set({ item, state: 'expired' }, expired);
    g.set({ item, state: 'cancelled' }, cancelled);
  }));
  gauge(registry, 'flash_event_loop_lag_seconds',
    'Event-loop lag as the engine measures it for shedding (a 20 ms timer), of the most lagging HTTP thread.', [],
    (g) => g.set(threads.lagMs() / 1000));
  gauge(registry, 'flash_shedding', '1 while some HTTP thread refuses buys for event-loop lag.', [],
    (g) => g.set(threads.shedding() ? 1 : 0));
  gauge(registry, 'flash_write_behind_lag_records', 'Log records written but not yet in SQLite.', [],
    (g) => g.set(persister.lagRecords()));
  gauge(registry, 'flash_write_behind_lag_seconds', 'How far SQLite trails the log in time (0 when caught up).', [],
    (g) => g.set(persister.lagMs(Date.now()) / 1000));
  gauge(registry, 'flash_thread_up', 'Whether each engine thread is alive (1) or not (0).', ['thread'], (g) => {
    shards.shardsAlive().forEach((alive, i) => g.set({ thread: `shard-${i}` }, alive ? 1 : 0));
    g.set({ thread: 'persister' }, persister.alive ? 1 : 0);
    sources.httpThreadsAlive().forEach((alive, i) => g.set({ thread: `http-${i}` }, alive ? 1 : 0));
  });
  gauge(registry, 'flash_events_head_offset', 'Offset of the newest event of the outcome stream (GET /admin/events).',
    [], (g) => g.set(sources.events.head()));
  const webhook = sources.events.webhook;
  if (webhook !== null) {
    gauge(registry, 'flash_webhook_delivered_offset', 'Offset of the last event the webhook receiver acknowledged.',
      [], (g) => g.set(webhook.delivered));
    counter(registry, 'flash_webhook_failures_total', 'Webhook POSTs that failed (error, timeout or not 2xx).', [],
      (c) => c.inc(webhook.failures));
  }
  signalMetrics(registry, sources.signals, perItem);
  registry.registerMetric(new BuyLatencyMetric(() => threads.latency()) as unknown as client.Metric);
  return registry;
}

/** The bot signals (bot-signals.ts): early buys by how early, too-fast answers, suspect blocks, full tables. */
function signalMetrics(registry: client.Registry, signals: SignalReport,
  perItem: (visit: (id: string, index: number) => void) => void): void {
  counter(registry, 'flash_early_buys_total',
    'Buys refused not_started, by how long before the start they came (at most 10ms, 100ms, 1s, or more).',
    ['item', 'early'], (c) => perItem((item, index) => {
    for (const { label, field } of EARLY_BUCKETS) c.inc({ item, early: label }, signals.count(index, field));
  }));
  counter(registry, 'flash_too_fast_answers_total',
    'Challenge answers sent sooner than --challenge-think-ms after their challenge was issued (refused).', ['item'],
    (c) => perItem((item, index) => c.inc({ item }, signals.count(index, SIGNAL.tooFastAnswers))));
  counter(registry, 'flash_early_requests_total', 'Ticket and challenge requests refused not_started.',
    ['item', 'route'], (c) => perItem((item, index) => {
    c.inc({ item, route: 'ticket' }, signals.count(index, SIGNAL.earlyTickets));
    c.inc({ item, route: 'challenge' }, signals.count(index, SIGNAL.earlyChallenges));
  }));
  gauge(registry, 'flash_suspect_users', 'Users with an early buy or a too-fast answer (GET /admin/signals).', [],
    (g) => g.set(signals.users.size));
  gauge(registry, 'flash_suspect_addresses',
    'Address blocks (/24, /64) seen with at least --suspect-address-users distinct users.', [],
    (g) => g.set(signals.addresses.suspects));
  counter(registry, 'flash_signal_table_full_total',
    'Bot signals a full shared table could not keep (still counted per item), by table.', ['table'], (c) => {
    const full = signals.tableFull();
    c.inc({ table: 'users' }, full.users);
    c.inc({ table: 'addresses' }, full.addresses);
  });
}

export function metricsHandler(registry: client.Registry): RouteHandler {
  return (reply: HttpReply) => {
    reply.watch();
    const { res } = reply;
    void registry.metrics().then((text) => {
      reply.count('ok');
      if (!reply.aborted) {
        reply.cork(() => res.writeStatus('200 OK').writeHeader('content-type', registry.contentType).end(text));
      }
    }, () => {
      if (!reply.aborted) reply.cork(() => res.writeStatus('500 Internal Server Error').end());
    });
  };
}
