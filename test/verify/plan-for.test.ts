/**
 * planFor (V-12 for lists): a plan for the user of a verified Txn-Token from the real TTS, with the principal authorize
 * uses (sub, tctx.roles, tctx.attr + workload + chain), ALWAYS_DENIED when the token's scope does not cover the action,
 * and one decision entry with the plan's kind, filter and rules.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planPredicate, type Engine, type PlanInput } from '../../src/policy/index.js';
import { authorize, createVerifier, planFor, principalOf, type ServiceDecisionEntry, type Verifier } from '../../src/verify/index.js';
import { TT_TXN_TOKEN } from '../../src/txn/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { o4wExchange } from '../helpers/tts.js';
import { loadEngine, SECRET, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

let w: VerifyWorld;
let engine: Engine;
let verifier: Verifier;
const decisions: ServiceDecisionEntry[] = [];

beforeAll(async () => {
  w = await startVerifyWorld();
  engine = loadEngine();
  verifier = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: w.tts.issuer, jwksUri: w.jwksUri, store: w.tts.node.store, service: 'tickets', onDecision: (e) => decisions.push(e) });
});
afterAll(async () => {
  await verifier?.close();
  await w?.close();
});

describe('planFor', () => {
  it("alice's tickets: owner == alice, from the owner derived role; the decision log records the kind, filter and rule", async () => {
    const txn = await verifier.verify(await w.exchange({ sub: 'alice', scope: 'tickets:read' }));
    decisions.length = 0;
    const plan = planFor(txn, 'ticket', 'read', { engine, scope: 'tickets:read' });
    expect(plan.basis).toBe('policy');
    expect(plan.filter).toEqual({ kind: 'KIND_CONDITIONAL', condition: { expression: { operator: 'eq', operands: [{ variable: 'request.resource.attr.owner' }, { value: 'alice' }] } } });
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      hop: 'tickets',
      event: 'plan',
      effect: 'conditional',
      txn: txn.txn,
      sub: 'alice',
      workload: 'mcp-support-agent',
      action: 'read',
      resource: { kind: 'ticket' },
      scope: 'tickets:read',
      plan: { kind: 'KIND_CONDITIONAL', filter: '(eq request.resource.attr.owner "alice")', rules: ['resource.ticket.vdefault#owner-reads-and-comments'] },
    });
    expect(JSON.stringify(decisions[0])).not.toContain(txn.token);
  });

  it('a token whose scope does not cover the action: ALWAYS_DENIED without asking the engine, the missing scope named', async () => {
    const txn = await verifier.verify(await w.exchange({ sub: 'alice', scope: 'orders:read' }));
    let asked = 0;
    const counting: Pick<Engine, 'plan'> = { plan: (i: PlanInput, o) => (asked++, engine.plan(i, o)) };
    decisions.length = 0;
    const plan = planFor(txn, 'ticket', 'read', { engine: counting, scope: 'tickets:read' });
    expect(plan.filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
    expect(plan.basis).toBe('scope');
    expect(plan.reason).toBe("the token's scope does not cover tickets:read");
    expect(asked).toBe(0);
    expect(decisions[0]).toMatchObject({ event: 'plan', effect: 'deny', scope: 'tickets:read', policy: 'scope', plan: { kind: 'KIND_ALWAYS_DENIED', rules: [] } });
  });

  it('scope implications: a token with `tickets` covers tickets:read', async () => {
    // a token signed with the TTS key whose scope is the broad `tickets` (as a TTS configured to grant it would issue)
    const txn = await verifier.verify(await w.forge({ claims: { scope: 'tickets' } }));
    const plan = planFor(txn, 'ticket', 'read', { engine, scope: 'tickets:read', implications: { tickets: ['tickets:read', 'tickets:write'] } });
    expect(plan.filter.kind).toBe('KIND_CONDITIONAL');
  });

  it('uses the principal authorize uses: the plan holds for exactly the records authorize allows (workload and chain included)', async () => {
    // through the agent, then replaced by orders-svc: workload = orders-svc, chain = [mcp-support-agent]
    const first = await w.exchange({ sub: 'alice', scope: 'tickets:read orders:read' });
    const r = await o4wExchange(w.tts.as, 'orders-svc', oauth.ClientSecretBasic(SECRET), { requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'orders:read', subject_token: first, subject_token_type: TT_TXN_TOKEN });
    const txn = await verifier.verify(r.ok!.access_token);
    expect(principalOf(txn)).toEqual({ id: 'alice', roles: ['user'], attr: { workload: 'orders-svc', chain: ['mcp-support-agent'] } });
    for (const [kind, action, scope] of [['order', 'read', 'orders:read'], ['order', 'refund', 'orders:read'], ['ticket', 'read', 'orders:read']] as const) {
      const plan = planFor(txn, kind, action, { engine, scope });
      const holds = planPredicate(plan, { principal: principalOf(txn) });
      for (const owner of ['alice', 'bob']) {
        const resource = { kind, id: `${kind}-${owner}`, attr: { owner } };
        expect(holds(resource), `${kind} ${action} of ${owner}: ${plan.filterDebug}`).toBe(authorize(txn, resource, action, { engine, scope, onDecision: () => {} }).allowed);
      }
    }
  });

  it('an engine that cannot plan gives ALWAYS_DENIED with the reason', async () => {
    const txn = await verifier.verify(await w.exchange({ sub: 'alice', scope: 'tickets:read' }));
    const failing: Pick<Engine, 'plan'> = {
      plan: () => {
        throw Object.assign(new Error('cannot plan: test'), { code: 'plan_failed' });
      },
    };
    const plan = planFor(txn, 'ticket', 'read', { engine: failing, scope: 'tickets:read', onDecision: () => {} });
    expect(plan).toMatchObject({ basis: 'error', filter: { kind: 'KIND_ALWAYS_DENIED' }, reason: 'the policy engine could not plan (cannot plan: test)' });
  });
});
