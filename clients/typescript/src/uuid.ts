import { randomFillSync } from "node:crypto";

// Random bytes are drawn in blocks: one system call per 409 ids keeps the hot path cheap.
const POOL_IDS = 409;
const pool = new Uint8Array(POOL_IDS * 10);
let poolAt = pool.length;

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, "0"));

let lastMs = -1;
let seq = 0;

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter that keeps ids made
 * in the same millisecond (or after the clock stepped back) in increasing order, then 62
 * random bits.
 */
export function uuidv7(now: number = Date.now()): string {
  if (poolAt + 10 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const r = poolAt;
  poolAt += 10;
  if (now > lastMs) {
    lastMs = now;
    // Start low in the counter's range so many ids fit in one millisecond.
    seq = pool[r]! & 0x3ff;
  } else if (seq < 0xfff) {
    seq++;
  } else {
    // The counter is spent: borrow the next millisecond rather than repeat an order.
    lastMs++;
    seq = 0;
  }
  const ms = lastMs;
  const hi = Math.floor(ms / 0x1000000); // top 24 bits
  const lo = ms % 0x1000000; // low 24 bits
  const b = [
    (hi >>> 16) & 0xff,
    (hi >>> 8) & 0xff,
    hi & 0xff,
    (lo >>> 16) & 0xff,
    (lo >>> 8) & 0xff,
    lo & 0xff,
    0x70 | (seq >>> 8),
    seq & 0xff,
    0x80 | (pool[r + 1]! & 0x3f),
    pool[r + 2]!,
    pool[r + 3]!,
    pool[r + 4]!,
    pool[r + 5]!,
    pool[r + 6]!,
    pool[r + 7]!,
    pool[r + 8]!,
  ];
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[i]!];
  }
  return s;
}
