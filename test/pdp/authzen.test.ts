// AuthZEN 1.0 at `baton pdp`: every request and answer parsed with the AuthZEN schemas (test/helpers/authzen.ts);
// the evaluations semantics; evaluations without an array; search for resources (the query planner), actions and
// subjects where the policies allow an answer; the metadata naming the URL it was fetched from.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azDecision, azEvaluationRequest, azEvaluationsRequest, azEvaluationsResponse, azMetadata, azSearchActions, azSearchEntities } from '../helpers/authzen.js';
import { startTestPdp, type TestPdp } from '../helpers/pdp.js';
import { POLICY_DIR } from '../helpers/world-verify.js';

const alice = { type: 'user', id: 'alice' };
const own = { type: 'ticket', id: 't1', properties: { owner: 'alice' } };
const bobs = { type: 'ticket', id: 't2', properties: { owner: 'bob' } };

describe('AuthZEN 1.0 at baton pdp (the example policies)', () => {
  let pdp: TestPdp;
  beforeAll(async () => {
    pdp = await startTestPdp(POLICY_DIR);
  });
  afterAll(async () => pdp?.close());

  it('evaluation: valid request, valid answer, the owner reads her ticket and not bob\'s', async () => {
    for (const [resource, want] of [[own, true], [bobs, false]] as const) {
      const req = azEvaluationRequest.parse({ subject: alice, resource, action: { name: 'read' } });
      const r = await pdp.post('/access/v1/evaluation', req);
      expect(r.status).toBe(200);
      expect(azDecision.parse(r.json)).toEqual({ decision: want });
    }
  });

  it('evaluations: execute_all answers all; deny_on_first_deny and permit_on_first_permit stop after the first', async () => {
    const evaluations = [{ resource: own, action: { name: 'read' } }, { resource: bobs, action: { name: 'read' } }, { resource: own, action: { name: 'comment' } }];
    const ask = async (semantic?: string) => {
      const req = azEvaluationsRequest.parse({ subject: alice, evaluations, ...(semantic ? { options: { evaluations_semantic: semantic } } : {}) });
      const r = await pdp.post('/access/v1/evaluations', req);
      return azEvaluationsResponse.parse(r.json).evaluations.map((e) => e.decision);
    };
    expect(await ask()).toEqual([true, false, true]);
    expect(await ask('execute_all')).toEqual([true, false, true]);
    expect(await ask('deny_on_first_deny')).toEqual([true, false]);
    expect(await ask('permit_on_first_permit')).toEqual([true]);
    const bad = await pdp.post('/access/v1/evaluations', { subject: alice, evaluations, options: { evaluations_semantic: 'some' } });
    expect(bad.status).toBe(400);
  });

  it('evaluations without an evaluations array is one evaluation, answered as one', async () => {
    const r = await pdp.post('/access/v1/evaluations', azEvaluationsRequest.parse({ subject: alice, resource: own, action: { name: 'read' } }));
    expect(azDecision.parse(r.json)).toEqual({ decision: true });
  });

  it('search/resource: the planner\'s answer; a filter on attributes cannot be listed (complete: false, the plan given)', async () => {
    const r = await pdp.post('/access/v1/search/resource', { subject: alice, action: { name: 'read' }, resource: { type: 'ticket' } });
    const a = azSearchEntities.parse(r.json);
    expect(a.results).toEqual([]);
    expect(a.context?.['baton.complete']).toBe(false);
    expect(JSON.stringify(a.context?.['baton.plan'])).toContain('request.resource.attr.owner');
    const none = await pdp.post('/access/v1/search/resource', { subject: alice, action: { name: 'refund' }, resource: { type: 'order' } });
    expect(azSearchEntities.parse(none.json)).toEqual({ results: [] });
  });

  it('search/action: the actions alice may take on her ticket', async () => {
    const r = await pdp.post('/access/v1/search/action', { subject: alice, resource: own });
    expect(azSearchActions.parse(r.json).results.map((x) => x.name).sort()).toEqual(['comment', 'create', 'read']);
  });

  it('metadata: policy_decision_point is the URL it was fetched from, every endpoint under it', async () => {
    const m = azMetadata.parse(await (await fetch(`${pdp.url}/.well-known/authzen-configuration`)).json());
    expect(m.policy_decision_point).toBe(pdp.url);
    expect(m.search_resource_endpoint).toBe(`${pdp.url}/access/v1/search/resource`);
  });
});

describe('AuthZEN search where the policies name ids and principals', () => {
  let pdp: TestPdp;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-authzen-'));
    writeFileSync(
      join(dir, 'doc.yaml'),
      'apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: doc\n  version: default\n  rules:\n    - actions: ["read"]\n      effect: EFFECT_ALLOW\n      roles: ["user"]\n      condition:\n        match:\n          expr: R.id in ["d1", "d2"]\n',
    );
    writeFileSync(join(dir, 'carol.yaml'), 'apiVersion: api.cerbos.dev/v1\nprincipalPolicy:\n  principal: carol\n  version: default\n  rules:\n    - resource: doc\n      actions:\n        - action: "*"\n          effect: EFFECT_ALLOW\n');
    pdp = await startTestPdp(dir);
  });
  afterAll(async () => {
    await pdp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('search/resource lists the ids a filter names', async () => {
    const r = await pdp.post('/access/v1/search/resource', { subject: alice, action: { name: 'read' }, resource: { type: 'doc' } });
    expect(azSearchEntities.parse(r.json)).toEqual({ results: [{ type: 'doc', id: 'd1' }, { type: 'doc', id: 'd2' }] });
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'search', api: 'authzen', effect: 'conditional', search: 'resource' });
  });

  it('search/subject lists the principals with principal policies that may; complete: false when any subject of the type may', async () => {
    const write = await pdp.post('/access/v1/search/subject', { subject: { type: 'user' }, action: { name: 'write' }, resource: { type: 'doc', id: 'd9' } });
    expect(azSearchEntities.parse(write.json)).toEqual({ results: [{ type: 'user', id: 'carol' }] });
    const read = await pdp.post('/access/v1/search/subject', { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'doc', id: 'd1' } });
    expect(azSearchEntities.parse(read.json)).toEqual({ results: [{ type: 'user', id: 'carol' }], context: { 'baton.complete': false } });
  });
});
