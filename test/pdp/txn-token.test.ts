// A Txn-Token as the principal: a Cerbos or AuthZEN request that names no principal but carries a `Txn-Token` is
// decided for the principal `authorize` builds from the verified token (user, roles, attributes, workload, chain),
// and the token's scope must cover each action. Tokens come from a real exchange at the real TTS. Every decision is
// logged with the token's `txn`; a refused token is 401 with `WWW-Authenticate: Txn-Token error="…"`, its reason
// code in the log (never in the answer).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize } from '../../src/verify/authorize.js';
import { createVerifier } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { startTestPdp, supportDeskPdp, type TestPdp } from '../helpers/pdp.js';
import { loadEngine, POLICY_DIR, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

describe('baton pdp: a Txn-Token as the principal', () => {
  let world: VerifyWorld;
  let pdp: TestPdp;
  beforeAll(async () => {
    world = await startVerifyWorld();
    pdp = await startTestPdp(POLICY_DIR, supportDeskPdp({ trustDomain: TRUST_DOMAIN, issuer: world.tts.issuer, jwks: world.jwks }));
  });
  afterAll(async () => {
    await pdp?.close();
    await world?.close();
  });

  const ticket = (owner: string) => ({ kind: 'ticket', id: 't1', attr: { owner } });

  it('CheckResources without a principal: decided for the token user; an action outside the token scope is denied', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const r = await pdp.post('/api/check/resources', { requestId: 'tx-1', includeMeta: true, resources: [{ resource: ticket('alice'), actions: ['read', 'comment'] }, { resource: ticket('bob'), actions: ['read'] }] }, { 'txn-token': token });
    expect(r.status).toBe(200);
    const results = r.json.results as { actions: Record<string, string>; meta: { actions: Record<string, { matchedPolicy?: string }> } }[];
    expect(results[0]!.actions).toEqual({ read: 'EFFECT_ALLOW', comment: 'EFFECT_DENY' }); // the policy allows comment: the scope does not
    expect(results[0]!.meta.actions['comment']).toEqual({});
    expect(results[1]!.actions).toEqual({ read: 'EFFECT_DENY' });
    const e = pdp.decisions.at(-1)!;
    const txn = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).txn as string;
    expect(e).toMatchObject({ event: 'check', api: 'cerbos', effect: 'partial', txn, sub: 'alice', workload: 'mcp-support-agent', request_id: 'tx-1' });
    expect((e.resources as { scope_denied?: string[] }[])[0]!.scope_denied).toEqual(['comment']);
    expect(JSON.stringify(pdp.decisions)).not.toContain(token);
  });

  it('the principal is the one authorize builds: the same decisions, the agent workload refused a refund by policy', async () => {
    const token = await world.exchange({ scope: 'tickets:read orders:read orders:refund' });
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: world.jwks, onDecision: null });
    const ctx = await verifier.verify(token);
    const engine = loadEngine();
    const order = { kind: 'order', id: 'o1', attr: { owner: 'alice' } };
    const r = await pdp.post('/api/check/resources', { resources: [{ resource: order, actions: ['read', 'refund'] }] }, { 'txn-token': token });
    const actions = (r.json.results as { actions: Record<string, string> }[])[0]!.actions;
    for (const action of ['read', 'refund']) {
      const d = authorize(ctx, order, action, { engine, scope: action === 'read' ? 'orders:read' : 'orders:refund', onDecision: () => {} });
      expect(actions[action], action).toBe(d.effect);
    }
    expect(actions['refund']).toBe('EFFECT_DENY'); // no-refund-via-agent: P.attr.workload is the agent
    await verifier.close();
  });

  it('PlanResources for the token user: conditional on ownership; ALWAYS_DENIED when the scope does not cover the action', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const ok = await pdp.post('/api/plan/resources', { resource: { kind: 'ticket' }, action: 'read', includeMeta: true }, { 'txn-token': token });
    expect(ok.json.filter).toMatchObject({ kind: 'KIND_CONDITIONAL' });
    expect((ok.json.meta as { filterDebug: string }).filterDebug).toContain('"alice"');
    const no = await pdp.post('/api/plan/resources', { resource: { kind: 'ticket' }, action: 'comment' }, { 'txn-token': token });
    expect(no.json.filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'plan', effect: 'deny', policy: 'scope', sub: 'alice' });
  });

  it('AuthZEN evaluation without a subject: the token user, scope checked', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const resource = { type: 'ticket', id: 't1', properties: { owner: 'alice' } };
    const read = await pdp.post('/access/v1/evaluation', { resource, action: { name: 'read' } }, { 'txn-token': token });
    expect(read.json).toEqual({ decision: true });
    const comment = await pdp.post('/access/v1/evaluation', { resource, action: { name: 'comment' } }, { 'txn-token': token });
    expect(comment.json).toEqual({ decision: false });
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'evaluation', api: 'authzen', effect: 'deny', sub: 'alice', policy: 'scope' });
    const batch = await pdp.post('/access/v1/evaluations', { resource, evaluations: [{ action: { name: 'read' } }, { action: { name: 'comment' } }] }, { 'txn-token': token });
    expect(batch.json).toEqual({ evaluations: [{ decision: true }, { decision: false }] });
  });

  it('a refused token: 401, WWW-Authenticate names the code, the reason only in the log; no token and no principal: 400', async () => {
    const forged = await world.forge({ claims: { aud: 'other.example' } });
    const r = await pdp.post('/api/check/resources', { resources: [{ resource: ticket('alice'), actions: ['read'] }] }, { 'txn-token': forged });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Txn-Token error="/);
    expect(JSON.stringify(r.json)).not.toContain(forged.slice(0, 20));
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'verify', effect: 'deny', reason_code: expect.stringMatching(/aud/) });
    const none = await pdp.post('/api/check/resources', { resources: [{ resource: ticket('alice'), actions: ['read'] }] });
    expect(none.status).toBe(400);
    expect(none.json.message).toBe('validation error: principal: value is required');
  });

  it('an action with no configured scope is denied for a token (fail closed)', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const r = await pdp.post('/api/check/resources', { resources: [{ resource: ticket('alice'), actions: ['read', 'archive'] }] }, { 'txn-token': token });
    expect((r.json.results as { actions: Record<string, string> }[])[0]!.actions).toEqual({ read: 'EFFECT_ALLOW', archive: 'EFFECT_DENY' });
  });
});
