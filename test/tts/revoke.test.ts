/**
 * Issue 10 findings 9 and 10: revocation at the TTS. The memory store forgets expired revocations; `/revoke` is rate
 * limited per workload; a decision sink that throws never turns a revocation into a 500; the revocation's lifetime
 * is read from the service clock. Over real HTTP on loopback where the path is HTTP, the store contract in-process.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/schema.js';
import { TokenService, type DecisionEntry } from '../../src/exchange/index.js';
import { generateSigningJwk, SigningKeySet } from '../../src/jose/keys.js';
import { createApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/store/memory.js';
import { basic } from '../helpers/names.js';
import { exchangeParams, expectRefusal, o4wExchange, startTts, type TestTts } from '../helpers/tts.js';
import { baseConfig, SECRETS, startWorld, type World } from '../helpers/world-tts.js';

async function revoke(url: string, params: Record<string, string>, authorization: string): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(`${url}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization }, body: new URLSearchParams(params).toString() });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

describe('issue 10 finding 9: the memory store forgets expired revocations', () => {
  it('issue 10 finding 9: expired revocations are dropped even behind a head of long-lived ones; live ones stay', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const store = new MemoryStore({ now: () => now });
    const nowSec = () => Math.floor(now / 1000);
    // 300 long-lived revocations first (a sweep that always started at the oldest entry would never get past them)
    for (let i = 0; i < 300; i++) await store.revoke(`long-${i}`, nowSec() + 86_400);
    for (let i = 0; i < 20_000; i++) await store.revoke(`short-${i}`, nowSec() + 60);
    expect(store.entryCounts().revoked).toBe(20_300);
    now += 120_000; // every short revocation has expired
    for (let i = 0; i < 20_000; i++) await store.isRevoked(`unrelated-${i}`);
    // 20,000 operations look at 80,000 entries: everything expired is gone
    expect(store.entryCounts().revoked).toBe(300);
    expect(await store.isRevoked('long-7')).toBe(true);
    expect(await store.isRevoked('short-7')).toBe(false);
    // single-use ids and rate-limit windows are swept the same way
    for (let i = 0; i < 5000; i++) await store.useOnce('ns', `id-${i}`, 1000);
    for (let i = 0; i < 5000; i++) await store.rateLimit(`k-${i}`, 10, 1000);
    now += 5000;
    for (let i = 0; i < 10_000; i++) await store.isRevoked('x');
    expect(store.entryCounts()).toMatchObject({ once: 0, windows: 0, revoked: 300 });
  });
});

describe('issue 10 findings 9, 10: /revoke', () => {
  let w: World;
  let limited: TestTts;
  beforeAll(async () => {
    w = await startWorld();
    limited = await startTts({
      config: () => {
        const c = baseConfig(w.idp, w.clientKey);
        return {
          ...c,
          clients: c.clients!.map((cl) => (cl.id === 'mcp-support-agent' ? { ...cl, revokeById: true, rateLimit: { perClient: 3, perSubject: 100, windowSeconds: 60 } } : cl)),
        };
      },
    });
  });
  afterAll(async () => {
    await limited?.close();
    await w?.close();
  });

  it('issue 10 finding 9: /revoke is rate limited per workload: 429 temporarily_unavailable with Retry-After, counted apart from exchanges', async () => {
    const auth = basic('mcp-support-agent', SECRETS.agent);
    for (let i = 0; i < 3; i++) expect((await revoke(limited.url, { txn: crypto.randomUUID() }, auth)).status).toBe(200);
    const r = await revoke(limited.url, { txn: crypto.randomUUID() }, auth);
    expect(r.status).toBe(429);
    expect(JSON.parse(r.text)).toMatchObject({ error: 'temporarily_unavailable', error_description: 'rate limit exceeded; retry later' });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.decisions.at(-1)).toMatchObject({ event: 'revoke', effect: 'deny', workload: 'mcp-support-agent', error: 'temporarily_unavailable', reason_code: 'limit.revoke' });
    // the exchange budget is its own
    const ex = await o4wExchange(limited.as, 'mcp-support-agent', oauth.ClientSecretBasic(SECRETS.agent), exchangeParams(await w.idp.mint()));
    expect(ex.response.status, ex.text).toBe(200);
    // another workload is not affected
    const poster = await fetch(`${limited.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: ex.ok!.access_token, client_id: 'poster', client_secret: SECRETS.poster }).toString(),
    });
    expect(poster.status).not.toBe(429);
  });

  it('issue 10 finding 10: a decision sink that throws never turns a successful revocation into a 500', async () => {
    const keys = await SigningKeySet.fromJwks([await generateSigningJwk('EdDSA')]);
    const config = parseConfig({ ...baseConfig(w.idp, w.clientKey), issuer: 'http://127.0.0.1:1', clients: [{ id: 'ops', auth: 'client_secret_basic', secret: SECRETS.agent, scopes: ['tickets:read'], revokeById: true }] });
    const store = new MemoryStore();
    let calls = 0;
    const seen: DecisionEntry[] = [];
    const service = await TokenService.create({ config, keys, store, onDecision: (e) => {
      calls++;
      seen.push(e);
      throw new Error('the log disk is full');
    } });
    const app = createApp({ service });
    const txn = crypto.randomUUID();
    const res = await app.fetch(new Request('http://tts.test/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('ops', SECRETS.agent) }, body: `txn=${txn}` }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(calls).toBe(1);
    expect(await store.isRevoked(txn)).toBe(true);
    // a refusal still answers its own error, not a 500
    const bad = await app.fetch(new Request('http://tts.test/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('ops', SECRETS.agent) }, body: '' }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request', error_description: 'exactly one of token or txn is required' });
    expect(calls).toBe(2);
    expect(seen[1]).toMatchObject({ effect: 'deny', error: 'invalid_request', reason_code: 'revoke.token_or_txn' });
  });

  it("issue 10 finding 10: /revoke stores the revocation until the service clock's now + maxTokenTtl + the longest verifier tolerance", async () => {
    const keys = await SigningKeySet.fromJwks([await generateSigningJwk('EdDSA')]);
    const config = parseConfig({ ...baseConfig(w.idp, w.clientKey), issuer: 'http://127.0.0.1:1', maxTokenTtl: 300, clients: [{ id: 'ops', auth: 'client_secret_basic', secret: SECRETS.agent, scopes: ['tickets:read'], revokeById: true }] });
    const serviceNow = new Date('2031-03-04T05:06:07Z');
    const stored: Array<{ txn: string; until: number }> = [];
    class RecordingStore extends MemoryStore {
      override async revoke(txn: string, until: number): Promise<void> {
        stored.push({ txn, until });
        return super.revoke(txn, until);
      }
    }
    const recording = new RecordingStore({ now: () => serviceNow.getTime() });
    const decisions: DecisionEntry[] = [];
    const service = await TokenService.create({ config, keys, store: recording, now: () => serviceNow, onDecision: (e) => decisions.push(e) });
    const app = createApp({ service });
    const txn = crypto.randomUUID();
    const res = await app.fetch(new Request('http://tts.test/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('ops', SECRETS.agent) }, body: `txn=${txn}` }));
    expect(res.status).toBe(200);
    expect(stored).toEqual([{ txn, until: Math.floor(serviceNow.getTime() / 1000) + 300 + 60 }]);
    expect(decisions).toEqual([{ time: serviceNow.toISOString(), hop: 'tts', event: 'revoke', effect: 'grant', workload: 'ops', txn, request_id: expect.any(String) }]);
  });

  it('a refused /revoke is logged with its reason, and an invalid token is a 200 that says nothing was revoked (RFC 7009 §2.2)', async () => {
    const n = w.tts.decisions.length;
    const stranger = await revoke(w.tts.url, { txn: crypto.randomUUID() }, basic('mcp-support-agent', SECRETS.agent));
    expectRefusal({ response: new Response(stranger.text, { status: stranger.status, headers: stranger.headers }), text: stranger.text }, 400, 'unauthorized_client', 'revoke.by_id_not_allowed');
    const invalid = await revoke(w.tts.url, { token: 'not.a.token' }, basic('mcp-support-agent', SECRETS.agent));
    expect(invalid.status).toBe(200);
    expect(w.tts.decisions.slice(n)).toMatchObject([
      { event: 'revoke', effect: 'deny', workload: 'mcp-support-agent', error: 'unauthorized_client', reason: 'this workload may not revoke by transaction id', reason_code: 'revoke.by_id_not_allowed' },
      { event: 'revoke', effect: 'grant', workload: 'mcp-support-agent', reason: 'the token is invalid or expired: nothing to revoke', reason_code: 'revoke.token_invalid' },
    ]);
  });
});
