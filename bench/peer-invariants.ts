// The same guarantees as bench/order-invariants.ts, checked for the Redis
// peer: after the load, Redis must hold no item sold past its stock, no user
// over the limit, and at least one queued order per won answer. A peer that
// broke them would make its throughput meaningless as a baseline.

import Redis from 'ioredis';
import type { InvariantReport, ItemLimits } from './order-invariants';
import { heldKey, leftKey, ordersKey } from './redis-buy-script';

export interface PeerInvariantInput {
  redisPort: number;
  items: readonly ItemLimits[];
  wonAnswers: number;
  inFlightMax: number;
}

export async function checkPeerInvariants(input: PeerInvariantInput): Promise<InvariantReport> {
  const failures: string[] = [];
  const fail = (why: string): void => void failures.push(why);
  const redis = new Redis({ host: '127.0.0.1', port: input.redisPort, maxRetriesPerRequest: 1 });
  let orders = 0;
  let ordersPerUserMax = 0;
  try {
    for (const item of input.items) {
      const [left, queued, held] = await Promise.all([
        redis.get(leftKey(item.id)), redis.llen(ordersKey(item.id)), redis.hvals(heldKey(item.id)),
      ]);
      const units = held.map(Number);
      const heldTotal = units.reduce((sum, count) => sum + count, 0);
      const heldMax = units.reduce((max, count) => Math.max(max, count), 0);
      orders += queued;
      ordersPerUserMax = Math.max(ordersPerUserMax, heldMax);
      if (Number(left) < 0) fail(`peer item "${item.id}": ${left} left: oversold`);
      if (Number(left) + queued !== item.stock) {
        fail(`peer item "${item.id}": left ${left} + queued orders ${queued} is not the stock ${item.stock}`);
      }
      if (heldTotal !== queued) {
        fail(`peer item "${item.id}": users hold ${heldTotal} units but ${queued} orders are queued`);
      }
      if (heldMax > item.perUserLimit) {
        fail(`peer item "${item.id}": a user holds ${heldMax}, over the limit of ${item.perUserLimit}`);
      }
    }
  } finally {
    redis.disconnect();
  }
  if (orders < input.wonAnswers) {
    fail(`peer: ${input.wonAnswers} won answers but only ${orders} orders queued: acknowledged orders lost`);
  }
  if (orders > input.wonAnswers + input.inFlightMax) {
    fail(`peer: ${orders} orders queued but only ${input.wonAnswers} won answers ` +
      `(+ at most ${input.inFlightMax} in flight)`);
  }
  return { orders, distinctUsers: -1, ordersPerUserMax, failures };
}
