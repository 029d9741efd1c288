/**
 * The world of the verify suites: a test IdP, the real TTS (startNode) with the repo's example policies and a known
 * signing key (so that tests can also forge tokens with it) and workloads for every hop.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { importJWK, SignJWT, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { createEngine, type Engine } from '../../src/policy/index.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../../src/txn/index.js';
import { MCP_AUD, TRUST_DOMAIN } from './names.js';
import { o4wExchange, startTts, type ExchangeResult, type TestTts } from './tts.js';
import { startIdp, type TestIdp } from './idp.js';
export const POLICY_DIR = fileURLToPath(new URL('../../policies', import.meta.url));
export const ALL_SCOPES = ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'] as const;
/** workloads of the property test (each may replace) */
export const HOPS = ['hop-1', 'hop-2', 'hop-3', 'hop-4'] as const;
export const SECRET = 'verify-suite-secret-0123456789';

export interface VerifyWorld {
  idp: TestIdp;
  tts: TestTts;
  /** the TTS's private signing JWK (to forge tokens the TTS would sign) */
  signingJwk: JWK;
  jwks: { keys: JWK[] };
  jwksUri: string;
  /** a Txn-Token for `alice` through mcp-support-agent, from a real exchange */
  exchange(o?: { sub?: string; scope?: string; roles?: string[] }): Promise<string>;
  /** replacement by `workload` (a real exchange) */
  replace(workload: string, token: string, params?: Record<string, string>): Promise<ExchangeResult>;
  /** a Txn-Token signed with the TTS key, with claims and header as given */
  forge(o?: ForgeOptions): Promise<string>;
  close(): Promise<void>;
}

export interface ForgeOptions {
  claims?: Record<string, unknown>;
  /** claims to delete from the defaults */
  omit?: string[];
  header?: Record<string, unknown>;
  /** header members to delete from the defaults */
  omitHeader?: string[];
  /** sign with another private JWK */
  jwk?: JWK;
}

export function loadEngine(): Engine {
  return createEngine({ policies: readPolicies(POLICY_DIR) });
}

export async function startVerifyWorld(overrides: Partial<ConfigInput> = {}): Promise<VerifyWorld> {
  const idp = await startIdp();
  const signingJwk = await generateSigningJwk('EdDSA');
  const ceiling = [...ALL_SCOPES];
  const tts = await startTts({
    signingKeys: [signingJwk],
    resolvePath: (p) => (p === 'policies' ? POLICY_DIR : p),
    config: () => ({
      trustDomain: TRUST_DOMAIN,
      tokenTtl: 120,
      maxTokenTtl: 300,
      defaultRateLimit: { perClient: 100_000, perSubject: 100_000, windowSeconds: 60 },
      policies: 'policies',
      subjectIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: [MCP_AUD], algorithms: ['EdDSA'], rolesClaim: 'roles' }],
      clients: [
        { id: 'mcp-support-agent', auth: 'client_secret_basic', secret: SECRET, scopes: ceiling, subjectAudiences: [MCP_AUD] },
        { id: 'orders-svc', auth: 'client_secret_basic', secret: SECRET, scopes: ['tickets:read', 'orders:read'] },
        ...HOPS.map((id) => ({ id, auth: 'client_secret_basic' as const, secret: SECRET, scopes: ceiling })),
      ],
      scopeImplications: { tickets: ['tickets:read', 'tickets:write'], orders: ['orders:read', 'orders:refund'] },
      allowedRequestDetails: ['tool', 'ticket_id'],
      ...overrides,
    }),
  });
  const jwks = { keys: [{ ...toPublicJwk(signingJwk), alg: 'EdDSA', use: 'sig' }] };
  const key = await importJWK(signingJwk, 'EdDSA');
  const auth = oauth.ClientSecretBasic(SECRET);
  return {
    idp,
    tts,
    signingJwk,
    jwks,
    jwksUri: `${tts.url}/.well-known/jwks.json`,
    async exchange(o = {}) {
      const subject = await idp.mint({ sub: o.sub ?? 'alice', scope: o.scope ?? 'tickets:read orders:read', claims: { roles: o.roles ?? ['user'] } });
      const r = await o4wExchange(tts.as, 'mcp-support-agent', auth, {
        requested_token_type: TT_TXN_TOKEN,
        audience: TRUST_DOMAIN,
        scope: o.scope ?? 'tickets:read orders:read',
        subject_token: subject,
        subject_token_type: TT_ACCESS_TOKEN,
      });
      if (r.ok === undefined) throw new Error(`exchange failed: ${r.text}`);
      return r.ok.access_token;
    },
    replace(workload, token, params = {}) {
      return o4wExchange(tts.as, workload, auth, {
        requested_token_type: TT_TXN_TOKEN,
        audience: TRUST_DOMAIN,
        scope: 'tickets:read',
        subject_token: token,
        subject_token_type: TT_TXN_TOKEN,
        ...params,
      });
    },
    async forge(o = {}) {
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        iss: tts.issuer,
        iat: now,
        exp: now + 120,
        aud: TRUST_DOMAIN,
        txn: randomUUID(),
        sub: 'alice',
        scope: 'tickets:read orders:read',
        req_wl: 'mcp-support-agent',
        act: { sub: 'mcp-support-agent' },
        tctx: { roles: ['user'], attr: {} },
        rctx: {},
        ...o.claims,
      };
      for (const k of o.omit ?? []) delete claims[k];
      const jwk = o.jwk ?? signingJwk;
      const header: Record<string, unknown> = { alg: 'EdDSA', kid: jwk.kid, typ: 'txntoken+jwt', ...o.header };
      for (const k of o.omitHeader ?? []) delete header[k];
      const k = o.jwk === undefined ? key : await importJWK(o.jwk, 'EdDSA');
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(k);
    },
    async close() {
      await tts.close();
      await idp.close();
    },
  };
}
