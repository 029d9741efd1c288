/**
 * A certified OpenID provider (oidc-provider, examples/oidc-provider) and a Baton TTS that trusts it, both on
 * loopback, for the issue-17 suites. The TTS knows only the provider's issuer: keys and the introspection endpoint
 * are discovered.
 */
import { exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import type { ClientMetadata } from 'oidc-provider';
import type { ConfigInput } from '../../src/config/schema.js';
import { startOidcProvider, type RunningOidcProvider } from '../../examples/oidc-provider/provider.node.js';
import { claimsOf } from './jwt.js';
import { exchangeParams, type ExchangeResult, o4wExchange, startTts, type TestTts } from './tts.js';

export const MCP_JWT = 'https://mcp.support.example';
export const MCP_OPAQUE = 'https://mcp-opaque.support.example';
export const MCP_SHORT = 'https://mcp-short.support.example';
export const MCP_SHORT_OPAQUE = 'https://mcp-short-opaque.support.example';
export const REPORTS_MCP = 'https://mcp.reports.example';
/** a resource the IdP serves but Baton never accepts tokens for */
export const BILLING = 'https://billing.example';
export const BILLING_OPAQUE = 'https://billing-opaque.example';

export const CHAT = { client_id: 'support-chat', client_secret: `chat-${crypto.randomUUID()}`, redirect_uri: 'http://127.0.0.1/callback' };
export const BATCH = { client_id: 'batch-job', client_secret: `batch-${crypto.randomUUID()}` };
export const INTROSPECTOR = { basic: `baton-basic-${crypto.randomUUID()}`, post: `baton-post-${crypto.randomUUID()}` };
export const AGENT_SECRET = `agent-${crypto.randomUUID()}`;
export const REPORTS_SECRET = `reports-${crypto.randomUUID()}`;

export interface OidcWorld {
  op: RunningOidcProvider;
  /** the private JWK of the `baton-jwt` introspection client (private_key_jwt, RFC 9701 answers) */
  introspectorJwk: Record<string, unknown>;
  close(): Promise<void>;
}

export async function startOidcWorld(o: { unref?: boolean } = {}): Promise<OidcWorld> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `baton-jwt-${crypto.randomUUID().slice(0, 8)}`;
  const introspectorJwk = { ...(await exportJWK(privateKey)), kid };
  const scope = 'tickets orders';
  const clients: ClientMetadata[] = [
    {
      ...CHAT, redirect_uris: [CHAT.redirect_uri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    { ...BATCH, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'baton', client_secret: INTROSPECTOR.basic, grant_types: [], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'baton-post', client_secret: INTROSPECTOR.post, grant_types: [], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_post' },
    {
      client_id: 'baton-jwt', grant_types: [], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid }] }, introspection_signed_response_alg: 'RS256',
    },
  ];
  const op = await startOidcProvider({
    ...(o.unref === true ? { unref: true } : {}),
    resources: {
      [MCP_JWT]: { scope, format: 'jwt' },
      [MCP_OPAQUE]: { scope, format: 'opaque' },
      [MCP_SHORT]: { scope, format: 'jwt', ttl: 1 },
      [MCP_SHORT_OPAQUE]: { scope, format: 'opaque', ttl: 1 },
      [REPORTS_MCP]: { scope, format: 'jwt' },
      [BILLING]: { scope, format: 'jwt' },
      [BILLING_OPAQUE]: { scope, format: 'opaque' },
    },
    clients,
    accounts: {
      alice: { claims: { email: 'alice@example.com', email_verified: true, name: 'Alice' }, tokenClaims: { roles: ['user', 'vip'], email: 'alice@example.com' } },
      bob: { claims: { email: 'bob@example.com', email_verified: true, name: 'Bob' }, tokenClaims: { roles: ['user'], email: 'bob@example.com' } },
    },
  });
  return { op, introspectorJwk, close: () => op.close() };
}

/** The subject issuer entry for the provider: issuer only (discovery), introspection by `baton` unless given. */
export function providerIssuer(op: RunningOidcProvider, o: { introspection?: Record<string, unknown> } = {}): NonNullable<ConfigInput['subjectIssuers']>[number] {
  return {
    issuer: op.issuer,
    audiences: [MCP_JWT, MCP_OPAQUE, MCP_SHORT, MCP_SHORT_OPAQUE, REPORTS_MCP],
    algorithms: ['RS256'],
    rolesClaim: 'roles',
    principalAttributes: ['email'],
    // users are `sub`; a client-credentials token of oidc-provider introspects without sub: the client is the subject
    subjectClaim: ['sub', 'client_id'],
    introspection: { clientId: 'baton', auth: 'client_secret_basic', secret: INTROSPECTOR.basic, cacheSeconds: 0, ...o.introspection } as never,
  };
}

/** A Baton TTS trusting the provider; `mcp-support-agent` exchanges tokens for the MCP resources, `reports-agent` for the reports one. */
export async function startBaton(op: RunningOidcProvider, o: { issuer?: ReturnType<typeof providerIssuer>; clockSkew?: number } = {}): Promise<TestTts> {
  return startTts({
    config: () => ({
      trustDomain: 'support.example',
      clockSkew: o.clockSkew ?? 30,
      defaultRateLimit: { perClient: 100_000, perSubject: 100_000, windowSeconds: 60 },
      subjectIssuers: [o.issuer ?? providerIssuer(op)],
      clients: [
        { id: 'mcp-support-agent', auth: 'client_secret_basic', secret: AGENT_SECRET, scopes: ['tickets:read', 'tickets:write', 'orders:read'], subjectAudiences: [MCP_JWT, MCP_OPAQUE, MCP_SHORT, MCP_SHORT_OPAQUE] },
        { id: 'reports-agent', auth: 'client_secret_basic', secret: REPORTS_SECRET, scopes: ['tickets:read'], subjectAudiences: [REPORTS_MCP] },
      ],
      scopeImplications: { tickets: ['tickets:read', 'tickets:write'], orders: ['orders:read'] },
    }),
  });
}

export function exchangeAs(tts: TestTts, workload: 'mcp-support-agent' | 'reports-agent', subjectToken: string, scope = 'tickets:read'): Promise<ExchangeResult> {
  const secret = workload === 'mcp-support-agent' ? AGENT_SECRET : REPORTS_SECRET;
  return o4wExchange(tts.as, workload, oauth.ClientSecretBasic(secret), exchangeParams(subjectToken, { scope }));
}

/** The claims of a granted Txn-Token. */
export function txnClaims(r: ExchangeResult): Record<string, unknown> {
  if (r.ok === undefined) throw new Error(`exchange refused: ${r.text}`);
  return claimsOf(r.ok.access_token);
}

