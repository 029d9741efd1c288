/**
 * Issue 16: operations over real HTTP on loopback. Prometheus counters move after real exchanges, refusals and rate
 * limits; /livez and /readyz (503 with the reason, never a host name); /healthz keeps working; X-Request-Id accepted
 * or created, returned and in the decision log; the OpenAPI 3.1 description validated by an OpenAPI parser.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentedTokenParams, readParams } from '../../src/server/openapi.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStore } from '../../src/store/memory.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { GRANT_TOKEN_EXCHANGE } from '../../src/txn/index.js';
import { basic } from '../helpers/names.js';
import { metricValue, writeScopePolicy } from '../helpers/ops.js';
import { exchangeParams, expectRefusal, o4wExchange, rawPost, startTts, type TestTts } from '../helpers/tts.js';
import { baseConfig, SECRETS, startWorld, type World } from '../helpers/world-tts.js';

let w: World;
let tts: TestTts;
let policyDir: string;

beforeAll(async () => {
  w = await startWorld();
  policyDir = mkdtempSync(join(tmpdir(), 'baton-ops-policies-'));
  writeScopePolicy(policyDir, ['tickets:read']);
  tts = await startTts({
    config: () => {
      const c = baseConfig(w.idp, w.clientKey, { policies: policyDir });
      return { ...c, clients: c.clients!.map((cl) => (cl.id === 'narrow' ? { ...cl, rateLimit: { perClient: 2, perSubject: 100, windowSeconds: 60 } } : cl)) };
    },
  });
});
afterAll(async () => {
  await tts?.close();
  await w?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

async function metrics(): Promise<string> {
  const r = await fetch(`${tts.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('text/plain');
  return r.text();
}

describe('issue 16: Prometheus metrics at /metrics', () => {
  it('issue 16: exchanges, refusals by error and reason code, policy drops, rate limits, store, JWKS fetches, stages and HTTP latency move after real requests', async () => {
    const before = await metrics();
    const grants0 = metricValue(before, 'baton_decisions_total', { event: 'exchange', effect: 'grant' }) ?? 0;
    // a grant narrowed by the policy (tickets:write dropped by resource.txn_token.vdefault)
    const ok = await o4wExchange(tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint(), { scope: 'tickets:read tickets:write' }));
    expect(ok.response.status, ok.text).toBe(200);
    expect(ok.ok!.scope).toBe('tickets:read');
    // a refusal: a wrong secret
    const bad = await rawPost(tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(await w.idp.mint()) }), { authorization: basic('mcp-support-agent', 'wrong-secret-0123456789') });
    expectRefusal(bad, 401, 'invalid_client', 'client.secret_mismatch');
    // a rate limit: narrow may exchange twice a minute
    for (let i = 0; i < 2; i++) expect((await o4wExchange(tts.as, 'narrow', w.auth.narrow, exchangeParams(await w.idp.mint()))).response.status).toBe(200);
    const limited = await o4wExchange(tts.as, 'narrow', w.auth.narrow, exchangeParams(await w.idp.mint()));
    expect(limited.response.status).toBe(429);

    const after = await metrics();
    expect(metricValue(after, 'baton_decisions_total', { event: 'exchange', effect: 'grant' })).toBe(grants0 + 3);
    expect(metricValue(after, 'baton_decisions_total', { event: 'exchange', effect: 'deny', error: 'invalid_client', reason_code: 'client.secret_mismatch' })).toBe(1);
    expect(metricValue(after, 'baton_rate_limit_refusals_total', { reason_code: 'limit.client' })).toBe(1);
    expect(metricValue(after, 'baton_policy_decisions_total', { effect: 'deny', policy: 'resource.txn_token.vdefault' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(after, 'baton_http_requests_total', { route: '/token', method: 'POST', status: '200' })).toBe(3);
    expect(metricValue(after, 'baton_http_request_duration_seconds_count', { route: '/token', method: 'POST' })).toBe(5);
    expect(metricValue(after, 'baton_store_operation_duration_seconds_count', { op: 'rateLimitAll' })).toBeGreaterThanOrEqual(4);
    expect(metricValue(after, 'baton_stage_duration_seconds_count', { stage: 'baton.exchange.scope', outcome: 'ok' })).toBeGreaterThanOrEqual(3);
    expect(metricValue(after, 'baton_stage_duration_seconds_count', { stage: 'baton.exchange.client', outcome: 'error' })).toBeGreaterThanOrEqual(1);
    // the set serving: the policy hash and the signing key in use
    const kid = (await (await fetch(`${tts.url}/.well-known/jwks.json`)).json() as { keys: Array<{ kid: string }> }).keys[0]!.kid;
    expect(metricValue(after, 'baton_signing_key_info', { kid })).toBe(1);
    expect(after).toMatch(/baton_policy_set_info\{hash="sha256:[0-9a-f]{64}"\} 1/);
    expect(metricValue(after, 'baton_reload_failed')).toBe(0);
    // the subject issuer's JWKS was fetched (over loopback from the test IdP) through the counted fetch
    expect(metricValue(after, 'baton_jwks_fetches_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(after, 'baton_jwks_fetch_duration_seconds_count')).toBe(metricValue(after, 'baton_jwks_fetches_total', { outcome: 'ok' }));
    expect(metricValue(after, 'baton_policy_set_loaded_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 3600);
  });

  it('issue 16: a revocation moves its own counter', async () => {
    const before = metricValue(await metrics(), 'baton_decisions_total', { event: 'revoke', effect: 'grant' }) ?? 0;
    const ex = await o4wExchange(tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint()));
    const r = await rawPost(tts.url, new URLSearchParams({ token: ex.ok!.access_token }), { authorization: basic('mcp-support-agent', SECRETS.agent) }, '/revoke');
    expect(r.response.status).toBe(200);
    expect(metricValue(await metrics(), 'baton_decisions_total', { event: 'revoke', effect: 'grant' })).toBe(before + 1);
  });
});

describe('issue 16: X-Request-Id', () => {
  it('issue 16: a plain X-Request-Id is kept, returned and logged; none (or one that is not plain) gets a new one', async () => {
    const sent = await rawPost(tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(await w.idp.mint()) }), { authorization: basic('mcp-support-agent', SECRETS.agent), 'x-request-id': 'req-42.abc' });
    expect(sent.response.status).toBe(200);
    expect(sent.response.headers.get('x-request-id')).toBe('req-42.abc');
    expect(tts.decisions.at(-1)).toMatchObject({ event: 'exchange', effect: 'grant', request_id: 'req-42.abc' });
    expect(JSON.parse(tts.lines.at(-1)!)).toMatchObject({ request_id: 'req-42.abc' });

    const none = await rawPost(tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(await w.idp.mint()) }), { authorization: basic('mcp-support-agent', 'wrong-secret-0123456789') });
    const created = none.response.headers.get('x-request-id');
    expect(created).toMatch(/^[0-9a-f-]{36}$/);
    expect(tts.decisions.at(-1)).toMatchObject({ effect: 'deny', request_id: created });

    const odd = await fetch(`${tts.url}/livez`, { headers: { 'x-request-id': 'two words\u00e9' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('issue 16: tracing with no OpenTelemetry SDK registered (this file registers none)', () => {
  it("issue 16: each exchange step is still timed by stage, and a caller's traceparent still gives the decision entry its trace_id", async () => {
    const stages = ['baton.exchange', 'baton.exchange.client', 'baton.exchange.subject', 'baton.exchange.scope', 'baton.exchange.mint'];
    const count = (text: string, stage: string) => metricValue(text, 'baton_stage_duration_seconds_count', { stage, outcome: 'ok' }) ?? 0;
    const before = await metrics();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traced = await rawPost(tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(await w.idp.mint()) }), { authorization: basic('mcp-support-agent', SECRETS.agent), traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(traced.response.status).toBe(200);
    expect(tts.decisions.at(-1)).toMatchObject({ event: 'exchange', effect: 'grant', trace_id: traceId });
    const plain = await rawPost(tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(await w.idp.mint()) }), { authorization: basic('mcp-support-agent', SECRETS.agent) });
    expect(plain.response.status).toBe(200);
    expect(tts.decisions.at(-1)).toMatchObject({ event: 'exchange', effect: 'grant' });
    expect(tts.decisions.at(-1)!.trace_id).toBeUndefined();
    const after = await metrics();
    for (const stage of stages) expect(count(after, stage), stage).toBe(count(before, stage) + 2);
  });
});

describe('issue 16: /livez, /readyz, /healthz', () => {
  it('issue 16: live and ready: keys loaded, policies compiled, store reachable; /healthz as before', async () => {
    const live = await fetch(`${tts.url}/livez`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${tts.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, Record<string, unknown>> };
    expect(body.status).toBe('ready');
    expect(body.checks.keys).toMatchObject({ ok: true });
    expect(body.checks.policies).toMatchObject({ ok: true, loaded: true });
    expect(body.checks.store).toEqual({ ok: true, backend: 'memory' });
    expect(body.checks.reload).toMatchObject({ generation: 1, reloads: { ok: 0, failed: 0 } });
    const health = await fetch(`${tts.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', store: { ok: true } });
  });

  it('issue 16: a store that cannot be reached makes /readyz 503 with the reason and no host name; /livez stays 200', async () => {
    const inner = new MemoryStore();
    // a store whose probe fails the way ioredis does when its host is down (the message names the host)
    const down: Store = {
      backend: 'redis',
      useOnce: (n, i, t) => inner.useOnce(n, i, t),
      revoke: (t, u) => inner.revoke(t, u),
      isRevoked: (t) => inner.isRevoked(t),
      rateLimit: (k, l, w) => inner.rateLimit(k, l, w),
      health: async () => {
        throw new StoreUnavailableError('connect ECONNREFUSED redis.internal.example:6379');
      },
      close: () => inner.close(),
    };
    const t = await startTts({ config: () => baseConfig(w.idp, w.clientKey), store: down });
    try {
      const r = await fetch(`${t.url}/readyz`);
      expect(r.status).toBe(503);
      const text = await r.text();
      expect(JSON.parse(text)).toMatchObject({ status: 'not_ready', reasons: ['store redis unreachable'], checks: { store: { ok: false, backend: 'redis' } } });
      expect(text).not.toContain('redis.internal.example');
      expect(text).not.toContain('6379');
      expect((await fetch(`${t.url}/livez`)).status).toBe(200);
      expect((await fetch(`${t.url}/healthz`)).status).toBe(503);
    } finally {
      await t.close();
    }
  });
});

describe('issue 16: OpenAPI 3.1 at /openapi.json', () => {
  it('issue 16: the description is valid OpenAPI 3.1 (an OpenAPI parser validates it), its /token form lists exactly what the request step reads', async () => {
    const r = await fetch(`${tts.url}/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as Record<string, unknown> & { paths: Record<string, unknown>; components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> } };
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    expect(Object.keys(doc.paths).sort()).toEqual(['/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/healthz', '/livez', '/metrics', '/openapi.json', '/readyz', '/revoke', '/token']);
    expect(documentedTokenParams()).toEqual(readParams());
    expect(Object.keys(doc.components.schemas.TokenRequest!.properties!).sort()).toEqual(readParams());
    expect(doc.components.schemas.TokenRequest!.required!.sort()).toEqual(['audience', 'grant_type', 'subject_token', 'subject_token_type']);
    // a broken description is refused by the same parser (the check can fail)
    const broken = structuredClone(doc) as Record<string, unknown>;
    delete broken.info;
    expect((await validate(broken as never)).valid).toBe(false);
  });
});
