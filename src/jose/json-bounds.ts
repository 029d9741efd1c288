/**
 * Bounds on what Baton reads (bodies, key sets) and on JSON it copies from one token or request into another. Deeply nested JSON parses fine (V8's
 * parser is iterative) but every recursive walk afterwards overflows the stack: `JSON.stringify` when a Txn-Token is
 * signed, `structuredClone`, a verifier freezing the claims. So nesting is measured here without recursion, before any
 * such walk, and sizes are bounded so that what the TTS signs is a token every verifier accepts.
 * Runs on Node and Workers (no Node API).
 */

/** Deepest nesting accepted in a value copied into a Txn-Token (`request_details` members, subject-token claims). */
export const MAX_JSON_DEPTH = 32;

/**
 * Deepest nesting of a whole Txn-Token payload a verifier accepts. What the TTS mints stays far below it (payload →
 * tctx → request_details → a member of at most MAX_JSON_DEPTH levels); deeper is never a token of a Baton TTS.
 */
export const MAX_TXN_TOKEN_DEPTH = 64;

/** Longest Txn-Token (characters of the compact JWS) a verifier accepts, and so the longest the TTS ever signs. */
export const MAX_TXN_TOKEN_CHARS = 16_384;

/**
 * Nesting depth of parsed JSON (an object or array is one level; a scalar is 0), without recursion. Counting stops
 * as soon as `limit` is exceeded, so the cost of a hostile value is bounded by its size, never by its depth.
 */
export function jsonDepth(root: unknown, limit = Number.POSITIVE_INFINITY): number {
  return walkDepth(root, limit, false);
}

/**
 * `jsonDepth`, freezing every object and array it walks on the way (`Object.freeze`, without recursion): the depth
 * bound and a deep freeze in one walk. Past `limit` it stops (the value is then only partly frozen: refuse it).
 */
export function freezeJsonWithin(root: unknown, limit: number): number {
  return walkDepth(root, limit, true);
}

function walkDepth(root: unknown, limit: number, freeze: boolean): number {
  if (root === null || typeof root !== 'object') return 0;
  let max = 0;
  // two parallel stacks (value, its depth): no pair allocated per value
  const values: object[] = [root];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop()!;
    const d = depths.pop()!;
    if (d > max) max = d;
    if (max > limit) return max;
    if (freeze) Object.freeze(v);
    // members read by index and by key: no array of values allocated per object (half the walk's time, measured)
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) push(values, depths, v[i], d);
    } else {
      const keys = Object.keys(v);
      for (let i = 0; i < keys.length; i++) push(values, depths, (v as Record<string, unknown>)[keys[i]!], d);
    }
  }
  return max;
}

function push(values: object[], depths: number[], c: unknown, d: number): void {
  if (c !== null && typeof c === 'object') {
    values.push(c);
    depths.push(d + 1);
  }
}

const enc = new TextEncoder();

/**
 * Whether the JSON text of `v` takes at most `maxBytes` bytes of UTF-8, encoding it only
 * when it could take more (UTF-8 takes at most 3 bytes per UTF-16 unit). Call only on values whose depth was bounded.
 */
export function jsonWithin(v: unknown, maxBytes: number): boolean {
  const text = JSON.stringify(v);
  if (text === undefined || text.length * 3 <= maxBytes) return true;
  return enc.encode(text).length <= maxBytes;
}

/**
 * Reads a byte stream to its end, at most `maxBytes`: past that the stream is cancelled (the rest is never read) and
 * the answer is undefined. For bodies of any size from anyone: request bodies (the TTS), JWKS answers (key sets).
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array | undefined> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.byteLength;
  }
  return all;
}
