// The decision point inside workerd, mounted in the TTS Worker (`pdp.mount: true`): the same hono app as on Node,
// the bundled policies, Txn-Tokens minted by this Worker's TTS checked with its own keys.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { CheckInput, CheckResult } from '../../src/policy/index.js';
import { BASE, exchangeForm, post } from '../helpers/workers.js';

const json = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  SELF.fetch(`${BASE}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('baton pdp routes on Workers', () => {
  it('CheckResources decides as the Node engine for every principal x resource of the example testdata', async () => {
    const cases = JSON.parse(env.TEST_CASES) as CheckInput[];
    const node = JSON.parse(env.TEST_NODE_DECISIONS) as CheckResult[];
    // no clock is sent over the wire: only cases whose decisions do not depend on the time are compared
    let compared = 0;
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const res = await json('/api/check/resources', { principal: c.principal, resources: [{ resource: c.resource, actions: c.actions }] });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { results: { actions: Record<string, string> }[] };
      const want = Object.fromEntries(Object.entries(node[i]!.actions).map(([a, e]) => [a, e.effect]));
      if (JSON.stringify(c).includes('At')) continue;
      expect(body.results[0]!.actions, JSON.stringify(c)).toEqual(want);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
  });

  it('a Txn-Token from this TTS is the principal; its scope must cover the action', async () => {
    const { access_token } = (await (await post('/token', await exchangeForm({ scope: 'tickets:read' }))).json()) as { access_token: string };
    const resource = { kind: 'ticket', id: 't1', attr: { owner: 'alice' } };
    const res = await json('/api/check/resources', { resources: [{ resource, actions: ['read', 'comment'] }] }, { 'txn-token': access_token });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { results: { actions: unknown }[] }).results[0]!.actions).toEqual({ read: 'EFFECT_ALLOW', comment: 'EFFECT_DENY' });
    const ev = await json('/access/v1/evaluation', { resource: { type: 'ticket', id: 't1', properties: { owner: 'alice' } }, action: { name: 'read' } }, { 'txn-token': access_token });
    expect(await ev.json()).toEqual({ decision: true });
    const fwd = await SELF.fetch(`${BASE}/forward-auth`, { headers: { 'txn-token': access_token, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/users/alice/tickets/t1' } });
    expect(fwd.status).toBe(200);
    expect(fwd.headers.get('x-baton-sub')).toBe('alice');
    const bad = await json('/api/check/resources', { resources: [{ resource, actions: ['read'] }] }, { 'txn-token': `${access_token.slice(0, -4)}AAAA` });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Txn-Token error="/);
  });

  it('health, metadata naming the Worker URL, and Cerbos errors', async () => {
    expect(await (await SELF.fetch(`${BASE}/_cerbos/health`)).json()).toEqual({ status: 'SERVING' });
    const meta = (await (await SELF.fetch(`${BASE}/.well-known/authzen-configuration`)).json()) as Record<string, string>;
    expect(meta.policy_decision_point).toBe(BASE);
    const bad = await json('/api/check/resources', {});
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe('validation errors:\n - principal: value is required\n - resources: value is required');
  });
});
