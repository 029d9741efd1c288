// The limits step without HTTP: per workload and per (workload, user) budgets in one store call, 429 with
// Retry-After when spent, 503 when the store cannot answer (fail closed), an unverified sub never deciding.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { refusal, unitTts } from '../../test/helpers/tts-context.js';
import { MemoryStore } from '../store/memory.js';
import { StoreUnavailableError } from '../store/types.js';
import { clientVerdict, RAW_SUB_KEY_CHARS, revokeLimit, startLimits, subjectLimitKey, subjectVerdict } from './limits.js';

const limits = { defaultRateLimit: { perClient: 2, perSubject: 1, windowSeconds: 60 } };

describe('the limits step', () => {
  it('T-21 the client budget is spent first: 429 limit.client with Retry-After', async () => {
    const u = await unitTts({ overrides: limits });
    const agent = u.ctx.workloads.get('agent')!;
    await clientVerdict(startLimits(u.ctx, agent, undefined));
    await clientVerdict(startLimits(u.ctx, agent, undefined));
    const r = await refusal(clientVerdict(startLimits(u.ctx, agent, undefined)));
    expect(r).toMatchObject({ error: 'temporarily_unavailable', status: 429, reason: 'limit.client' });
  });

  it('T-21 the (workload, user) budget counts the VALIDATED sub: an early count for another sub is not used', async () => {
    const u = await unitTts({ overrides: { defaultRateLimit: { perClient: 100, perSubject: 1, windowSeconds: 60 } } });
    const agent = u.ctx.workloads.get('agent')!;
    const first = startLimits(u.ctx, agent, 'alice');
    await clientVerdict(first);
    await subjectVerdict(u.ctx, first, agent, 'alice');
    // the token claims alice (over budget) but validates as bob: bob's own count decides
    const forged = startLimits(u.ctx, agent, 'alice');
    await subjectVerdict(u.ctx, forged, agent, 'bob');
    expect(await refusal(subjectVerdict(u.ctx, startLimits(u.ctx, agent, 'alice'), agent, 'alice'))).toMatchObject({ status: 429, reason: 'limit.subject' });
  });

  it('/revoke has its own budget; a store that cannot answer is 503 limit.unavailable (fail closed)', async () => {
    const u = await unitTts({ overrides: limits });
    const agent = u.ctx.workloads.get('agent')!;
    await revokeLimit(u.ctx, agent);
    await revokeLimit(u.ctx, agent);
    expect(await refusal(revokeLimit(u.ctx, agent))).toMatchObject({ status: 429, reason: 'limit.revoke' });
    const down = new (class extends MemoryStore {
      override rateLimit(): never {
        throw new StoreUnavailableError('down');
      }
    })();
    const d = await unitTts({ store: down });
    expect(await refusal(revokeLimit(d.ctx, d.ctx.workloads.get('agent')!))).toMatchObject({ error: 'temporarily_unavailable', status: 503, reason: 'limit.unavailable' });
  });

  it('the user part of a limit key is hashed: any sub fits every backend', () => {
    expect(subjectLimitKey('agent', 'x'.repeat(5000))).toMatch(/^s:agent:[A-Za-z0-9_-]{43}$/);
  });

  it('a store whose keys leave the process (Redis, the Durable Object) gets the hashed key, whatever the sub', () => {
    const hashed = (sub: string) => `s:agent:${createHash('sha256').update(sub, 'utf8').digest('base64url')}`;
    for (const store of [undefined, {}, { keysInProcess: false }])
      for (const sub of ['alice', 'x'.repeat(RAW_SUB_KEY_CHARS), 'é😀', 'x'.repeat(5000)]) expect(subjectLimitKey('agent', sub, store)).toBe(hashed(sub));
  });

  it('the memory store keys a sub no longer than its hash as it is, the workload length first; a longer one by its hash', () => {
    const mem = new MemoryStore();
    expect(subjectLimitKey('agent', 'alice', mem)).toBe('u:5:agent:alice');
    expect(subjectLimitKey('agent', 'y'.repeat(43), mem)).toBe(`u:5:agent:${'y'.repeat(43)}`);
    expect(subjectLimitKey('agent', 'y'.repeat(44), mem)).toMatch(/^s:agent:[A-Za-z0-9_-]{43}$/);
    // never two (workload, sub) pairs on one key
    expect(subjectLimitKey('a', 'b:c', mem)).not.toBe(subjectLimitKey('a:b', 'c', mem));
    expect(subjectLimitKey('a', '1:a:b', mem)).not.toBe(subjectLimitKey('a:1:a', 'b', mem));
  });

  it('T-21 in the memory store each (client, subject) has its own budget, as with hashed keys: short, 43- and 44-character subs', async () => {
    for (const store of [new MemoryStore(), new (class extends MemoryStore {
      override readonly keysInProcess = false; // the hashed keys, for comparison
    })()]) {
      const u = await unitTts({ store, overrides: { defaultRateLimit: { perClient: 100, perSubject: 1, windowSeconds: 60 } } });
      const agent = u.ctx.workloads.get('agent')!;
      const hop = u.ctx.workloads.get('hop')!;
      const subs = ['alice', 'bob', 'z'.repeat(43), 'z'.repeat(44), 'z'.repeat(42) + 'é'];
      for (const sub of subs) {
        const first = startLimits(u.ctx, agent, sub);
        await clientVerdict(first);
        await subjectVerdict(u.ctx, first, agent, sub);
      }
      for (const sub of subs) {
        const again = startLimits(u.ctx, agent, sub);
        expect(await refusal(subjectVerdict(u.ctx, again, agent, sub)), `${store.keysInProcess} ${sub}`).toMatchObject({ status: 429, reason: 'limit.subject' });
        // another workload's budget for the same subject is its own
        const other = startLimits(u.ctx, hop, sub);
        await subjectVerdict(u.ctx, other, hop, sub);
      }
      // the subject counted after validation when the early count was for another sub (no early count for it)
      await subjectVerdict(u.ctx, startLimits(u.ctx, agent, undefined), agent, 'carol');
      expect(await refusal(subjectVerdict(u.ctx, startLimits(u.ctx, agent, 'dave'), agent, 'carol'))).toMatchObject({ status: 429, reason: 'limit.subject' });
    }
  });
});
