/** The world of the TTS suites: one test IdP, one client per authentication method, a TTS on loopback. */
import * as oauth from 'oauth4webapi';
import type { ConfigInput } from '../../src/config/schema.js';
import { makeKey, type KeyPair } from './jwt.js';
import { MCP_AUD, TRUST_DOMAIN } from './names.js';
import { startTts, type TestTts, type TtsOptions } from './tts.js';
import { startIdp, type TestIdp } from './idp.js';

export const OTHER_AUD = 'https://other.example';

export const SECRETS = {
  agent: 'agent-secret-0123456789',
  poster: 'poster-secret-0123456789',
  narrow: 'narrow-secret-0123456789',
  unsigned: 'unsigned-secret-0123456789',
} as const;

export interface World {
  idp: TestIdp;
  tts: TestTts;
  /** the private_key_jwt client's key (`jwt-client`) */
  clientKey: KeyPair;
  /** oauth4webapi client authentications */
  auth: {
    agent: oauth.ClientAuth;
    poster: oauth.ClientAuth;
    narrow: oauth.ClientAuth;
    unsigned: oauth.ClientAuth;
    jwt: oauth.ClientAuth;
  };
  close(): Promise<void>;
}

export function baseConfig(idp: TestIdp, clientKey: KeyPair, overrides: Partial<ConfigInput> = {}): Omit<ConfigInput, 'issuer' | 'keys'> {
  const ceiling = ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'];
  return {
    trustDomain: TRUST_DOMAIN,
    tokenTtl: 120,
    maxTokenTtl: 300,
    defaultRateLimit: { perClient: 100_000, perSubject: 100_000, windowSeconds: 60 },
    subjectIssuers: [
      {
        issuer: idp.issuer,
        jwksUri: idp.jwksUri,
        audiences: [MCP_AUD, OTHER_AUD],
        algorithms: ['EdDSA', 'ES256', 'RS256'],
        rolesClaim: 'roles',
        principalAttributes: ['email', 'tenant'],
        idTokenAudiences: ['mcp-oidc-client'],
        idTokenScopes: ['tickets:read'],
      },
    ],
    clients: [
      { id: 'mcp-support-agent', auth: 'client_secret_basic', secret: SECRETS.agent, scopes: ceiling, subjectAudiences: [MCP_AUD, 'mcp-oidc-client'] },
      { id: 'poster', auth: 'client_secret_post', secret: SECRETS.poster, scopes: ceiling, subjectAudiences: [MCP_AUD] },
      { id: 'narrow', auth: 'client_secret_basic', secret: SECRETS.narrow, scopes: ['tickets:read'], subjectAudiences: [MCP_AUD] },
      {
        id: 'unsigned-ok',
        auth: 'client_secret_basic',
        secret: SECRETS.unsigned,
        scopes: ceiling,
        subjectAudiences: [MCP_AUD],
        allowUnsignedSubject: true,
      },
      {
        id: 'jwt-client',
        auth: 'private_key_jwt',
        jwks: { keys: [{ ...clientKey.publicJwk, kty: clientKey.publicJwk.kty! }] },
        scopes: ceiling,
        subjectAudiences: [MCP_AUD],
        allowSelfSignedSubject: true,
      },
      // the same kind of workload without the self-signed opt-in (T-10)
      { id: 'jwt-plain', auth: 'private_key_jwt', jwks: { keys: [{ ...clientKey.publicJwk, kty: clientKey.publicJwk.kty! }] }, scopes: ceiling, subjectAudiences: [MCP_AUD] },
    ],
    scopeImplications: { tickets: ['tickets:read', 'tickets:write'], orders: ['orders:read', 'orders:refund'] },
    allowedRequestDetails: ['tool', 'ticket_id'],
    allowedRequestContext: ['channel'],
    ...overrides,
  };
}

export async function startWorld(o: { overrides?: Partial<ConfigInput>; tts?: Partial<TtsOptions>; clientKeyAlg?: 'EdDSA' | 'ES256' } = {}): Promise<World> {
  const idp = await startIdp();
  const clientKey = await makeKey(o.clientKeyAlg ?? 'EdDSA');
  let tts: TestTts;
  try {
    tts = await startTts({ config: () => baseConfig(idp, clientKey, o.overrides), ...o.tts });
  } catch (e) {
    await idp.close();
    throw e;
  }
  return {
    idp,
    tts,
    clientKey,
    auth: {
      agent: oauth.ClientSecretBasic(SECRETS.agent),
      poster: oauth.ClientSecretPost(SECRETS.poster),
      narrow: oauth.ClientSecretBasic(SECRETS.narrow),
      unsigned: oauth.ClientSecretBasic(SECRETS.unsigned),
      jwt: oauth.PrivateKeyJwt({ key: clientKey.privateKey, kid: clientKey.kid }),
    },
    close: async () => {
      await tts.close();
      await idp.close();
    },
  };
}
