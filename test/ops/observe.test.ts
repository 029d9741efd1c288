/**
 * Issue 16: the store as the metrics see it (`observedStore`): every operation answers exactly what the store's own
 * answers (its value, its rejection), and is timed and counted, a failure as a failure; an observer that throws
 * changes no outcome.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/ops/metrics.node.js';
import { observedStore } from '../../src/ops/observe.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createStore } from '../../src/store/from-url.node.js';

/** The value of one sample line of the exposition, or undefined when there is none. */
function sample(text: string, line: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(`${line} `));
  return l === undefined ? undefined : Number(l.slice(line.length + 1));
}

describe('issue 16: observedStore', () => {
  it('issue 16: values pass through unchanged; each operation is timed; a rejection is the store\'s own and counts as an error', async () => {
    const m = createMetrics({ processMetrics: false });
    const memory = observedStore(new MemoryStore(), m);
    expect(await memory.useOnce('ns', 'id-1', 60_000)).toBe(true);
    expect(await memory.useOnce('ns', 'id-1', 60_000)).toBe(false);
    expect(await memory.isRevoked('txn-1')).toBe(false);
    const dead = createStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200, commandTimeoutMs: 200 });
    const observed = observedStore(dead, m);
    const direct = await dead.isRevoked('txn-1').then(() => undefined, (e: unknown) => e);
    const through = await observed.isRevoked('txn-1').then(() => undefined, (e: unknown) => e);
    expect(direct).toBeInstanceOf(Error);
    expect(through).toBeInstanceOf((direct as Error).constructor);
    await dead.close();
    const text = (await m.exposition()).body;
    expect(sample(text, 'baton_store_operation_duration_seconds_count{op="useOnce"}')).toBe(2);
    expect(sample(text, 'baton_store_operation_duration_seconds_count{op="isRevoked"}')).toBe(2);
    expect(sample(text, 'baton_store_errors_total{op="isRevoked"}')).toBe(1);
    expect(sample(text, 'baton_store_errors_total{op="useOnce"}')).toBeUndefined();
  });

  it('issue 16: an observer that throws changes no outcome (value or rejection) and leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const throwing = { store: () => { throw new Error('observer'); } };
      const s = observedStore(new MemoryStore(), throwing);
      expect(await s.useOnce('ns', 'id-2', 60_000)).toBe(true);
      const dead = createStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200, commandTimeoutMs: 200 });
      const rejected = await observedStore(dead, throwing).isRevoked('txn-2').then(() => 'resolved', (e: unknown) => e);
      expect(rejected).toBeInstanceOf(Error);
      expect((rejected as Error).message).not.toBe('observer');
      await dead.close();
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
