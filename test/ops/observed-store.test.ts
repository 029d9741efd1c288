import { describe, expect, it } from 'vitest';
import { subjectLimitKey } from '../../src/exchange/limits.js';
import { observedStore } from '../../src/ops/observe.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';

describe('observedStore', () => {
  const ops: string[] = [];
  const observer = { store: (op: string) => void ops.push(op) };

  it('says where the wrapped store keeps its keys (the memory store: in the process), so the limits key the same with metrics on or off', async () => {
    const memory = new MemoryStore();
    const observed = observedStore(memory, observer);
    expect(observed.keysInProcess).toBe(true);
    expect(subjectLimitKey('agent', 'user-1', observed)).toBe(subjectLimitKey('agent', 'user-1', memory));
    expect(subjectLimitKey('agent', 'user-1', observed)).toBe('u:5:agent:user-1');
    // and the operations are still observed
    await observed.rateLimit('k', 1, 1000);
    expect(ops).toContain('rateLimit');
  });

  it('a store that says nothing of its keys stays so (hashed keys)', () => {
    const inner = new MemoryStore();
    const remote: Store = {
      backend: 'remote',
      useOnce: (ns, id, ttl) => inner.useOnce(ns, id, ttl),
      revoke: (txn, until) => inner.revoke(txn, until),
      isRevoked: (txn) => inner.isRevoked(txn),
      rateLimit: (k, l, w) => inner.rateLimit(k, l, w),
      health: () => inner.health(),
      close: () => inner.close(),
    };
    const observed = observedStore(remote, observer);
    expect('keysInProcess' in observed).toBe(false);
    expect(subjectLimitKey('agent', 'user-1', observed).startsWith('s:agent:')).toBe(true);
  });
});
