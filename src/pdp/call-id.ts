/** Cerbos's `cerbosCallId`: a ULID (48-bit time in ms, 80 random bits, Crockford base32), one per call. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** ALPHABET's character codes (what `String.fromCharCode` takes). */
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));

/**
 * Random bytes drawn 4 KiB at a time (one `getRandomValues` per 256 calls instead of one per call: the per-call draw
 * was a measured few percent of a check over HTTP); each byte is used once.
 */
const POOL = new Uint8Array(4096);
let used = POOL.length;
/** The ten time characters' codes of the millisecond last asked (calls within one millisecond share them). */
const TIME = new Array<number>(10).fill(CODES[0]!);
let timeMs = -1;

/**
 * The id, built as one string by one `String.fromCharCode` (it was 26 one-character strings and the concatenations
 * joining them, per call).
 */
export function callId(nowMs: number = Date.now()): string {
  if (nowMs !== timeMs) {
    timeMs = nowMs;
    let t = nowMs;
    for (let i = 9; i >= 0; i--) {
      TIME[i] = CODES[t % 32]!;
      t = Math.floor(t / 32);
    }
  }
  if (used + 16 > POOL.length) {
    crypto.getRandomValues(POOL);
    used = 0;
  }
  const p = POOL;
  const u = used;
  used += 16;
  const c = CODES;
  return String.fromCharCode(
    TIME[0]!, TIME[1]!, TIME[2]!, TIME[3]!, TIME[4]!, TIME[5]!, TIME[6]!, TIME[7]!, TIME[8]!, TIME[9]!,
    c[p[u]! & 31]!, c[p[u + 1]! & 31]!, c[p[u + 2]! & 31]!, c[p[u + 3]! & 31]!, c[p[u + 4]! & 31]!, c[p[u + 5]! & 31]!,
    c[p[u + 6]! & 31]!, c[p[u + 7]! & 31]!, c[p[u + 8]! & 31]!, c[p[u + 9]! & 31]!, c[p[u + 10]! & 31]!, c[p[u + 11]! & 31]!,
    c[p[u + 12]! & 31]!, c[p[u + 13]! & 31]!, c[p[u + 14]! & 31]!, c[p[u + 15]! & 31]!,
  );
}
