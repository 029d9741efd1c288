// The subject step without HTTP (T-09..T-11, T-13, T-22): what the TTS learns of the user, and each refusal's reason.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawJwt, selfSignedSubject } from '../../test/helpers/jwt.js';
import { MCP_AUD } from '../../test/helpers/names.js';
import { IDP_ISSUER, refusal, SECRET, TTS_ISSUER, unitTts, type UnitTts } from '../../test/helpers/tts-context.js';
import type { ConfigInput } from '../config/schema.js';
import { TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_JWT, TT_REFRESH_TOKEN, TT_SELF_SIGNED, TT_UNSIGNED_JSON, type SubjectTokenType } from '../txn/index.js';
import { MAX_SUB_CHARS, validateSubject } from './subject.js';

function validate(u: UnitTts, token: string, type: SubjectTokenType = TT_ACCESS_TOKEN, client = 'agent', o: { maxClaimsBytes?: number; currentDate?: () => Date } = {}) {
  const c = u.ctx.config;
  return validateSubject(
    { issuers: u.ctx.issuers, ttsIssuer: c.issuer, clockSkew: c.clockSkew, maxClaimsBytes: o.maxClaimsBytes ?? c.maxSubjectClaimsBytes, ...(o.currentDate !== undefined ? { currentDate: o.currentDate } : {}) },
    u.ctx.workloads.get(client)!,
    token,
    type,
  );
}

type ClientInput = NonNullable<ConfigInput['clients']>[number];
type IssuerInput = NonNullable<ConfigInput['subjectIssuers']>[number];
/** the unit TTS with the agent (client_secret_basic) configured as given */
const withAgent = (agent: Partial<ClientInput>, extra: ClientInput[] = []) =>
  unitTts({ overrides: { clients: [{ id: 'agent', auth: 'client_secret_basic', secret: SECRET, scopes: ['tickets:read', 'orders:read'], subjectAudiences: [MCP_AUD], ...agent } as ClientInput, ...extra] } });
/** the unit TTS whose IdP has these settings too (its key set is the unit IdP's) */
async function withIssuer(issuer: Partial<IssuerInput>, agent: Partial<ClientInput> = {}) {
  const base = await unitTts();
  const idp = { issuer: IDP_ISSUER, jwks: { keys: [base.idpKey.publicJwk] }, audiences: [MCP_AUD], algorithms: ['EdDSA'], rolesClaim: 'roles', ...issuer } as IssuerInput;
  const u = await unitTts({ overrides: { subjectIssuers: [idp], clients: [{ id: 'agent', auth: 'client_secret_basic', secret: SECRET, scopes: ['tickets:read'], subjectAudiences: [MCP_AUD], ...agent } as ClientInput] } });
  // tokens signed by the key the issuer above trusts
  return { ...u, idpKey: base.idpKey, accessToken: (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => idpToken(base, claims, { typ: 'at+jwt', ...header }) };
}
function idpToken(u: UnitTts, claims: Record<string, unknown>, header: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: IDP_ISSUER, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read', iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: 'EdDSA', kid: u.idpKey.kid, ...header })
    .sign(u.idpKey.privateKey);
}
const unsigned = (claims: Record<string, unknown>) => JSON.stringify(claims);
/** an array nested `depth` levels deep */
const nested = (depth: number): unknown => {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
};

describe('the subject step', () => {
  it('T-09 T-22 an access token of a trusted issuer: sub, scopes, roles, the act chain kept below, exp', async () => {
    const u = await unitTts();
    const s = await validate(u, await u.accessToken({ act: { sub: 'assistant' } }));
    expect(s).toMatchObject({ sub: 'alice', scopes: ['tickets:read', 'orders:read'], roles: ['user'], act: { sub: 'assistant' }, kind: 'access_token' });
    expect(typeof s.exp).toBe('number');
  });

  it.each([
    ['an expired token', { exp: 1 }, {}, 'subject.expired'],
    ['another audience (T-11 needs it too, the profile refuses first)', { aud: 'https://other.example' }, {}, 'subject.wrong_audience'],
    ['a Txn-Token (T-15)', {}, { typ: 'txntoken+jwt' }, 'subject.wrong_type'],
    ['no scope (T-13)', { scope: undefined }, {}, 'subject.no_scope'],
    ['an untrusted issuer', { iss: 'https://evil.example' }, {}, 'subject.issuer_untrusted'],
    ['an act that is not a chain', { act: { sub: '' } }, {}, 'subject.act_invalid'],
  ])('T-09 refuses %s', async (_what, claims, header, reason) => {
    const u = await unitTts();
    expect(await refusal(validate(u, await u.accessToken(claims, header)))).toMatchObject({ error: 'invalid_request', reason });
  });

  it('T-09 alg none reaches the algorithm check when it is a well-formed JWS; without a signature it is no JWT', async () => {
    const u = await unitTts();
    const claims = { iss: 'https://idp.unit.example', sub: 'alice', aud: MCP_AUD, scope: 'tickets:read', exp: 9e9 };
    expect(await refusal(validate(u, rawJwt({ alg: 'none', typ: 'at+jwt' }, claims, 'AAAA')))).toMatchObject({ reason: 'subject.bad_algorithm' });
    expect(await refusal(validate(u, rawJwt({ alg: 'none', typ: 'at+jwt' }, claims)))).toMatchObject({ reason: 'subject.not_jwt' });
  });

  it('T-10 self-signed and unsigned subjects only from workloads configured for them', async () => {
    const u = await unitTts();
    expect(await refusal(validate(u, JSON.stringify({ sub: 'bob', scope: 'tickets:read' }), TT_UNSIGNED_JSON))).toMatchObject({ reason: 'subject.unsigned_not_allowed' });
    expect(await refusal(validate(u, 'x.y.z', TT_SELF_SIGNED))).toMatchObject({ reason: 'subject.no_keys' });
    const allowed = await unitTts({ overrides: { clients: [{ id: 'agent', auth: 'client_secret_basic', secret: 'unit-secret-0123456789', scopes: ['tickets:read'], allowUnsignedSubject: true }] } });
    expect(await validate(allowed, JSON.stringify({ sub: 'bob', scope: 'tickets:read', roles: ['admin'] }), TT_UNSIGNED_JSON)).toMatchObject({ sub: 'bob', roles: ['user'], kind: 'unsigned' });
    expect(await refusal(validate(allowed, JSON.stringify({ scope: 'tickets:read' }), TT_UNSIGNED_JSON))).toMatchObject({ reason: 'subject.unsigned_no_sub' });
  });

  it('T-11 a token the issuer made for another of its audiences is not this workload\'s to exchange, unless may_act names it', async () => {
    const u = await unitTts({ issuerAudiences: [MCP_AUD, 'https://reports.example'] });
    expect(await refusal(validate(u, await u.accessToken({ aud: 'https://reports.example' })))).toMatchObject({ reason: 'subject.not_entitled' });
    expect(await validate(u, await u.accessToken({ aud: 'https://reports.example', may_act: { sub: 'agent' } }))).toMatchObject({ sub: 'alice' });
  });

  it('T-10 an asserted subject: roles only from assertedSubject.rolesClaim (strings, blanks dropped, else defaultRoles), only the configured attributes', async () => {
    const u = await withAgent({ allowUnsignedSubject: true, assertedSubject: { rolesClaim: 'roles', defaultRoles: ['guest'], principalAttributes: ['tenant'] } });
    const roles = async (r: unknown) => (await validate(u, unsigned({ sub: 'bob', scope: 'tickets:read', roles: r }), TT_UNSIGNED_JSON)).roles;
    expect(await roles('admin  ops')).toEqual(['admin', 'ops']);
    expect(await roles(['admin', '', 7, 'ops', ['x'], { length: 1 }])).toEqual(['admin', 'ops']);
    for (const none of ['', ' ', [], ['', 3], 7, undefined]) expect(await roles(none), JSON.stringify(none)).toEqual(['guest']);
    const s = await validate(u, unsigned({ sub: 'bob', scope: 'tickets:read', tenant: 'acme', dept: 'x' }), TT_UNSIGNED_JSON);
    expect(s.attr).toStrictEqual({ tenant: 'acme' });
    expect(s).toMatchObject({ sub: 'bob', scopes: ['tickets:read'], kind: 'unsigned', authn: 'unsigned', issuer: undefined, exp: undefined, act: undefined });
    expect((await validate(u, unsigned({ sub: 'bob', scope: 'tickets:read' }), TT_UNSIGNED_JSON)).attr).toStrictEqual({});
  });

  it('T-10 an unsigned subject is a JSON object with a sub and a scope; its sub is bounded', async () => {
    const u = await withAgent({ allowUnsignedSubject: true });
    for (const bad of ['null', '[]', '"alice"', '42', '{', ''])
      expect(await refusal(validate(u, bad, TT_UNSIGNED_JSON)), bad).toMatchObject({ error: 'invalid_request', reason: 'subject.unsigned_not_object' });
    expect(await refusal(validate(u, unsigned({ sub: '', scope: 'tickets:read' }), TT_UNSIGNED_JSON))).toMatchObject({ reason: 'subject.unsigned_no_sub' });
    expect(await refusal(validate(u, unsigned({ sub: 7, scope: 'tickets:read' }), TT_UNSIGNED_JSON))).toMatchObject({ reason: 'subject.unsigned_no_sub' });
    for (const scope of [undefined, '', '  ', []])
      expect(await refusal(validate(u, unsigned({ sub: 'bob', scope }), TT_UNSIGNED_JSON)), JSON.stringify(scope)).toMatchObject({ reason: 'subject.no_scope' });
    expect(await validate(u, unsigned({ sub: 'b'.repeat(MAX_SUB_CHARS), scope: 'tickets:read' }), TT_UNSIGNED_JSON)).toMatchObject({ kind: 'unsigned' });
    expect(await refusal(validate(u, unsigned({ sub: 'b'.repeat(MAX_SUB_CHARS + 1), scope: 'tickets:read' }), TT_UNSIGNED_JSON))).toMatchObject({ reason: 'subject.sub_too_long' });
  });

  it('T-10 T-22 a self-signed subject: only with allowSelfSignedSubject, refused by its profile by reason, never carrying act', async () => {
    const off = await unitTts();
    const token = (u: UnitTts, claims: Record<string, unknown> = { scope: 'tickets:read' }, o: { ttl?: number } = {}) => selfSignedSubject(u.clientKey, 'jwt-client', TTS_ISSUER, claims, o);
    expect(await refusal(validate(off, await token(off), TT_SELF_SIGNED, 'jwt-client'))).toMatchObject({ reason: 'subject.self_signed_not_allowed' });
    const on = await unitTts();
    const jwtClient = on.ctx.config.clients.find((c) => c.id === 'jwt-client')!;
    const u = await unitTts({ overrides: { clients: [{ id: 'jwt-client', auth: 'private_key_jwt', jwks: { keys: [on.clientKey.publicJwk as { kty: string }] }, scopes: [...jwtClient.scopes], allowSelfSignedSubject: true }] } });
    const t = (claims?: Record<string, unknown>, o?: { ttl?: number }) => selfSignedSubject(on.clientKey, 'jwt-client', TTS_ISSUER, claims ?? { scope: 'tickets:read' }, o);
    const s = await validate(u, await t(), TT_SELF_SIGNED, 'jwt-client');
    expect(s).toMatchObject({ sub: 'alice', scopes: ['tickets:read'], kind: 'self_signed', issuer: 'jwt-client', authn: 'self_signed', act: undefined, roles: ['user'] });
    expect(typeof s.exp).toBe('number');
    expect(await refusal(validate(u, await t({ scope: 'tickets:read', act: { sub: 'other' } }), TT_SELF_SIGNED, 'jwt-client'))).toMatchObject({ reason: 'subject.self_signed_act' });
    expect(await refusal(validate(u, await t({ scope: 'tickets:read' }, { ttl: 3600 }), TT_SELF_SIGNED, 'jwt-client'))).toMatchObject({ reason: 'subject.lifetime_too_long' });
    expect(await refusal(validate(u, await t({}), TT_SELF_SIGNED, 'jwt-client'))).toMatchObject({ reason: 'subject.no_scope' });
  });

  it('T-11 entitlement reads every string audience of the token; a may_act that is not an object naming the workload entitles nothing', async () => {
    const u = await unitTts({ issuerAudiences: [MCP_AUD, 'https://reports.example'] });
    expect(await validate(u, await u.accessToken({ aud: ['https://reports.example', MCP_AUD] }))).toMatchObject({ sub: 'alice' });
    expect(await validate(u, await u.accessToken({ aud: [MCP_AUD] }))).toMatchObject({ sub: 'alice' });
    for (const may_act of [null, [{ sub: 'agent' }], { sub: 'other' }, 'agent'])
      expect(await refusal(validate(u, await u.accessToken({ aud: 'https://reports.example', may_act }))), JSON.stringify(may_act)).toMatchObject({ reason: 'subject.not_entitled' });
  });

  it('T-09 T-15 a Txn-Token is refused on its typ before its issuer is looked up; a JWT without a string iss names none', async () => {
    const u = await unitTts();
    expect(await refusal(validate(u, await u.accessToken({ iss: TTS_ISSUER }, { typ: 'txntoken+jwt' })))).toMatchObject({ reason: 'subject.wrong_type' });
    expect(await refusal(validate(u, await u.accessToken({ iss: undefined })))).toMatchObject({ reason: 'subject.no_iss' });
    expect(await refusal(validate(u, await u.accessToken({ iss: 42 })))).toMatchObject({ reason: 'subject.no_iss' });
    expect(await refusal(validate(u, await u.accessToken(), TT_REFRESH_TOKEN as SubjectTokenType))).toMatchObject({ reason: 'subject.type_unsupported' });
    // a token a JWT subject type names is validated as an access token
    expect(await validate(u, await u.accessToken(), TT_JWT)).toMatchObject({ kind: 'access_token' });
  });

  it('T-09 validity is judged at the context\'s current time', async () => {
    const past = new Date('2030-01-01T00:00:00Z');
    const u = await unitTts({ now: () => past });
    const token = await u.accessToken();
    expect(await validate(u, token, TT_ACCESS_TOKEN, 'agent', { currentDate: () => past })).toMatchObject({ sub: 'alice' });
    expect(await refusal(validate(u, token, TT_ACCESS_TOKEN, 'agent', { currentDate: () => new Date('2030-01-01T01:00:00Z') }))).toMatchObject({ reason: 'subject.expired' });
  });

  it('T-09 amr is kept as the authentication methods only when it is a list of strings', async () => {
    const u = await unitTts();
    expect((await validate(u, await u.accessToken({ amr: ['pwd', 'mfa'] }))).authn).toEqual(['pwd', 'mfa']);
    for (const amr of [['pwd', 1], 'pwd', undefined]) expect((await validate(u, await u.accessToken({ amr }))).authn, JSON.stringify(amr)).toBeUndefined();
  });

  it('T-21 what is copied from the subject token is bounded: depth of act and attributes, total bytes (at the edge)', async () => {
    const u = await withIssuer({ principalAttributes: ['ctx'] });
    expect(await validate(u, await u.accessToken({ ctx: nested(32) }))).toMatchObject({ sub: 'alice' });
    expect(await refusal(validate(u, await u.accessToken({ ctx: nested(33) })))).toMatchObject({ reason: 'subject.claims_too_deep' });
    // an act chain is bounded in length by its reading, but its other members only here
    expect(await refusal(validate(u, await u.accessToken({ act: { sub: 'assistant', x: nested(40) } })))).toMatchObject({ reason: 'subject.claims_too_deep' });
    const copied = { roles: ['user'], attr: { ctx: 'c' }, act: { sub: 'assistant' }, authn: ['pwd'] };
    const bytes = new TextEncoder().encode(JSON.stringify(copied)).length;
    const token = await u.accessToken({ roles: ['user'], ctx: 'c', act: { sub: 'assistant' }, amr: ['pwd'] });
    expect(await validate(u, token, TT_ACCESS_TOKEN, 'agent', { maxClaimsBytes: bytes })).toMatchObject({ sub: 'alice' });
    expect(await refusal(validate(u, token, TT_ACCESS_TOKEN, 'agent', { maxClaimsBytes: bytes - 1 }))).toMatchObject({ reason: 'subject.claims_too_large' });
  });

  it('T-09 the issuer\'s required claim values and subject claim decide; no subject is refused', async () => {
    const u = await withIssuer({ requiredClaimValues: { hd: 'example.com' }, subjectClaim: 'email' });
    expect(await validate(u, await u.accessToken({ hd: 'example.com', email: 'alice@example.com' }))).toMatchObject({ sub: 'alice@example.com' });
    expect(await refusal(validate(u, await u.accessToken({ hd: 'other.example', email: 'alice@example.com' })))).toMatchObject({ reason: 'subject.required_claim' });
    expect(await refusal(validate(u, await u.accessToken({ hd: 'example.com' })))).toMatchObject({ reason: 'subject.no_sub' });
  });

  it('T-09 T-11 T-13 ID tokens: only from an issuer that accepts them, entitled by their audience, granting the configured idTokenScopes only', async () => {
    const none = await unitTts();
    const id = (u: { idpKey: UnitTts['idpKey'] }, claims: Record<string, unknown> = {}) => idpToken(u as UnitTts, { aud: 'unit-app', scope: 'orders:read', ...claims }, {});
    expect(await refusal(validate(none, await id(none), TT_ID_TOKEN))).toMatchObject({ reason: 'subject.id_token_not_accepted' });
    const u = await withIssuer({ idTokenAudiences: ['unit-app'], idTokenScopes: ['tickets:read'] }, { subjectAudiences: ['unit-app'] });
    const s = await validate(u, await id(u, { amr: ['pwd'] }), TT_ID_TOKEN);
    expect(s).toMatchObject({ sub: 'alice', kind: 'id_token', scopes: ['tickets:read'], authn: ['pwd'], issuer: IDP_ISSUER });
    expect(await refusal(validate(u, await id(u, { aud: MCP_AUD }), TT_ID_TOKEN))).toMatchObject({ reason: 'subject.wrong_audience' });
    expect(await refusal(validate(u, await idpToken(u as unknown as UnitTts, { aud: 'unit-app' }, { typ: 'at+jwt' }), TT_ID_TOKEN))).toMatchObject({ reason: 'subject.wrong_type' });
    const notEntitled = await withIssuer({ idTokenAudiences: ['unit-app'], idTokenScopes: ['tickets:read'] });
    expect(await refusal(validate(notEntitled, await id(notEntitled), TT_ID_TOKEN))).toMatchObject({ reason: 'subject.not_entitled' });
    const noScopes = await withIssuer({ idTokenAudiences: ['unit-app'] }, { subjectAudiences: ['unit-app'] });
    expect(await refusal(validate(noScopes, await id(noScopes), TT_ID_TOKEN))).toMatchObject({ reason: 'subject.no_scope' });
  });

  it('T-09 an issuer whose keys cannot be had now is 503 naming why: its key set unreachable, or its metadata not discoverable', async () => {
    const keysDown = await withIssuer({ jwks: undefined, jwksUri: 'http://127.0.0.1:1/jwks' });
    expect(await refusal(validate(keysDown, await keysDown.accessToken()))).toMatchObject({ error: 'temporarily_unavailable', status: 503, reason: 'subject.key_unavailable' });
    const noMetadata = await withIssuer({ issuer: 'http://127.0.0.1:1', jwks: undefined });
    expect(await refusal(validate(noMetadata, await noMetadata.accessToken({ iss: 'http://127.0.0.1:1' })))).toMatchObject({ error: 'temporarily_unavailable', status: 503, reason: 'subject.discovery_unavailable' });
    // an opaque token whose introspection endpoint is to be discovered: the same reason, not an introspection failure
    const noEndpoint = await withIssuer({ issuer: 'http://127.0.0.1:1', introspection: { clientId: 'baton', auth: 'client_secret_basic', secret: 'introspection-secret' } });
    expect(await refusal(validate(noEndpoint, 'opaque-0'))).toMatchObject({ error: 'temporarily_unavailable', status: 503, reason: 'subject.discovery_unavailable' });
  });

  describe('T-09 an opaque access token, introspected at the issuer the workload is registered with (RFC 7662)', () => {
    let answer: (token: string) => { status: number; body: unknown } = () => ({ status: 500, body: {} });
    const asked: string[] = [];
    let server: Server;
    let endpoint = '';
    beforeAll(async () => {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? '';
          asked.push(token);
          const a = answer(token);
          res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const introspecting = (agent: Partial<ClientInput> = {}) =>
      withIssuer({ audiences: [MCP_AUD, 'https://reports.example'], introspection: { endpoint, clientId: 'baton', auth: 'client_secret_basic', secret: 'introspection-secret', cacheSeconds: 0, negativeCacheSeconds: 0 } }, agent);
    const active = (over: Record<string, unknown> = {}) => ({ active: true, iss: IDP_ISSUER, aud: MCP_AUD, sub: 'alice', scope: 'tickets:read', exp: Math.floor(Date.now() / 1000) + 300, ...over });

    it('an active answer is the subject, with its exp; inactive, expired, another issuer or audience are refused by reason', async () => {
      const u = await introspecting();
      const exp = Math.floor(Date.now() / 1000) + 300; // read once: two reads can fall either side of a second
      answer = () => ({ status: 200, body: active({ roles: ['support'], exp }) });
      const s = await validate(u, 'opaque-1');
      expect(s).toMatchObject({ sub: 'alice', scopes: ['tickets:read'], roles: ['support'], kind: 'access_token', issuer: IDP_ISSUER });
      expect(s.exp).toBe(exp);
      expect(asked.at(-1)).toBe('opaque-1');
      answer = () => ({ status: 200, body: { active: false } });
      expect(await refusal(validate(u, 'opaque-2'))).toMatchObject({ error: 'invalid_request', reason: 'subject.inactive' });
      answer = () => ({ status: 200, body: active({ exp: Math.floor(Date.now() / 1000) - 3600 }) });
      expect(await refusal(validate(u, 'opaque-3'))).toMatchObject({ reason: 'subject.expired' });
      answer = () => ({ status: 200, body: active({ iss: 'https://other.example' }) });
      expect(await refusal(validate(u, 'opaque-4'))).toMatchObject({ reason: 'subject.wrong_issuer' });
      answer = () => ({ status: 200, body: active({ aud: 'https://other.example' }) });
      expect(await refusal(validate(u, 'opaque-5'))).toMatchObject({ reason: 'subject.wrong_audience' });
    });

    it('an introspection endpoint that fails is 503; a token never goes to an issuer the workload is not registered with, nor as a JWT type', async () => {
      const u = await introspecting();
      answer = () => ({ status: 500, body: {} });
      expect(await refusal(validate(u, 'opaque-6'))).toMatchObject({ error: 'temporarily_unavailable', status: 503, reason: 'subject.introspection_unavailable' });
      const before = asked.length;
      answer = () => ({ status: 200, body: active() });
      expect(await refusal(validate(u, 'opaque-7', TT_JWT))).toMatchObject({ reason: 'subject.not_jwt' });
      const other = await introspecting({ subjectAudiences: ['https://billing.example'] });
      expect(await refusal(validate(other, 'opaque-8'))).toMatchObject({ reason: 'subject.not_jwt' });
      expect(asked.length).toBe(before);
    });
  });
});
