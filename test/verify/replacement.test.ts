/**
 * Replacement at the TTS (R-01..R-06, T-22, T-23) as a receiving service relies on it: refusals, and a property
 * test over random chains of replacements with random scope requests, each token checked by the verifier.
 */
import * as fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/jose/keys.js';
import { createVerifier, type TxnContext, type Verifier } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import type { RefusalReason } from '../../src/exchange/index.js';
import { expectRefusal, type ExchangeResult } from '../helpers/tts.js';
import { ALL_SCOPES, HOPS, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

const MAX_DEPTH = 4;
let w: VerifyWorld;
let v: Verifier;

beforeAll(async () => {
  w = await startVerifyWorld({ maxChainDepth: MAX_DEPTH });
  v = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: w.tts.issuer, jwks: w.jwks });
});
afterAll(async () => {
  await v?.close();
  await w?.close();
});

/** The refusal's RFC 6749 §5.2 body (read from the raw response text). */
function errorOf(r: ExchangeResult): { error?: string; error_description?: string } {
  return r.ok === undefined ? (JSON.parse(r.text) as { error?: string; error_description?: string }) : {};
}

/** A refused replacement: 400, the error, the reason the TTS logged; returns the description. */
function refused(r: ExchangeResult, error: string, reason: RefusalReason): string {
  expect(r.ok, 'the replacement was granted').toBeUndefined();
  expectRefusal(r, 400, error, reason);
  return errorOf(r).error_description ?? '';
}

describe('refusals at replacement', () => {
  it('R-01 an expired input Txn-Token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await w.forge({ claims: { iat: now - 600, exp: now - 120 } });
    expect(refused(await w.replace('hop-1', expired), 'invalid_request', 'replace.expired')).toMatch(/expired/);
  });

  it('R-03 widening the scope: a scope the input token does not carry is invalid_scope', async () => {
    const t = await w.exchange({ scope: 'tickets:read' });
    refused(await w.replace('hop-1', t, { scope: 'orders:read' }), 'invalid_scope', 'scope.none_granted');
    // a broader scope than the one carried (tickets ⊇ tickets:read) is widening too
    refused(await w.replace('hop-1', t, { scope: 'tickets' }), 'invalid_scope', 'scope.none_granted');
  });

  it('R-03 widening the scope partly: only the carried part is granted, and the response says so', async () => {
    const t = await w.exchange({ scope: 'tickets:read' });
    const r = await w.replace('hop-1', t, { scope: 'tickets:read orders:read tickets:write' });
    expect(r.ok?.scope).toBe('tickets:read');
    expect([...(await v.verify(r.ok!.access_token)).scope]).toEqual(['tickets:read']);
  });

  it('R-02 R-04 request_details cannot change sub, aud or txn (copied unchanged); only allow-listed tctx members are added; an existing one cannot change', async () => {
    const first = await v.verify(await w.exchange());
    const r = await w.replace('hop-1', first.token, {
      request_details: JSON.stringify({ sub: 'bob', aud: 'evil.example', txn: 'other-txn', iss: 'x', tool: 'lookup', ticket_id: 'T-1' }),
    });
    const t = await v.verify(r.ok!.access_token);
    expect(t.sub).toBe('alice');
    expect(t.txn).toBe(first.txn);
    expect(t.claims.aud).toBe(TRUST_DOMAIN);
    expect(t.claims.iss).toBe(w.tts.issuer);
    expect(t.tctx.request_details).toEqual({ tool: 'lookup', ticket_id: 'T-1' });
    expect(t.tctx.roles).toEqual(first.tctx.roles);
    const changed = await w.replace('hop-2', t.token, { request_details: JSON.stringify({ ticket_id: 'T-2' }) });
    expect(refused(changed, 'invalid_request', 'replace.tctx_changed')).toMatch(/ticket_id/);
  });

  it('R-02 audience cannot change: another trust domain in the request is invalid_target', async () => {
    const t = await w.exchange();
    const r = await w.replace('hop-1', t, { audience: 'other.example' });
    refused(r, 'invalid_target', 'request.audience_unknown');
  });

  it(`T-23 R-05 a chain deeper than maxChainDepth (${MAX_DEPTH}) is invalid_request`, async () => {
    let token = await w.exchange();
    for (let i = 0; i < MAX_DEPTH - 1; i++) {
      const r = await w.replace(HOPS[i]!, token);
      token = r.ok!.access_token;
    }
    expect((await v.verify(token)).chain).toHaveLength(MAX_DEPTH);
    expect(refused(await w.replace(HOPS[MAX_DEPTH - 1]!, token), 'invalid_request', 'chain.too_deep')).toMatch(/hops/);
  });

  it('R-01 a Txn-Token of another trust domain, or signed by another TTS, is refused', async () => {
    const otherDomain = await w.forge({ claims: { aud: 'other.example' } });
    expect(refused(await w.replace('hop-1', otherDomain), 'invalid_request', 'replace.wrong_audience')).toMatch(/trust domain/);
    const otherTts = await w.forge({ jwk: await generateSigningJwk('EdDSA') });
    refused(await w.replace('hop-1', otherTts), 'invalid_request', 'replace.unknown_kid');
  });

  it('R-01 V-08 a revoked transaction cannot be replaced', async () => {
    const t = await v.verify(await w.exchange());
    await w.tts.node.store.revoke(t.txn, t.exp);
    expect(refused(await w.replace('hop-1', t.token), 'invalid_request', 'replace.revoked')).toMatch(/revoked/);
  });
});

describe('issue 10 finding 13: replacement verifies the input exactly as a receiving service does (R-01)', () => {
  it("issue 10 finding 13: an input Txn-Token whose outermost act is not req_wl is refused for replacement, as baton/verify refuses it", async () => {
    const forged = await w.forge({ claims: { req_wl: 'mcp-support-agent', act: { sub: 'hop-3', act: { sub: 'mcp-support-agent' } } } });
    await expect(v.verify(forged)).rejects.toMatchObject({ code: 'malformed', message: 'the outermost act does not name req_wl' });
    expect(refused(await w.replace('hop-1', forged), 'invalid_request', 'replace.invalid_claim.act')).toMatch(/the outermost act does not name req_wl/);
  });

  it('issue 10 finding 13: for every defect, the TTS accepts an input token for replacement exactly when the verifier accepts it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const deep = JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`) as unknown;
    const cases: Array<[string, Promise<string>]> = [
      ['valid', w.forge()],
      ['act names another workload', w.forge({ claims: { act: { sub: 'hop-2' } } })],
      ['act nested under the wrong outermost', w.forge({ claims: { act: { sub: 'hop-2', act: { sub: 'mcp-support-agent' } } } })],
      ['empty sub', w.forge({ claims: { sub: '' } })],
      ['empty txn', w.forge({ claims: { txn: '' } })],
      ['no req_wl', w.forge({ omit: ['req_wl'] })],
      ['scope not a string', w.forge({ claims: { scope: ['tickets:read'] } })],
      ['tctx an array', w.forge({ claims: { tctx: [] } })],
      ['tctx nested 100 levels', w.forge({ claims: { tctx: { roles: ['user'], attr: { x: deep } } } })],
      ['act without sub', w.forge({ claims: { act: { act: { sub: 'x' } } } })],
      ['iat in the future', w.forge({ claims: { iat: now + 3600, exp: now + 3700 } })],
      ['wrong typ', w.forge({ header: { typ: 'JWT' } })],
      ['no typ', w.forge({ omitHeader: ['typ'] })],
      ['another issuer', w.forge({ claims: { iss: 'https://other-tts.example' } })],
      ['expired', w.forge({ claims: { iat: now - 600, exp: now - 300 } })],
    ];
    const verdicts: Array<{ name: string; verifier: string; tts: string }> = [];
    for (const [name, tokenP] of cases) {
      const token = await tokenP;
      const verifier = await v.verify(token).then(
        () => 'accept',
        () => 'refuse',
      );
      const r = await w.replace('hop-1', token);
      const tts = r.ok !== undefined ? 'accept' : r.response.status < 500 ? 'refuse' : `5xx ${r.response.status}`;
      verdicts.push({ name, verifier, tts });
    }
    expect(verdicts.filter((x) => x.verifier !== x.tts)).toEqual([]);
    expect(verdicts.filter((x) => x.verifier === 'accept').map((x) => x.name)).toEqual(['valid']);
  });
});

describe('property: random chains of replacements', () => {
  const requestable = [...ALL_SCOPES, 'tickets', 'orders'];
  /** what the example policy always allows a `user` through a non-agent workload with the full ceiling */
  const alwaysGrantable = new Set(['tickets:read', 'orders:read', 'tickets:write']);

  it('R-02 R-03 R-05 R-06 sub and txn never change, scope ⊆ every ancestor, the chain grows by exactly one, exp never grows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(['tickets:read', 'orders:read'], { minLength: 1 }),
        fc.array(fc.record({ hop: fc.constantFrom(...HOPS), scopes: fc.subarray(requestable, { minLength: 1 }) }), { minLength: 1, maxLength: MAX_DEPTH - 1 }),
        async (initial, steps) => {
          const root = await v.verify(await w.exchange({ scope: initial.join(' ') }));
          const ancestors: TxnContext[] = [root];
          let cur = root;
          for (const step of steps) {
            const r = await w.replace(step.hop, cur.token, { scope: step.scopes.join(' ') });
            const carried = step.scopes.filter((s) => cur.scope.has(s));
            if (r.ok === undefined) {
              expect(errorOf(r).error, r.text).toBe('invalid_scope');
              // the TTS may refuse only when nothing requested is both carried and allowed by policy
              expect(carried.filter((s) => alwaysGrantable.has(s))).toEqual([]);
              continue;
            }
            const next = await v.verify(r.ok.access_token);
            expect(next.sub).toBe(root.sub);
            expect(next.txn).toBe(root.txn);
            for (const a of ancestors) for (const s of next.scope) expect(a.scope.has(s), `${s} ∉ ancestor scope`).toBe(true);
            for (const s of next.scope) expect(step.scopes).toContain(s);
            for (const s of carried) if (alwaysGrantable.has(s)) expect(next.scope.has(s)).toBe(true);
            expect(next.chain).toEqual([step.hop, ...cur.chain]);
            expect(next.exp).toBeLessThanOrEqual(cur.exp);
            expect(next.tctx.roles).toEqual(root.tctx.roles);
            ancestors.push(next);
            cur = next;
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
