// Query planning inside workerd: the bundled engine plans exactly as the Node engine does on the example policies (P-02),
// and the plan adapters (in-memory predicate, SQL WHERE clause) run in the Workers runtime.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import committed from '../../policies.bundle.json';
import { loadPolicyBundle } from '../../src/policy-bundle/index.js';
import { planPredicate, planToSql, type PlanInput, type PlanResult } from '../../src/policy/index.js';

describe('query plans in workerd', () => {
  it('the same plans as the Node engine for every principal x kind x action of the example testdata', async () => {
    const { engine } = await loadPolicyBundle(committed);
    const cases = JSON.parse(env.TEST_PLAN_CASES) as PlanInput[];
    const node = JSON.parse(env.TEST_NODE_PLANS) as PlanResult[];
    expect(cases.length).toBeGreaterThan(10);
    const now = new Date(env.TEST_DECISION_NOW);
    const worker = cases.map((c) => JSON.parse(JSON.stringify(engine.plan(c, { now }))) as PlanResult);
    expect(worker).toEqual(node);
    // not vacuous: all three kinds of plan occur
    expect([...new Set(worker.map((p) => p.filter.kind))].sort()).toEqual(['KIND_ALWAYS_ALLOWED', 'KIND_ALWAYS_DENIED', 'KIND_CONDITIONAL']);
  });

  it("alice's tickets: the plan, its predicate and its SQL clause", async () => {
    const { engine } = await loadPolicyBundle(committed);
    const plan = engine.plan({ principal: { id: 'alice', roles: ['user'] }, resource: { kind: 'ticket' }, action: 'read' });
    expect(plan.filterDebug).toBe('(eq request.resource.attr.owner "alice")');
    const holds = planPredicate(plan);
    expect([holds({ attr: { owner: 'alice' } }), holds({ attr: { owner: 'bob' } }), holds({ attr: {} })]).toEqual([true, false, false]);
    expect(planToSql(plan, { fields: { 'request.resource.attr.owner': { column: 'owner', type: 'text' } } })).toEqual({ sql: '("owner" = $1)', params: ['alice'] });
  });
});
