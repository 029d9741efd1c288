/** Cerbos's `cerbosCallId`: a ULID (48-bit time in ms, 80 random bits, Crockford base32), one per call. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Random bytes drawn 4 KiB at a time (one `getRandomValues` per 256 calls instead of one per call: the per-call draw
 * was a measured few percent of a check over HTTP); each byte is used once.
 */
const POOL = new Uint8Array(4096);
let used = POOL.length;

export function callId(nowMs: number = Date.now()): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  if (used + 16 > POOL.length) {
    crypto.getRandomValues(POOL);
    used = 0;
  }
  let rand = '';
  for (let i = used, end = used + 16; i < end; i++) rand += ALPHABET[POOL[i]! & 31]!;
  used += 16;
  return time + rand;
}
