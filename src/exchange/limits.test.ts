// The limits step without HTTP: per workload and per (workload, user) budgets in one store call, 429 with
// Retry-After when spent, 503 when the store cannot answer (fail closed), an unverified sub never deciding.
import { describe, expect, it } from 'vitest';
import { refusal, unitTts } from '../../test/helpers/tts-context.js';
import { MemoryStore } from '../store/memory.js';
import { StoreUnavailableError } from '../store/types.js';
import { clientVerdict, revokeLimit, startLimits, subjectLimitKey, subjectVerdict } from './limits.js';

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
});
