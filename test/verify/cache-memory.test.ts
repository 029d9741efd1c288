/**
 * Issue 10 finding 8: the verified-token cache is bounded by memory, not only by entries. Measured on the real heap:
 * each case runs test/verify/cache-memory.child.ts in its own `node --expose-gc` process, which fills a verifier's
 * cache and reports the heap held after full collections next to the cache's own estimate (`cacheStats().bytes`).
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_MAX_BYTES } from '../../src/verify/verifier.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface Measured {
  mode: string;
  count: number;
  tokenChars: number;
  heapBytes: number;
  entries: number;
  bytes: number;
}

async function measure(count: number, pad: number, mode: string, maxBytes: number | 'default'): Promise<Measured> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/verify/cache-memory.child.ts', String(count), String(pad), mode, String(maxBytes)], {
    cwd: ROOT,
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Measured;
}

describe('issue 10 finding 8: the verified-token cache is bounded by bytes', () => {
  it('issue 10 finding 8: 10,000 tokens of ~16 KB keep the cache within the default 16 MiB, far from a 128 MB Workers isolate', async () => {
    const m = await measure(10_000, 11_000, 'str', 'default');
    expect(m.tokenChars).toBeGreaterThan(15_000);
    expect(DEFAULT_CACHE_MAX_BYTES).toBe(16 * 1024 * 1024);
    expect(m.bytes).toBeLessThanOrEqual(DEFAULT_CACHE_MAX_BYTES);
    expect(m.entries).toBeLessThan(10_000); // the byte bound, not the entry bound (10,000), decided
    expect(m.entries).toBeGreaterThan(0);
    // the real heap held (the finding measured 290 MB for the same load)
    expect(m.heapBytes).toBeLessThanOrEqual(DEFAULT_CACHE_MAX_BYTES);
  }, 120_000);

  it('issue 10 finding 8: the byte estimate is at least the real heap whatever the structure of the claims', async () => {
    // the same ~14 KB token costs 4 MB or 65 MB for 300 entries depending on what its claims are made of
    const cases: Array<[string, number]> = [['str', 10_000], ['obj', 10_000], ['arr', 10_000], ['int', 10_000], ['kv', 7_000], ['nest', 10_000]];
    const results: Measured[] = [];
    for (const [mode, pad] of cases) results.push(await measure(200, pad, mode, 1e12));
    for (const m of results) {
      expect(m.entries, m.mode).toBe(200);
      expect(m.heapBytes, `${m.mode}: real ${m.heapBytes} > estimated ${m.bytes}`).toBeLessThanOrEqual(m.bytes);
    }
  }, 120_000);
});
