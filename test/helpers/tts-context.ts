/**
 * A TTS context in process, for the unit tests of the exchange's steps (src/exchange/*.test.ts): no HTTP, no files.
 * A memory store, a generated signing key, an IdP whose key set is inline, one client per authentication method.
 */
import { SignJWT } from 'jose';
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import { prepareTts, type DecisionEntry, type TtsContext } from '../../src/exchange/context.js';
import type { ScopePolicy } from '../../src/exchange/scope.js';
import { generateSigningJwk, SigningKeySet } from '../../src/jose/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { makeKey, type KeyPair } from './jwt.js';
import { MCP_AUD, TRUST_DOMAIN } from './names.js';

export const TTS_ISSUER = 'https://tts.unit.example';
export const IDP_ISSUER = 'https://idp.unit.example';
export const SECRET = 'unit-secret-0123456789';

export interface UnitTts {
  ctx: TtsContext;
  decisions: DecisionEntry[];
  idpKey: KeyPair;
  clientKey: KeyPair;
  store: Store;
  /** an access token of the IdP for `sub` (claims override the defaults) */
  accessToken(claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

export async function unitTts(o: { overrides?: Partial<ConfigInput>; policy?: ScopePolicy; store?: Store; now?: () => Date; issuerAudiences?: string[] } = {}): Promise<UnitTts> {
  const idpKey = await makeKey('EdDSA');
  const clientKey = await makeKey('EdDSA');
  const ceiling = ['tickets:read', 'tickets:write', 'orders:read'];
  const config = parseConfig({
    issuer: TTS_ISSUER,
    trustDomain: TRUST_DOMAIN,
    keys: 'unused',
    subjectIssuers: [{ issuer: IDP_ISSUER, jwks: { keys: [idpKey.publicJwk] }, audiences: o.issuerAudiences ?? [MCP_AUD], algorithms: ['EdDSA'], rolesClaim: 'roles' }],
    clients: [
      { id: 'agent', auth: 'client_secret_basic', secret: SECRET, scopes: ceiling, subjectAudiences: [MCP_AUD] },
      { id: 'poster', auth: 'client_secret_post', secret: SECRET, scopes: ceiling, subjectAudiences: [MCP_AUD] },
      { id: 'jwt-client', auth: 'private_key_jwt', jwks: { keys: [clientKey.publicJwk] }, scopes: ceiling, subjectAudiences: [MCP_AUD] },
      { id: 'hop', auth: 'client_secret_basic', secret: SECRET, scopes: ceiling },
    ],
    scopeImplications: { tickets: ['tickets:read', 'tickets:write'] },
    allowedRequestDetails: ['tool', 'ticket_id'],
    ...o.overrides,
  });
  const store = o.store ?? new MemoryStore();
  const decisions: DecisionEntry[] = [];
  const keys = await SigningKeySet.fromJwks([await generateSigningJwk('EdDSA')]);
  const ctx = await prepareTts({ config, keys, store, policy: o.policy, onDecision: (e) => decisions.push(e), ...(o.now !== undefined ? { now: o.now } : {}) });
  return {
    ctx,
    decisions,
    idpKey,
    clientKey,
    store,
    async accessToken(claims = {}, header = {}) {
      const now = Math.floor((o.now?.() ?? new Date()).getTime() / 1000);
      return new SignJWT({ iss: IDP_ISSUER, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read orders:read', roles: ['user'], iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid: idpKey.kid, typ: 'at+jwt', ...header })
        .sign(idpKey.privateKey);
    },
  };
}

/** A value that must be refused, as the OAuth error and reason it is refused with. */
export async function refusal(p: Promise<unknown> | (() => unknown)): Promise<{ error: string; reason: string; status: number; message: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    const err = e as { error?: unknown; reason?: unknown; status?: unknown; message?: unknown };
    if (typeof err.error !== 'string' || typeof err.reason !== 'string') throw e;
    return { error: err.error, reason: err.reason, status: Number(err.status), message: String(err.message) };
  }
  throw new Error('accepted');
}
