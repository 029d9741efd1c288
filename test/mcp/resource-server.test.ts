// The MCP resource-server side (MCP authorization spec, RFC 9728, RFC 9068) and the decision logger's scrubbing.
import { describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createMcpResourceServer, McpAuthError } from '../../src/mcp/index.js';
import { createDecisionLogger, memorySink } from '../../src/log/index.js';
import { txnTokenFetch } from '../../src/mcp/tools.js';

const ISS = 'https://idp.example';
const RES = 'https://mcp.example.com/mcp';

async function setup() {
  const kp = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(kp.publicKey)), kid: 'k1', alg: 'ES256' };
  const rs = createMcpResourceServer({ resource: RES, authorizationServers: [{ issuer: ISS, jwks: { keys: [jwk] }, algorithms: ['ES256'] }], scopesSupported: ['tickets'] });
  const sign = (o: { aud?: string; typ?: string; exp?: number; iss?: string } = {}) =>
    new SignJWT({ scope: 'tickets', client_id: 'app' })
      .setProtectedHeader({ alg: 'ES256', typ: o.typ ?? 'at+jwt', kid: 'k1' })
      .setIssuer(o.iss ?? ISS).setSubject('alice').setAudience(o.aud ?? RES).setIssuedAt()
      .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300).sign(kp.privateKey);
  const req = (auth?: string) => new Request(RES, { method: 'POST', headers: auth === undefined ? {} : { authorization: auth } });
  return { rs, sign, req };
}

describe('createMcpResourceServer', () => {
  it('publishes RFC 9728 metadata at the path-inserted well-known URL', async () => {
    const { rs } = await setup();
    expect(rs.metadataUrl).toBe('https://mcp.example.com/.well-known/oauth-protected-resource/mcp');
    expect(rs.metadataPaths).toContain('/.well-known/oauth-protected-resource');
    const body = (await rs.metadataResponse().json()) as Record<string, unknown>;
    expect(body).toMatchObject({ resource: RES, authorization_servers: [ISS], bearer_methods_supported: ['header'], scopes_supported: ['tickets'] });
  });

  it('accepts a valid RFC 9068 token for this resource and exposes sub and scopes as AuthInfo', async () => {
    const { rs, sign, req } = await setup();
    const t = await sign();
    const info = await rs.authenticate(req(`Bearer ${t}`));
    expect(info).toMatchObject({ token: t, clientId: 'app', scopes: ['tickets'], extra: { sub: 'alice', iss: ISS } });
    expect(info.resource?.href).toBe(RES);
  });

  it('401 with WWW-Authenticate resource_metadata for a missing, foreign-audience, wrong-typ, expired or untrusted token', async () => {
    const { rs, sign, req } = await setup();
    const bad = [
      [undefined, undefined, 'token.missing'],
      [`Bearer ${await sign({ aud: 'https://other.example/mcp' })}`, 'invalid_token', 'token.wrong_audience'],
      [`Bearer ${await sign({ typ: 'JWT' })}`, 'invalid_token', 'token.wrong_type'],
      [`Bearer ${await sign({ typ: 'txntoken+jwt' })}`, 'invalid_token', 'token.wrong_type'],
      [`Bearer ${await sign({ exp: Math.floor(Date.now() / 1000) - 600 })}`, 'invalid_token', 'token.expired'],
      [`Bearer ${await sign({ iss: 'https://evil.example' })}`, 'invalid_token', 'token.issuer_untrusted'],
      ['Basic YWxpY2U6cHc=', 'invalid_request', 'token.authorization'],
    ] as const;
    for (const [auth, code, reason] of bad) {
      const e = await rs.authenticate(req(auth)).then(() => undefined, (x: unknown) => (x instanceof McpAuthError ? x : undefined));
      expect(e?.status).toBe(401);
      expect(e?.error).toBe(code);
      expect(e?.reason).toBe(reason);
      expect(e?.headers['WWW-Authenticate']).toMatch(/^Bearer resource_metadata="https:\/\/mcp\.example\.com\/\.well-known\/oauth-protected-resource\/mcp"/);
      if (auth !== undefined) expect(`${e?.message} ${e?.headers['WWW-Authenticate']}`).not.toContain(auth.split(' ')[1]);
    }
  });
});

describe('createMcpResourceServer clock tolerance', () => {
  it('refuses a NaN or negative clockTolerance instead of accepting expired tokens', async () => {
    const kp = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(kp.publicKey)), kid: 'k1', alg: 'ES256' };
    const make = (clockTolerance: number) =>
      createMcpResourceServer({ resource: RES, authorizationServers: [{ issuer: ISS, jwks: { keys: [jwk] }, algorithms: ['ES256'] }], clockTolerance });
    expect(() => make(Number.NaN)).toThrow(TypeError);
    expect(() => make(-1)).toThrow(TypeError);
    const rs = make(30);
    const expired = await new SignJWT({ scope: 'tickets' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
      .setIssuer(ISS).setSubject('alice').setAudience(RES).setIssuedAt(Math.floor(Date.now() / 1000) - 900)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600).sign(kp.privateKey);
    await expect(rs.verifyAccessToken(expired)).rejects.toMatchObject({ status: 401, error: 'invalid_token', reason: 'token.expired' });
  });
});

describe('tool fetch (no token passthrough)', () => {
  it("W-03 V-10 sends the Txn-Token, drops Authorization, refuses to carry the user's access token (no passthrough)", async () => {
    const seen: Headers[] = [];
    const base = async (_i: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Headers(init?.headers));
      return new Response('ok');
    };
    const f = txnTokenFetch(base, 'txn.token.value', 'user.access.token');
    await f('https://svc.example/x', { headers: { authorization: 'Bearer something-else' } });
    expect(seen[0]!.get('txn-token')).toBe('txn.token.value');
    expect(seen[0]!.has('authorization')).toBe(false);
    await expect(f('https://svc.example/x', { headers: { 'x-forward': 'Bearer user.access.token' } })).rejects.toThrow(/passthrough/);
    expect(seen).toHaveLength(1);
  });
});

describe('DecisionLogger', () => {
  it('writes one JSON line per entry, drops credential members and redacts JWT-shaped strings, keeps policy names', () => {
    const sink = memorySink();
    const log = createDecisionLogger({ sink });
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    log.log({ hop: 'tickets', event: 'authorize', effect: 'deny', txn: 't1', policy: 'resource.ticket.vdefault', token: jwt, subject_token: 'x', reason: `bad ${jwt}`, note: 'Bearer abcdefghijkl' });
    expect(sink.lines).toHaveLength(1);
    const rec = JSON.parse(sink.lines[0]!) as Record<string, unknown>;
    expect(rec).toMatchObject({ hop: 'tickets', event: 'authorize', effect: 'deny', txn: 't1', policy: 'resource.ticket.vdefault', reason: 'bad [redacted jwt]', note: 'Bearer [redacted]' });
    expect(rec.token).toBeUndefined();
    expect(rec.subject_token).toBeUndefined();
    expect(typeof rec.time).toBe('string');
    expect(sink.lines[0]).not.toContain('eyJ');
  });

  it('a throwing sink never throws into the decision path', () => {
    const log = createDecisionLogger({ sink: () => { throw new Error('disk full'); } });
    expect(() => log.log({ hop: 'x', event: 'y', effect: 'allow' })).not.toThrow();
  });
});
