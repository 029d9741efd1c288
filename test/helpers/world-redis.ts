/**
 * Shared fixtures for the TTS-over-Redis tests: one signing-key directory shared by every TTS instance, a subject
 * issuer (an IdP whose access tokens the TTS trusts), workloads of every kind, and small HTTP helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { generateKeyFile } from '../../src/cli/keys.js';
import { parseConfig, type Config } from '../../src/config/schema.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN, CLIENT_ASSERTION_JWT } from '../../src/txn/index.js';
import { clientAssertion as assertion } from './jwt.js';
import { TRUST_DOMAIN } from './names.js';

export const TTS_ISSUER = 'http://tts.test';
export const IDP_ISSUER = 'https://idp.test';
export const MCP_AUDIENCE = 'mcp';
export const BASIC_SECRET = 'basic-secret-0123456789';

export interface Fixture {
  keysDir: string;
  idpKey: CryptoKey;
  idpPublic: JWK;
  agentKey: CryptoKey;
  agentPublic: JWK;
  cleanup(): void;
}

export async function makeFixture(): Promise<Fixture> {
  const keysDir = mkdtempSync(join(tmpdir(), 'baton-tts-redis-'));
  // Generated once before any instance starts, so that every instance signs and verifies with the same key set.
  await generateKeyFile(keysDir, 'EdDSA');
  const idp = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const agent = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const idpPublic = { ...(await exportJWK(idp.publicKey)), kid: 'idp-1', alg: 'EdDSA', use: 'sig' };
  const agentPublic = { ...(await exportJWK(agent.publicKey)), kid: 'agent-1', alg: 'EdDSA', use: 'sig' };
  return {
    keysDir,
    idpKey: idp.privateKey,
    idpPublic,
    agentKey: agent.privateKey,
    agentPublic,
    cleanup: () => rmSync(keysDir, { recursive: true, force: true }),
  };
}

export interface RateLimitInput {
  perClient: number;
  perSubject: number;
  windowSeconds: number;
}

/**
 * The TTS configuration of these tests. Workloads:
 * - `agent-jwt` (private_key_jwt), `agent-basic` (client_secret_basic): exchange user tokens issued to `mcp`;
 * - `ops-revoker`: may revoke by transaction id; `bystander`: neither in any chain nor allowed to revoke by id.
 */
export function ttsConfig(f: Fixture, store: unknown, o: { rateLimit?: RateLimitInput } = {}): Config {
  const scopes = ['tickets:read', 'tickets:write'];
  const rateLimit = o.rateLimit ?? { perClient: 100_000, perSubject: 100_000, windowSeconds: 60 };
  return parseConfig(
    {
      issuer: TTS_ISSUER,
      trustDomain: TRUST_DOMAIN,
      keys: f.keysDir,
      store,
      defaultRateLimit: rateLimit,
      subjectIssuers: [{ issuer: IDP_ISSUER, jwks: { keys: [f.idpPublic] }, audiences: [MCP_AUDIENCE], algorithms: ['EdDSA'] }],
      clients: [
        { id: 'agent-jwt', auth: 'private_key_jwt', jwks: { keys: [f.agentPublic] }, scopes, subjectAudiences: [MCP_AUDIENCE] },
        { id: 'agent-basic', auth: 'client_secret_basic', secret: BASIC_SECRET, scopes, subjectAudiences: [MCP_AUDIENCE] },
        { id: 'ops-revoker', auth: 'client_secret_basic', secret: BASIC_SECRET, scopes: ['tickets:read'], revokeById: true },
        { id: 'bystander', auth: 'client_secret_basic', secret: BASIC_SECRET, scopes: ['tickets:read'] },
      ],
    },
    'tts-redis test',
  );
}

/** A fresh RFC 7523 client assertion for `agent-jwt` (new jti each call unless given). */
export function clientAssertionOf(f: Fixture, jti?: string): Promise<string> {
  return assertion({ alg: 'EdDSA', kid: 'agent-1', privateKey: f.agentKey }, 'agent-jwt', TTS_ISSUER, { ttl: 120, typ: 'JWT', ...(jti !== undefined ? { jti } : {}) });
}

/** An RFC 9068 access token of the trusted IdP, issued to `mcp` for user `sub`. */
export async function accessToken(f: Fixture, sub = 'alice', scope = 'tickets:read tickets:write'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope, client_id: 'mcp' })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'idp-1', typ: 'at+jwt' })
    .setIssuer(IDP_ISSUER)
    .setSubject(sub)
    .setAudience(MCP_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .setJti(randomUUID())
    .sign(f.idpKey);
}

export function exchangeForm(subjectToken: string, o: { txnToken?: boolean; scope?: string } = {}): URLSearchParams {
  return new URLSearchParams({
    grant_type: GRANT_TOKEN_EXCHANGE,
    requested_token_type: TT_TXN_TOKEN,
    audience: TRUST_DOMAIN,
    scope: o.scope ?? 'tickets:read',
    subject_token: subjectToken,
    subject_token_type: o.txnToken === true ? TT_TXN_TOKEN : TT_ACCESS_TOKEN,
  });
}

export function withAssertion(form: URLSearchParams, assertion: string): URLSearchParams {
  const f = new URLSearchParams(form);
  f.set('client_assertion_type', CLIENT_ASSERTION_JWT);
  f.set('client_assertion', assertion);
  return f;
}


export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown> | undefined;
}

/** POSTs a form; bounded by `timeoutMs` (an AbortError means the server hung). */
export async function post(base: string, path: string, form: URLSearchParams, authorization?: string, timeoutMs = 15_000): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (authorization !== undefined) headers.authorization = authorization;
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: form.toString(), signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body };
}

export async function getJson(base: string, path: string, timeoutMs = 15_000): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}


/** The verify error code of a refused header value, or 'accepted'. */
export async function verdict(verifier: { verify(h: string): Promise<unknown> }, token: string): Promise<string> {
  try {
    await verifier.verify(token);
    return 'accepted';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? code : 'threw';
  }
}
