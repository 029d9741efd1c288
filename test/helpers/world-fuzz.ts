/**
 * The world of the fuzz suite (issue 10 finding 4): one TTS built from the real pieces (TokenService, the hono app,
 * the memory store, the example policies), its keys and a test IdP's and a client's keys generated here, so that the
 * suite can sign whatever header and payload it likes with each of them; one verifier and one hono service behind
 * `txnToken`. Every decision line goes through baton/log's renderer into arrays the properties read.
 * In-process (`app.fetch`) for the bulk; `startHttp` serves the same configuration over real HTTP (startNode).
 */
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Hono } from 'hono';
import type { JWK } from 'jose';
import { parseConfig, type Config } from '../../src/config/schema.js';
import { TokenService } from '../../src/exchange/index.js';
import { loadScopePolicy } from '../../src/exchange/policy-scope.node.js';
import type { ScopePolicy } from '../../src/exchange/scope.js';
import { installNodeJwsCrypto } from '../../src/jose/crypto.node.js';
import { generateSigningJwk, SigningKeySet, toPublicJwk } from '../../src/jose/keys.js';
import { createDecisionLogger } from '../../src/log/index.js';
import { startNode, type RunningNode } from '../../src/node.js';
import { createApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createVerifier, txnToken, type TxnTokenEnv, type Verifier } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from './names.js';

export const ISSUER = 'https://tts.fuzz.example';
export const IDP = 'https://idp.fuzz.example';
export const MCP_AUD = 'https://mcp.fuzz.example';
export const SECRET = 'fuzz-client-secret-0123456789';
const ROOT = resolve(import.meta.dirname, '../..');

/** The seed of this run: BATON_FUZZ_SEED, or a fresh one (printed, so that a failure can be replayed). */
export const SEED = process.env.BATON_FUZZ_SEED !== undefined && process.env.BATON_FUZZ_SEED !== '' ? Number(process.env.BATON_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** BATON_FUZZ_SCALE multiplies every property's number of runs (default 1; longer local runs: 10). */
export const SCALE = Number(process.env.BATON_FUZZ_SCALE ?? '1');
if (!Number.isInteger(SEED) || !(SCALE > 0)) throw new Error('BATON_FUZZ_SEED must be an integer and BATON_FUZZ_SCALE a positive number');

const b64u = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');

/** A compact JWS over header and payload given as TEXT (any bytes), Ed25519-signed with `key`. */
export function signRaw(key: KeyObject, headerText: string, payloadText: string): string {
  const input = `${b64u(headerText)}.${b64u(payloadText)}`;
  return `${input}.${b64u(sign(null, Buffer.from(input), key))}`;
}

function keyPair(kid: string): { priv: KeyObject; pub: JWK } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { priv: privateKey, pub: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, use: 'sig' } };
}

export interface Captured {
  /** decision lines of the TTS (as `baton serve` writes them) */
  tts: string[];
  /** decision lines of the verifier */
  verifier: string[];
}

export interface FuzzWorld {
  config: Config;
  app: Hono;
  service: TokenService;
  verifier: Verifier;
  /** a hono service: GET /tickets behind `txnToken({ scope: 'tickets:read' })` */
  service2: Hono<TxnTokenEnv>;
  idpKey: KeyObject;
  clientKey: KeyObject;
  ttsKey: KeyObject;
  ttsKid: string;
  /** another Ed25519 key, trusted by nobody */
  strangerKey: KeyObject;
  lines: Captured;
  policy: ScopePolicy;
  keysJwk: JWK;
  close(): Promise<void>;
}

export function fuzzConfigInput(idpPub: JWK, clientPub: JWK, issuer = ISSUER) {
  const ceiling = ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'];
  return {
    issuer,
    trustDomain: TRUST_DOMAIN,
    policies: 'policies',
    maxContextBytes: 16_384,
    subjectIssuers: [
      {
        issuer: IDP, jwks: { keys: [idpPub] }, audiences: [MCP_AUD], algorithms: ['EdDSA', 'ES256', 'RS256'], rolesClaim: 'roles',
        principalAttributes: ['tenant', 'email'], idTokenAudiences: ['oidc-client'], idTokenScopes: ['tickets:read'],
      },
    ],
    clients: [
      { id: 'agent', auth: 'client_secret_basic', secret: SECRET, scopes: ceiling, subjectAudiences: [MCP_AUD, 'oidc-client'], allowUnsignedSubject: true, revokeById: true },
      { id: 'poster', auth: 'client_secret_post', secret: SECRET, scopes: ceiling, subjectAudiences: [MCP_AUD] },
      { id: 'jwt', auth: 'private_key_jwt', jwks: { keys: [clientPub] }, scopes: ceiling, subjectAudiences: [MCP_AUD], allowSelfSignedSubject: true },
      { id: 'hop', auth: 'client_secret_basic', secret: SECRET, scopes: ceiling },
    ],
    scopeImplications: { tickets: ['tickets:read', 'tickets:write'], orders: ['orders:read', 'orders:refund'] },
    allowedRequestDetails: ['tool', 'ticket_id'],
    allowedRequestContext: ['channel'],
    defaultRateLimit: { perClient: 1_000_000_000, perSubject: 1_000_000_000, windowSeconds: 60 },
  } as const;
}

export async function startFuzzWorld(): Promise<FuzzWorld> {
  installNodeJwsCrypto();
  const idp = keyPair('idp-1');
  const client = keyPair('client-1');
  const stranger = keyPair('idp-1'); // same kid as the IdP, another key
  const ttsJwk = await generateSigningJwk('EdDSA');
  const config = parseConfig(fuzzConfigInput(idp.pub, client.pub), 'fuzz');
  const keys = await SigningKeySet.fromJwks([ttsJwk]);
  const store = new MemoryStore();
  const policy = await loadScopePolicy(join(ROOT, 'policies'), () => {});
  const lines: Captured = { tts: [], verifier: [] };
  const ttsLog = createDecisionLogger({ sink: (l) => lines.tts.push(l) });
  const service = await TokenService.create({ config, keys, store, policy, onDecision: ttsLog.sink });
  const app = createApp({ service, remoteAddr: () => '127.0.0.1' });
  const verifierLog = createDecisionLogger({ sink: (l) => lines.verifier.push(l) });
  const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: ISSUER, jwks: keys.jwks(), store, service: 'tickets', onDecision: verifierLog.sink });
  const service2 = new Hono<TxnTokenEnv>();
  service2.use('/tickets', txnToken({ verifier, scope: 'tickets:read' }));
  service2.get('/tickets', (c) => c.json({ sub: c.var.txn.sub }));
  return {
    config, app, service, verifier, service2, lines, policy, keysJwk: ttsJwk,
    idpKey: idp.priv, clientKey: client.priv, ttsKey: createPrivateKey({ key: ttsJwk as import('node:crypto').JsonWebKey, format: 'jwk' }), ttsKid: ttsJwk.kid!,
    strangerKey: stranger.priv,
    close: async () => {
      await verifier.close();
    },
  };
}

/** The same configuration over real HTTP (startNode on a loopback port, the node body reader), sharing the keys. */
export async function startHttp(w: FuzzWorld, idpPub: JWK, clientPub: JWK): Promise<{ node: RunningNode; url: string; lines: string[]; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-fuzz-keys-'));
  writeFileSync(join(dir, `${w.ttsKid}.jwk.json`), JSON.stringify(w.keysJwk));
  const lines: string[] = [];
  const log = createDecisionLogger({ sink: (l) => lines.push(l) });
  const config = parseConfig({ ...fuzzConfigInput(idpPub, clientPub), keys: dir, port: 0, host: '127.0.0.1' }, 'fuzz-http');
  const node = await startNode({ loaded: { config, file: 'fuzz', resolvePath: (p) => (p === 'policies' ? join(ROOT, 'policies') : p) }, port: 0, say: () => {}, onDecision: log.sink });
  return {
    node, url: node.url, lines,
    close: async () => {
      await node.close({ graceMs: 2000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function publicJwkOf(key: KeyObject, kid: string): JWK {
  return { ...toPublicJwk({ ...(key.export({ format: 'jwk' }) as JWK), kid }), use: 'sig' };
}

