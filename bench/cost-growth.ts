// How the engine's throughput and memory change with the size of the sale:
// one axis at a time, the others held at the hot-large point (one item,
// stock 10^7, 1,000 users, per-user limit 65,535), the engine with
// --workers 0, one short run per point (fresh engine, invariants checked
// like every other run).
//   stock   10^2 .. 10^7 on one item (at 10^2 it sells out at once: the rest
//           of the run measures refusals)
//   items   1 .. 10^5, the 10^7 units split evenly, users spread over items
//           (bench/scenarios.ts spreadRequests: every item in the cycle)
//   users   10^3 .. 10^6 distinct tokens in the pool. Reaching 10^7 distinct
//           users takes 10^7 buys (minutes at these rates) and 10^7 prebuilt
//           requests in the generator (gigabytes), past the suite's bound:
//           not measured; the report says so.
// The peak RSS is the engine process's VmHWM (all threads), read at the end.

import { saleOf } from './bench-sale';
import { formatTable, integer, mebibytes } from './report-table';
import { BEST_POINT_CONNECTIONS, PER_USER_LIMIT_MAX, spreadRequests, type Scenario, type Variant } from './scenarios';
import { measureVariant, type RunContext, type VariantResult } from './variant-run';

const BASE = { stock: 10_000_000, items: 1, users: 1_000 };
// Every other decade in full mode, to keep `npm run bench` under 15 minutes on 2 cores.
const FULL_AXES = {
  stock: [1e2, 1e4, 1e6, 1e7],
  items: [1, 100, 10_000, 100_000],
  users: [1e3, 1e4, 1e5, 1e6],
};
const QUICK_AXES = { stock: [1e2, 1e7], items: [1, 1_000], users: [1e3, 1e5] };
export const USERS_NOT_MEASURED = 1e7;

type Axis = keyof typeof FULL_AXES;
interface Point { stock: number; items: number; users: number }

export interface GrowthRow { axis: Axis; value: number; point: Point; result: VariantResult }

const ENGINE: Variant = {
  name: 'engine w0', spec: { kind: 'engine', workers: 0 }, generator: 'autocannon', bare: null, peer: null,
};

function scenarioAt(point: Point): Scenario {
  const stockPerItem = Math.floor(point.stock / point.items);
  return {
    name: `growth stock=${point.stock} items=${point.items} users=${point.users}`, summary: 'cost growth point',
    sale: () => saleOf(point.items === 1 ? 'hot' : 'item', point.items, stockPerItem, PER_USER_LIMIT_MAX),
    users: point.users, connections: BEST_POINT_CONNECTIONS, requests: spreadRequests, variants: [ENGINE],
    latencyByOutcome: false, buys: true,
  };
}

/** Each distinct point once, in axis order (the base point is shared by the three axes). */
export async function measureGrowth(context: RunContext, quick: boolean): Promise<GrowthRow[]> {
  const axes = quick ? QUICK_AXES : FULL_AXES;
  const measured = new Map<string, VariantResult>();
  const rows: GrowthRow[] = [];
  for (const axis of Object.keys(axes) as Axis[]) {
    for (const value of axes[axis]) {
      const point: Point = { ...BASE, [axis]: value };
      const key = `${point.stock}/${point.items}/${point.users}`;
      if (!measured.has(key)) {
        console.log(`  growth ${axis} = ${integer(value)}`);
        measured.set(key, await measureVariant(scenarioAt(point), ENGINE, context, 1, null));
      }
      rows.push({ axis, value, point, result: measured.get(key)! });
    }
  }
  return rows;
}

export function growthTable(rows: readonly GrowthRow[]): string {
  const header = ['axis', 'value', 'req/s', 'wins/s', 'p99 ms', 'peak RSS MiB', 'distinct buyers'];
  const body = rows.map(({ axis, value, result }) => {
    if (result.failures.length > 0 || result.load === null) {
      return [axis, integer(value), 'FAILED', '', '', '', result.failures.join('; ').slice(0, 60)];
    }
    return [axis, integer(value), integer(result.load.requestsPerSecondMean), integer(result.winsPerSecond),
      result.load.latencyP99Ms.toFixed(2), mebibytes(result.peakRssBytes),
      integer(result.invariants?.distinctUsers ?? NaN)];
  });
  return formatTable(header, body);
}
