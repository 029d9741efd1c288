/**
 * Issue 10 (hardening), the findings about what the TTS accepts, each pinned by a test named after it: self-signed
 * subjects (finding 1, T-10, T-11, T-13), client-assertion audience arrays (2, T-08), the scope source of ID tokens
 * (3, T-13), claims copied from a subject token bounded in depth and size (4, T-21) and the empty `sub` (12).
 * Real HTTP on loopback, oauth4webapi as the workload, a test IdP serving its JWKS on loopback.
 */
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScopePolicy } from '../../src/exchange/scope.js';
import { CLIENT_ASSERTION_JWT, GRANT_TOKEN_EXCHANGE, TT_ID_TOKEN, TT_SELF_SIGNED, TT_UNSIGNED_JSON } from '../../src/txn/index.js';
import { clientAssertion, selfSignedSubject, withDeepClaim } from '../helpers/jwt.js';
import { exchangeParams, type ExchangeResult, expectRefusal, o4wExchange, rawPost } from '../helpers/tts.js';
import { SECRETS, startWorld, type World } from '../helpers/world-tts.js';

/** A scope policy a support lead passes and nobody else: what a workload asserting roles would try to reach. */
const leadOnlyRefunds: ScopePolicy = {
  allowedScopes(input, candidates) {
    const lead = input.principal.roles.includes('support_lead');
    const allowed = candidates.filter((s) => s !== 'orders:refund' || lead);
    return { allowed, denied: candidates.filter((s) => !allowed.includes(s)).map((scope) => ({ scope, policy: 'test.lead-only-refunds' })) };
  },
};

function description(r: ExchangeResult): string {
  return String((JSON.parse(r.text) as { error_description?: unknown }).error_description);
}

let w: World;
beforeAll(async () => {
  w = await startWorld({ tts: { policy: leadOnlyRefunds } });
});
afterAll(async () => {
  await w?.close();
});

const jwtPlain = () => oauth.PrivateKeyJwt({ key: w.clientKey.privateKey, kid: w.clientKey.kid });
const asJwt = (params: Record<string, string>) => o4wExchange(w.tts.as, 'jwt-client', w.auth.jwt, params);
const selfSigned = (claims: Record<string, unknown>, o: { sub?: string; aud?: string } = {}) => selfSignedSubject(w.clientKey, 'jwt-client', w.tts.issuer, claims, o);

describe('issue 10 finding 1: self-signed subjects (T-10, T-11, T-13)', () => {
  it('issue 10 finding 1: a self-signed subject from a private_key_jwt workload without allowSelfSignedSubject is invalid_request', async () => {
    const subject = await selfSignedSubject(w.clientKey, 'jwt-plain', w.tts.issuer, { sub: 'bob', roles: ['support_lead'], scope: 'orders:refund tickets:read' });
    const r = await o4wExchange(w.tts.as, 'jwt-plain', jwtPlain(), exchangeParams(subject, { subject_token_type: TT_SELF_SIGNED, scope: 'tickets:read' }));
    expectRefusal(r, 400, 'invalid_request', 'subject.self_signed_not_allowed', [subject]);
    expect(description(r)).toMatch(/self-signed subject \(allowSelfSignedSubject is off\)/);
    // the same workload's ordinary exchange of a user's token still works
    const ok = await o4wExchange(w.tts.as, 'jwt-plain', jwtPlain(), exchangeParams(await w.idp.mint()));
    expect(ok.response.status, ok.text).toBe(200);
  });

  it('issue 10 finding 1: roles a workload asserts about a user never become principal roles by default (the attack of the finding)', async () => {
    const subject = await selfSigned({ roles: ['support_lead'], tenant: 'acme', scope: 'orders:refund tickets:read' }, { sub: 'bob' });
    // orders:refund needs the support_lead role: the asserted role does not count, so nothing is granted
    const refund = await asJwt(exchangeParams(subject, { subject_token_type: TT_SELF_SIGNED, scope: 'orders:refund' }));
    expectRefusal(refund, 400, 'invalid_scope', 'scope.none_granted', [subject]);
    const again = await selfSigned({ roles: ['support_lead'], tenant: 'acme', scope: 'orders:refund tickets:read' }, { sub: 'bob' });
    const r = await asJwt(exchangeParams(again, { subject_token_type: TT_SELF_SIGNED, scope: 'tickets:read orders:refund' }));
    expect(r.response.status, r.text).toBe(200);
    expect(r.ok!.scope).toBe('tickets:read');
    const claims = decodeJwt(r.ok!.access_token) as { sub: string; tctx: { roles: string[]; attr: Record<string, unknown> }; rctx: Record<string, unknown> };
    expect(claims.sub).toBe('bob');
    expect(claims.tctx.roles).toEqual(['user']);
    expect(claims.tctx.attr).toEqual({});
    expect(claims.rctx.authn).toBe('self_signed');
  });

  it('issue 10 finding 1: an unsigned subject is read by the same rule: asserted roles are ignored unless configured', async () => {
    const unsigned = JSON.stringify({ sub: 'bob', roles: ['support_lead'], scope: 'orders:refund tickets:read' });
    const r = await o4wExchange(w.tts.as, 'unsigned-ok', w.auth.unsigned, exchangeParams(unsigned, { subject_token_type: TT_UNSIGNED_JSON, scope: 'tickets:read orders:refund' }));
    expect(r.response.status, r.text).toBe(200);
    expect(r.ok!.scope).toBe('tickets:read');
    expect((decodeJwt(r.ok!.access_token) as { tctx: { roles: string[] } }).tctx.roles).toEqual(['user']);
  });

  it('issue 10 finding 1: a self-signed subject whose scope cannot be determined is refused (T-13, draft -10 MUST reject)', async () => {
    for (const claims of [{}, { scope: '' }, { scope: '   ' }, { scope: 42 }, { scope: { orders: true } }, { scp: [1, 2] }, { scp: [] }]) {
      const subject = await selfSigned(claims);
      const r = await asJwt(exchangeParams(subject, { subject_token_type: TT_SELF_SIGNED }));
      expectRefusal(r, 400, 'invalid_request', 'subject.no_scope', [subject]);
      expect(description(r), JSON.stringify(claims)).toMatch(/carries no scope \(T-13\)/);
    }
  });

  it('issue 10 finding 1: T-11 applies to self-signed subjects: one addressed to another audience than this TTS is refused', async () => {
    const subject = await selfSigned({ scope: 'tickets:read' }, { aud: 'https://mcp.support.example' });
    const r = await asJwt(exchangeParams(subject, { subject_token_type: TT_SELF_SIGNED }));
    expectRefusal(r, 400, 'invalid_request', 'subject.wrong_audience', [subject]);
    expect(description(r)).toMatch(/audience/);
  });
});

describe('issue 10 finding 1: asserted roles and attributes only where the configuration says so', () => {
  let cw: World;
  beforeAll(async () => {
    cw = await startWorld({
      tts: { policy: leadOnlyRefunds },
      overrides: {},
    });
  });
  afterAll(async () => {
    await cw?.close();
  });

  it('issue 10 finding 1: with assertedSubject.rolesClaim and principalAttributes configured, the asserted roles and attributes are the principal', async () => {
    // the same base configuration, with jwt-client configured to vouch for the roles and the tenant it asserts
    const { startTts } = await import('../helpers/tts.js');
    const { baseConfig } = await import('../helpers/world-tts.js');
    const tts = await startTts({
      policy: leadOnlyRefunds,
      config: () => {
        const c = baseConfig(cw.idp, cw.clientKey);
        return {
          ...c,
          clients: c.clients!.map((cl) => (cl.id === 'jwt-client' ? { ...cl, assertedSubject: { rolesClaim: 'roles', principalAttributes: ['tenant'] } } : cl)),
        };
      },
    });
    try {
      const subject = await selfSignedSubject(cw.clientKey, 'jwt-client', tts.issuer, { roles: ['support_lead'], tenant: 'acme', email: 'x@y', scope: 'orders:refund' }, { sub: 'bob' });
      const r = await o4wExchange(tts.as, 'jwt-client', oauth.PrivateKeyJwt({ key: cw.clientKey.privateKey, kid: cw.clientKey.kid }), exchangeParams(subject, { subject_token_type: TT_SELF_SIGNED, scope: 'orders:refund' }));
      expect(r.response.status, r.text).toBe(200);
      const claims = decodeJwt(r.ok!.access_token) as { tctx: { roles: string[]; attr: Record<string, unknown> } };
      expect(claims.tctx.roles).toEqual(['support_lead']);
      expect(claims.tctx.attr).toEqual({ tenant: 'acme' });
    } finally {
      await tts.close();
    }
  });
});

describe('issue 10 finding 2: client assertion audience (T-08, draft-ietf-oauth-rfc7523bis)', () => {
  it('issue 10 finding 2: client assertion aud as an array is invalid_client', async () => {
    const subject = await w.idp.mint();
    for (const aud of [[w.tts.issuer, 'https://evil.example'], [w.tts.issuer]]) {
      const assertion = await clientAssertion(w.clientKey, 'jwt-client', w.tts.issuer, { claims: {} });
      // jose's setAudience writes arrays as given: re-sign with the array audience
      const { SignJWT } = await import('jose');
      const now = Math.floor(Date.now() / 1000);
      const arrayAud = await new SignJWT({}).setProtectedHeader({ alg: w.clientKey.alg, kid: w.clientKey.kid }).setIssuer('jwt-client').setSubject('jwt-client')
        .setAudience(aud).setIssuedAt(now).setExpirationTime(now + 60).setJti(crypto.randomUUID()).sign(w.clientKey.privateKey);
      const r = await rawPost(w.tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: arrayAud }));
      expectRefusal(r, 401, 'invalid_client', 'client.assertion.audience_not_single', [subject, arrayAud]);
      expect(String(r.json?.error_description)).toMatch(/aud must be a single string/);
      // the same assertion with aud as the issuer string is fine
      const ok = await rawPost(w.tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion }));
      expect(ok.response.status, ok.text).toBe(200);
    }
  });

  it('issue 10 finding 2: a self-signed subject with aud as an array is invalid_request (the same audience rule)', async () => {
    const { SignJWT } = await import('jose');
    const now = Math.floor(Date.now() / 1000);
    const subject = await new SignJWT({ scope: 'tickets:read' }).setProtectedHeader({ alg: w.clientKey.alg, kid: w.clientKey.kid, typ: 'JWT' }).setIssuer('jwt-client')
      .setSubject('alice').setAudience([w.tts.issuer, 'https://evil.example']).setIssuedAt(now).setExpirationTime(now + 60).sign(w.clientKey.privateKey);
    const r = await asJwt(exchangeParams(subject, { subject_token_type: TT_SELF_SIGNED }));
    expectRefusal(r, 400, 'invalid_request', 'subject.audience_not_single', [subject]);
    expect(description(r)).toMatch(/audience/);
  });
});

describe('issue 10 finding 3: the scope of an ID token (T-13)', () => {
  it("issue 10 finding 3: an ID token's own scope claim never overrides idTokenScopes", async () => {
    const idToken = await w.idp.mint({ typ: 'JWT', aud: 'mcp-oidc-client', scope: 'tickets orders' });
    const refund = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(idToken, { subject_token_type: TT_ID_TOKEN, scope: 'orders:refund' }));
    expectRefusal(refund, 400, 'invalid_scope', 'scope.none_granted', [idToken]);
    const idToken2 = await w.idp.mint({ typ: 'JWT', aud: 'mcp-oidc-client', scope: 'tickets orders' });
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(idToken2, { subject_token_type: TT_ID_TOKEN, scope: 'tickets:read tickets:write orders:read' }));
    expect(r.response.status, r.text).toBe(200);
    expect(r.ok!.scope).toBe('tickets:read'); // exactly the configured idTokenScopes
  });

  it('issue 10 finding 3: ID tokens of an issuer with no idTokenScopes are refused whatever scope they carry', async () => {
    const { startTts } = await import('../helpers/tts.js');
    const { baseConfig } = await import('../helpers/world-tts.js');
    const tts = await startTts({
      config: () => {
        const c = baseConfig(w.idp, w.clientKey);
        return { ...c, subjectIssuers: c.subjectIssuers!.map((i) => ({ ...i, idTokenScopes: [] })) };
      },
    });
    try {
      const idToken = await w.idp.mint({ typ: 'JWT', aud: 'mcp-oidc-client', scope: 'tickets:read' });
      const r = await o4wExchange(tts.as, 'mcp-support-agent', oauth.ClientSecretBasic(SECRETS.agent), exchangeParams(idToken, { subject_token_type: TT_ID_TOKEN }));
      expectRefusal(r, 400, 'invalid_request', 'subject.no_scope', [idToken]);
      expect(description(r)).toMatch(/idTokenScopes is empty; T-13/);
    } finally {
      await tts.close();
    }
  });
});

describe('issue 10 finding 4: what is copied from a subject token is bounded in depth and size (T-21)', () => {

  it('issue 10 finding 4: a principal attribute nested 5,000 levels deep is invalid_request, never a 5xx', async () => {
    // `tenant` is one of the issuer's principalAttributes: it would be copied into tctx.attr (5,000 levels overflow
    // JSON.stringify's stack on Node 20; the token still fits the 16 KiB subject_token limit)
    const subject = w.idp.mintRaw(withDeepClaim(w.idp.claims(), 'tenant', 5000));
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject));
    expectRefusal(r, 400, 'invalid_request', 'subject.claims_too_deep', [subject]);
    expect(description(r)).toBe("the subject token's principal attribute tenant is nested deeper than 32 levels");
    // 32 levels still pass
    const ok = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(w.idp.mintRaw(withDeepClaim(w.idp.claims(), 'tenant', 31))));
    expect(ok.response.status, ok.text).toBe(200);
  });

  it('issue 10 finding 4: a deep member inside act is invalid_request; deep values in roles or amr are never copied (not strings)', async () => {
    const deepText = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const act = w.idp.mintRaw(JSON.stringify(w.idp.claims({ act: { sub: 'agent', extra: 'X' } })).replace('"X"', deepText));
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(act));
    expectRefusal(r, 400, 'invalid_request', 'subject.claims_too_deep', [act]);
    expect(description(r)).toBe("the subject token's act is nested deeper than 32 levels");
    for (const name of ['roles', 'amr']) {
      const subject = w.idp.mintRaw(JSON.stringify(w.idp.claims({ [name]: ['pwd', 'X'] })).replace('"X"', deepText));
      const ok = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject));
      expect(ok.response.status, ok.text).toBe(200);
      const claims = decodeJwt(ok.ok!.access_token) as { tctx: { roles: string[] }; rctx: Record<string, unknown> };
      expect(name === 'roles' ? claims.tctx.roles : claims.rctx.authn).toEqual(name === 'roles' ? ['pwd'] : undefined);
    }
  });

  it('issue 10 finding 4: claims copied from the subject token larger than maxSubjectClaimsBytes are invalid_request', async () => {
    const subject = await w.idp.mint({ claims: { email: 'e'.repeat(5000) } });
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject));
    expectRefusal(r, 400, 'invalid_request', 'subject.claims_too_large', [subject, 'e'.repeat(100)]);
    expect(description(r)).toMatch(/exceed 4096 bytes/);
  });

  it('issue 10 finding 4: a Txn-Token longer than every verifier accepts (16,384 characters) is never issued', async () => {
    const big = await startWorld({ overrides: { maxContextBytes: 16_384 } });
    try {
      const details = JSON.stringify({ tool: 'x'.repeat(13_000) });
      const r = await o4wExchange(big.tts.as, 'mcp-support-agent', big.auth.agent, exchangeParams(await big.idp.mint(), { request_details: details }));
      expectRefusal(r, 400, 'invalid_request', 'mint.too_large', ['x'.repeat(100)]);
      expect(description(r)).toMatch(/longer than 16384 characters, which no verifier accepts/);
    } finally {
      await big.close();
    }
  });
});

describe('issue 10 finding 12: empty sub', () => {
  it('issue 10 finding 12: a subject token with an empty sub is invalid_request at the TTS (no policies configured)', async () => {
    const at = await w.idp.mint({ sub: '' });
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(at));
    expectRefusal(r, 400, 'invalid_request', 'subject.invalid_claim.sub', [at]);
    expect(description(r)).toMatch(/sub must not be empty/);
    const id = await w.idp.mint({ sub: '', typ: 'JWT', aud: 'mcp-oidc-client', scope: null });
    expectRefusal(await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(id, { subject_token_type: TT_ID_TOKEN })), 400, 'invalid_request', 'subject.invalid_claim.sub', [id]);
    const self = await selfSigned({ scope: 'tickets:read' }, { sub: '' });
    expectRefusal(await asJwt(exchangeParams(self, { subject_token_type: TT_SELF_SIGNED })), 400, 'invalid_request', 'subject.invalid_claim.sub', [self]);
    const unsigned = JSON.stringify({ sub: '', scope: 'tickets:read' });
    expectRefusal(await o4wExchange(w.tts.as, 'unsigned-ok', w.auth.unsigned, exchangeParams(unsigned, { subject_token_type: TT_UNSIGNED_JSON })), 400, 'invalid_request', 'subject.unsigned_no_sub', [unsigned]);
  });
});
