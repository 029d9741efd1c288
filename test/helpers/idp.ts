/**
 * Test fixtures for the TTS suites: a test IdP that serves its JWKS over real HTTP on loopback and mints access
 * tokens (with knobs for typ, aud, exp, alg, kid, claims), raw JWT forgery helpers (alg none, HMAC, tampering),
 * client keys and client assertions, and a TTS started with `startNode` on a free loopback port with a temp keys dir.
 */
import { createHmac, KeyObject, randomUUID, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import type { DecisionEntry } from '../../src/exchange/index.js';
import { createDecisionLogger } from '../../src/log/index.js';
import type { ScopePolicy } from '../../src/exchange/scope.js';
import { startNode, type RunningNode } from '../../src/node.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TT_TXN = 'urn:ietf:params:oauth:token-type:txn_token';
export const TT_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
export const TT_ID = 'urn:ietf:params:oauth:token-type:id_token';
export const TT_REFRESH = 'urn:ietf:params:oauth:token-type:refresh_token';
export const TT_SELF_SIGNED = 'urn:ietf:params:oauth:token-type:self_signed';
export const TT_UNSIGNED = 'urn:ietf:params:oauth:token-type:unsigned_json';
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type KeyAlg = 'EdDSA' | 'ES256' | 'RS256';

const b64u = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');

/** A compact JWS from a header, a payload and a signature segment (not signed by anything). */
export function rawJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  return `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}.${signature}`;
}

/** An HS256 JWS whose HMAC key is `secret` (the classic "public key as HMAC secret" confusion). */
export function hmacJwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Uint8Array): string {
  const input = `${b64u(JSON.stringify({ ...header, alg: 'HS256' }))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** Replaces the payload of a signed JWS, keeping header and signature. */
export function tamperPayload(jwt: string, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [h, p, s] = jwt.split('.');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${h}.${b64u(JSON.stringify(change(claims)))}.${s}`;
}

export function decodePart(jwt: string, i: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[i]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * A compact JWS over a payload given as JSON TEXT, signed with `key`: for payloads jose cannot build (it copies claims
 * recursively, so a claim nested thousands of levels deep overflows its stack before anything is sent).
 */
export function signRawJws(key: KeyPair, header: Record<string, unknown>, payloadJson: string): string {
  const input = `${b64u(JSON.stringify({ ...header, alg: key.alg }))}.${b64u(payloadJson)}`;
  const k = KeyObject.from(key.privateKey);
  const sig =
    key.alg === 'EdDSA'
      ? nodeSign(null, Buffer.from(input), k)
      : nodeSign('sha256', Buffer.from(input), key.alg === 'ES256' ? { key: k, dsaEncoding: 'ieee-p1363' } : k);
  return `${input}.${b64u(sig)}`;
}

/** JSON text of `claims` with the member `name` replaced by arrays nested `depth` levels deep (2 bytes a level). */
export function withDeepClaim(claims: Record<string, unknown>, name: string, depth: number): string {
  const marker = '"__deep_claim_marker__"';
  return JSON.stringify({ ...claims, [name]: '__deep_claim_marker__' }).replace(marker, `${'['.repeat(depth)}${']'.repeat(depth)}`);
}

export interface KeyPair {
  kid: string;
  alg: KeyAlg;
  privateKey: CryptoKey;
  /**
   * public members only, with kid and use. No `alg` member: oauth4webapi signs Ed25519 assertions as `Ed25519`
   * (RFC 9864) and jose would not select a JWK whose `alg` says `EdDSA` for them.
   */
  publicJwk: JWK;
}

export async function makeKey(alg: KeyAlg = 'EdDSA', kid: string = `k-${randomUUID().slice(0, 8)}`): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface MintOptions {
  sub?: string;
  /** a string (space-delimited), an array (written as `scp`), or null for no scope claim; default "tickets:read tickets:write orders:read" */
  scope?: string | string[] | null;
  /** null: no aud claim */
  aud?: string | string[] | null;
  /** JWS typ; null: no typ header; default at+jwt */
  typ?: string | null;
  /** null: no kid header */
  kid?: string | null;
  iss?: string;
  /** seconds from now; default 300 (ignored when `exp` is given) */
  ttl?: number;
  /** absolute exp (epoch seconds) */
  exp?: number;
  iat?: number;
  claims?: Record<string, unknown>;
  /** sign with another key (e.g. an attacker's) while keeping this IdP's kid */
  key?: KeyPair;
}

export interface TestIdp {
  /** `http://127.0.0.1:PORT`: also the `iss` of its tokens */
  issuer: string;
  jwksUri: string;
  key: KeyPair;
  /** every key the JWKS endpoint publishes (add one to test rotation) */
  published: JWK[];
  /** number of JWKS fetches served */
  jwksFetches(): number;
  mint(o?: MintOptions): Promise<string>;
  /** the standard claims of `mint` (sub alice, default scope and aud, 300 s), for building raw payloads */
  claims(extra?: Record<string, unknown>): Record<string, unknown>;
  /** signs a payload given as JSON text with the IdP key (typ at+jwt, its kid) */
  mintRaw(payloadJson: string): string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** A test IdP: one signing key, its JWKS served on loopback at /jwks.json. */
export async function startIdp(alg: KeyAlg = 'EdDSA'): Promise<TestIdp> {
  const key = await makeKey(alg);
  const published: JWK[] = [key.publicJwk];
  let fetches = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/jwks.json') {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published }));
      return;
    }
    res.writeHead(404).end();
  });
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks.json`,
    key,
    published,
    jwksFetches: () => fetches,
    async mint(o: MintOptions = {}) {
      const k = o.key ?? key;
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { ...(o.claims ?? {}) };
      const scope = o.scope === undefined ? 'tickets:read tickets:write orders:read' : o.scope;
      if (typeof scope === 'string') payload.scope = scope;
      else if (Array.isArray(scope)) payload.scp = scope;
      const header: { alg: string; typ?: string; kid?: string } = { alg: k.alg };
      const typ = o.typ === undefined ? 'at+jwt' : o.typ;
      if (typ !== null) header.typ = typ;
      const kid = o.kid === undefined ? key.kid : o.kid;
      if (kid !== null) header.kid = kid;
      const jwt = new SignJWT(payload)
        .setProtectedHeader(header)
        .setIssuer(o.iss ?? issuer)
        .setSubject(o.sub ?? 'alice')
        .setIssuedAt(o.iat ?? now)
        .setExpirationTime(o.exp ?? now + (o.ttl ?? 300))
        .setJti(randomUUID());
      const aud = o.aud === undefined ? 'https://mcp.support.example' : o.aud;
      if (aud !== null) jwt.setAudience(aud);
      return jwt.sign(k.privateKey);
    },
    claims(extra = {}) {
      const now = Math.floor(Date.now() / 1000);
      return { iss: issuer, sub: 'alice', aud: 'https://mcp.support.example', scope: 'tickets:read tickets:write orders:read', iat: now, exp: now + 300, jti: randomUUID(), ...extra };
    },
    mintRaw(payloadJson: string) {
      return signRawJws(key, { typ: 'at+jwt', kid: key.kid }, payloadJson);
    },
    close: () => closeServer(server),
  };
}

export interface AssertionOptions {
  iss?: string;
  sub?: string;
  aud?: string;
  /** seconds from now; default 60 */
  ttl?: number;
  jti?: string;
  typ?: string;
  claims?: Record<string, unknown>;
}

/** An RFC 7523 client assertion (private_key_jwt) signed with `key`. */
export async function clientAssertion(key: KeyPair, clientId: string, aud: string, o: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...(o.claims ?? {}) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...(o.typ !== undefined ? { typ: o.typ } : {}) })
    .setIssuer(o.iss ?? clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? aud)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.ttl ?? 60))
    .setJti(o.jti ?? randomUUID())
    .sign(key.privateKey);
}

/** A self-signed subject (T-10): iss = the workload, aud = the TTS issuer, signed with the workload's key. */
export async function selfSignedSubject(key: KeyPair, workload: string, ttsIssuer: string, claims: Record<string, unknown>, o: { ttl?: number; sub?: string; aud?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(workload)
    .setSubject(o.sub ?? 'alice')
    .setAudience(o.aud ?? ttsIssuer)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.ttl ?? 60))
    .sign(key.privateKey);
}

/** A free TCP port on 127.0.0.1 (so that the TTS issuer can be its own URL, as discovery requires). */
export async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await closeServer(s);
  return port;
}

export interface TestTts {
  node: RunningNode;
  /** `http://127.0.0.1:PORT`: the configured issuer and where it is served */
  url: string;
  issuer: string;
  keysDir: string;
  decisions: DecisionEntry[];
  /** the same decisions as the lines `baton serve` writes (baton/log's renderer) */
  lines: string[];
  /** RFC 8414 metadata discovered with oauth4webapi */
  as: oauth.AuthorizationServer;
  close(): Promise<void>;
}

export interface TtsOptions {
  /** builds the configuration; `issuer` and `keys` are filled in */
  config: (issuer: string) => Omit<ConfigInput, 'issuer' | 'keys'> & { keys?: string };
  /** private JWKs written into the keys dir before start (otherwise a dev key is generated) */
  signingKeys?: JWK[];
  policy?: ScopePolicy;
  /** path resolver for `policies` etc. (default: paths as given) */
  resolvePath?: (p: string) => string;
}

/** Starts the TTS with `startNode` on a free loopback port, keys in a fresh temp dir, and discovers its metadata. */
export async function startTts(o: TtsOptions): Promise<TestTts> {
  const keysDir = mkdtempSync(join(tmpdir(), 'baton-tts-keys-'));
  if (o.signingKeys !== undefined) {
    mkdirSync(keysDir, { recursive: true });
    for (const k of o.signingKeys) writeFileSync(join(keysDir, `${k.kid!}.jwk.json`), JSON.stringify(k));
  }
  const decisions: DecisionEntry[] = [];
  const lines: string[] = [];
  const logger = createDecisionLogger({ sink: (line) => lines.push(line) });
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const config = parseConfig({ ...o.config(issuer), issuer, keys: keysDir, port, host: '127.0.0.1' }, 'test');
    let node: RunningNode;
    try {
      node = await startNode({
        loaded: { config, file: 'test', resolvePath: o.resolvePath ?? ((p) => p) },
        port,
        say: () => {},
        onDecision: (e) => {
          decisions.push(e);
          logger.log(e);
        },
        ...(o.policy !== undefined ? { policy: o.policy } : {}),
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        lastError = e;
        continue;
      }
      rmSync(keysDir, { recursive: true, force: true });
      throw e;
    }
    const as = await oauth.processDiscoveryResponse(
      new URL(issuer),
      await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }),
    );
    return {
      node,
      url: node.url,
      issuer,
      keysDir,
      decisions,
      lines,
      as,
      close: async () => {
        await node.close();
        rmSync(keysDir, { recursive: true, force: true });
      },
    };
  }
  throw lastError;
}

export interface ExchangeResult {
  response: Response;
  /** the raw response body */
  text: string;
  /** parsed by oauth4webapi when the exchange succeeded */
  ok?: oauth.TokenEndpointResponse;
  /** the oauth4webapi error when it did not (a 401 with a Basic challenge is a WWWAuthenticateChallengeError) */
  error?: oauth.ResponseBodyError | oauth.WWWAuthenticateChallengeError;
}

/**
 * A token exchange made the way a workload does it: oauth4webapi's generic token endpoint request and response
 * processing (token_type N_A recognised), over real HTTP.
 */
export async function o4wExchange(
  as: oauth.AuthorizationServer,
  clientId: string,
  auth: oauth.ClientAuth,
  params: Record<string, string>,
  grantType: string = TOKEN_EXCHANGE,
): Promise<ExchangeResult> {
  const client: oauth.Client = { client_id: clientId };
  const response = await oauth.genericTokenEndpointRequest(as, client, auth, grantType, new URLSearchParams(params), {
    [oauth.allowInsecureRequests]: true,
  });
  const text = await response.clone().text();
  try {
    const ok = await oauth.processGenericTokenEndpointResponse(as, client, response, { recognizedTokenTypes: { n_a: () => {} } });
    return { response, text, ok };
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError || e instanceof oauth.WWWAuthenticateChallengeError) return { response, text, error: e };
    // oauth4webapi reads only 4xx bodies as OAuth errors; a 503 temporarily_unavailable is returned as it came
    if (e instanceof oauth.OperationProcessingError && response.status >= 500) return { response, text };
    throw e;
  }
}

/** The usual exchange parameters for a subject access token. */
export function exchangeParams(subjectToken: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    requested_token_type: TT_TXN,
    audience: 'support.example',
    scope: 'tickets:read',
    subject_token: subjectToken,
    subject_token_type: TT_ACCESS,
    ...extra,
  };
}

/** POST /token with a hand-built body (for what oauth4webapi cannot send). */
export async function rawPost(url: string, body: string | URLSearchParams, headers: Record<string, string> = {}): Promise<{ response: Response; text: string; json: Record<string, unknown> | undefined }> {
  const response = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : body.toString(),
  });
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { response, text, json };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}
