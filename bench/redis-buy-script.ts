// The conventional peer's one atomic decision, as a Redis Lua script, and the
// key names it uses: shared by the peer (bench/redis-peer.ts), which runs it
// for every buy, and by the benchmark's invariant check
// (bench/peer-invariants.ts), which reads the same keys after the load.
//
// Per item, three keys:
//   left:<item>    units left (a string integer), set from the sale at start
//   held:<item>    hash user id -> units the user holds
//   orders:<item>  list of won orders "<sequence>:<user>:<epoch ms>", newest
//                  first: the queue a conventional design's order writer
//                  would drain into its database
//
// Same decision order as the engine (docs/decisions.md, "Check order of a buy"): sold_out before
// limit_reached, and nothing changes on a refusal.

export const leftKey = (item: string): string => `left:${item}`;
export const heldKey = (item: string): string => `held:${item}`;
export const ordersKey = (item: string): string => `orders:${item}`;

/** Script results that are not a win (a win returns the order's sequence, >= 1). */
export const BUY_SOLD_OUT = -1;
export const BUY_LIMIT_REACHED = -2;
export const BUY_UNKNOWN_ITEM = -3;

// KEYS: left, held, orders. ARGV: user id, per-user limit, stock, now (ms).
// The order's sequence is stock - left after the decrement, so no extra
// counter key is needed: 1 for the first unit sold, stock for the last.
export const BUY_SCRIPT = `
local left = tonumber(redis.call('GET', KEYS[1]))
if not left then return ${BUY_UNKNOWN_ITEM} end
if left <= 0 then return ${BUY_SOLD_OUT} end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held >= tonumber(ARGV[2]) then return ${BUY_LIMIT_REACHED} end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
left = redis.call('DECR', KEYS[1])
local sequence = tonumber(ARGV[3]) - left
redis.call('LPUSH', KEYS[3], sequence .. ':' .. ARGV[1] .. ':' .. ARGV[4])
return sequence
`;
