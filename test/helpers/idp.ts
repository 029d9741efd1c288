/**
 * The test IdP of the TTS suites: one signing key, its JWKS served over real HTTP on loopback, access tokens minted
 * with knobs for typ, aud, exp, alg, kid and claims (a remote IdP cannot run here: its JWKS is served instead).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { SignJWT, type JWK } from 'jose';
import { makeKey, type KeyAlg, type KeyPair } from './jwt.js';
import { signRawJws } from './jwt.node.js';
import { MCP_AUD } from './names.js';
import { closeServer, listen } from './net.js';

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
      const aud = o.aud === undefined ? MCP_AUD : o.aud;
      if (aud !== null) jwt.setAudience(aud);
      return jwt.sign(k.privateKey);
    },
    claims(extra = {}) {
      const now = Math.floor(Date.now() / 1000);
      return { iss: issuer, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read tickets:write orders:read', iat: now, exp: now + 300, jti: randomUUID(), ...extra };
    },
    mintRaw(payloadJson: string) {
      return signRawJws(key, { typ: 'at+jwt', kid: key.kid }, payloadJson);
    },
    close: () => closeServer(server),
  };
}

