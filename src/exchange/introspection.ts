import { base64url, importJWK, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import type { IntrospectionConfig } from '../config/idp.js';
import { JwsFormatError, parseCompactJws, signCompactJws, verifyParsedJws } from '../jose/jws.js';
import { JwtProfileError } from '../jose/profiles.js';
import { sha256 } from '../jose/sha256.js';
import { mediaType, readBoundedText } from './bounded-read.js';

/**
 * RFC 7662 token introspection client for opaque subject tokens (issue 17), with RFC 9701 JWT responses where
 * configured. Web-standard only (fetch, Web Crypto through jose/jws.ts): the same code runs on Node and Workers.
 *
 * - Client authentication: client_secret_basic, client_secret_post or private_key_jwt (RFC 7523: iss = sub = the
 *   client id, aud = the issuer identifier as one string (rfc7523bis) or the endpoint URL, jti, exp = 60 s).
 * - Every request is bounded (`timeoutMs`) and every answer read at most MAX_ANSWER_BYTES. Anything but a 200 with a
 *   well-formed answer (timeout, refused connection, 4xx/5xx, not JSON, no boolean `active`, a JWT response that
 *   does not verify) is IntrospectionUnavailable: the exchange fails closed with 503. Never retried inline.
 * - Answers are cached per token under the SHA-256 of the token (never the token): an active answer at most
 *   `cacheSeconds` and never past its `exp`, an inactive one `negativeCacheSeconds`, at most `cacheMaxEntries`
 *   (least recently used dropped first). Concurrent requests for one token share one introspection call.
 * - Nothing of the token, the endpoint's answer or the client's secret reaches an error message.
 * The claims of an active answer are checked by `checkIntrospectedClaims` (T-09), by the caller, on every use.
 */

export const MAX_ANSWER_BYTES = 64 * 1024;
const JWT_ANSWER = 'application/token-introspection+jwt';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The endpoint could not give a usable answer; the message is safe to show (it never holds a token or a body). */
export class IntrospectionUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IntrospectionUnavailable';
  }
}

export type IntrospectionAnswer = { readonly active: true; readonly claims: Readonly<Record<string, unknown>> } | { readonly active: false };

export interface IntrospectorOptions {
  /** the subject issuer's identifier: `iss` of JWT answers, `aud` of client assertions */
  issuer: string;
  config: IntrospectionConfig;
  /** the endpoint URL (configured, or from the issuer's discovered metadata) */
  endpoint: () => Promise<string>;
  /** the issuer's keys, for RFC 9701 JWT answers */
  keys: () => Promise<JWTVerifyGetKey>;
  /** accepted `alg` of JWT answers */
  algorithms: readonly string[];
  clockSkew: number;
  /** milliseconds since the epoch (tests) */
  now?: () => number;
  fetch?: typeof fetch;
}

interface CacheEntry {
  until: number;
  answer: IntrospectionAnswer;
}

export interface IntrospectorStats {
  /** introspection requests sent */
  requests: number;
  /** answers served from the cache */
  cacheHits: number;
  cacheSize: number;
}

export class Introspector {
  readonly #o: IntrospectorOptions;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<IntrospectionAnswer>>();
  #assertionKey: Promise<{ key: CryptoKey; alg: string; kid: string | undefined }> | undefined;
  #requests = 0;
  #hits = 0;

  constructor(o: IntrospectorOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
  }

  /** the cache's keys: SHA-256 of the tokens, base64url (never a token) */
  cacheKeys(): string[] {
    return [...this.#cache.keys()];
  }

  stats(): IntrospectorStats {
    return { requests: this.#requests, cacheHits: this.#hits, cacheSize: this.#cache.size };
  }

  /** The issuer's answer for `token` (cached, see above). Throws IntrospectionUnavailable. */
  async introspect(token: string): Promise<IntrospectionAnswer> {
    const key = base64url.encode(sha256(new TextEncoder().encode(token)));
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#cache.delete(key);
      if (hit.until > now) {
        this.#cache.set(key, hit); // most recently used last
        this.#hits++;
        return hit.answer;
      }
    }
    let p = this.#inflight.get(key);
    if (p === undefined) {
      p = this.#request(token).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
      const answer = await p;
      this.#remember(key, answer);
      return answer;
    }
    return p;
  }

  #remember(key: string, answer: IntrospectionAnswer): void {
    const c = this.#o.config;
    const now = this.#now();
    let until: number;
    if (answer.active) {
      const exp = answer.claims.exp;
      if (typeof exp !== 'number' || !Number.isFinite(exp)) return; // refused on use anyway: never cached
      until = Math.min(now + c.cacheSeconds * 1000, exp * 1000);
    } else {
      until = now + c.negativeCacheSeconds * 1000;
    }
    if (until <= now) return;
    this.#cache.set(key, { until, answer });
    while (this.#cache.size > c.cacheMaxEntries) this.#cache.delete(this.#cache.keys().next().value!);
  }

  async #request(token: string): Promise<IntrospectionAnswer> {
    const c = this.#o.config;
    const endpoint = await this.#o.endpoint();
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: c.jwtResponse ? JWT_ANSWER : 'application/json',
    };
    if (c.auth === 'client_secret_basic') {
      // RFC 6749 §2.3.1: both parts form-urlencoded before Basic
      headers.authorization = `Basic ${btoa(`${formEncode(c.clientId)}:${formEncode(c.secret!)}`)}`;
    } else if (c.auth === 'client_secret_post') {
      body.set('client_id', c.clientId);
      body.set('client_secret', c.secret!);
    } else {
      body.set('client_id', c.clientId);
      body.set('client_assertion_type', JWT_BEARER);
      body.set('client_assertion', await this.#assertion(endpoint));
    }
    this.#requests++;
    let response: Response;
    try {
      // redirects are never followed (a 3xx is an unusable answer); 'manual', since workerd has no redirect: 'error'
      response = await this.#fetch(endpoint, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(c.timeoutMs) });
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
      throw new IntrospectionUnavailable(timedOut ? `the introspection endpoint did not answer within ${c.timeoutMs} ms` : 'the introspection endpoint cannot be reached', { cause: e });
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new IntrospectionUnavailable(`the introspection endpoint answered HTTP ${response.status}`);
    }
    const contentType = mediaType(response);
    let text: string;
    try {
      text = await readBoundedText(response, MAX_ANSWER_BYTES, c.timeoutMs);
    } catch (e) {
      throw new IntrospectionUnavailable(`the introspection endpoint's ${(e as Error).message.replace(/^the /, '')}`, { cause: e });
    }
    if (c.jwtResponse) {
      if (contentType !== JWT_ANSWER) throw new IntrospectionUnavailable(`the introspection endpoint did not answer with ${JWT_ANSWER} (RFC 9701)`);
      return this.#fromJwt(text);
    }
    if (contentType !== 'application/json') throw new IntrospectionUnavailable('the introspection endpoint did not answer with JSON');
    return answerOf(parseObject(text, 'the introspection answer'));
  }

  /** RFC 9701 §5: a JWS typed token-introspection+jwt by the issuer, for this client, carrying `token_introspection`. */
  async #fromJwt(text: string): Promise<IntrospectionAnswer> {
    const bad = (why: string, cause?: unknown) => new IntrospectionUnavailable(`the JWT introspection answer is not acceptable: ${why}`, { cause });
    let jws;
    try {
      jws = parseCompactJws(text.trim());
    } catch (e) {
      throw bad(e instanceof JwsFormatError ? 'not a signed JWT (encrypted answers are not supported)' : 'malformed', e);
    }
    const typ = typeof jws.header.typ === 'string' ? jws.header.typ.toLowerCase().replace(/^application\//, '') : undefined;
    if (typ !== 'token-introspection+jwt') throw bad('typ is not token-introspection+jwt');
    const alg = jws.header.alg;
    if (typeof alg !== 'string' || !this.#o.algorithms.includes(alg)) throw bad('algorithm not allowed');
    let ok: boolean;
    try {
      ok = await verifyParsedJws(jws, alg, await this.#o.keys());
    } catch (e) {
      throw bad('no key of the issuer verifies it', e);
    }
    if (!ok) throw bad('signature invalid');
    const p = jws.payload;
    if (p.iss !== this.#o.issuer) throw bad('iss is not the issuer');
    const aud = p.aud;
    if (!(aud === this.#o.config.clientId || (Array.isArray(aud) && aud.includes(this.#o.config.clientId)))) throw bad('aud is not this client');
    if (typeof p.iat !== 'number' || !Number.isFinite(p.iat)) throw bad('iat is missing');
    if (p.iat > Math.floor(this.#now() / 1000) + this.#o.clockSkew) throw bad('iat is in the future');
    const inner = p.token_introspection;
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) throw bad('token_introspection is missing');
    return answerOf(inner as Record<string, unknown>);
  }

  /** A fresh RFC 7523 client assertion for one introspection request. */
  async #assertion(endpoint: string): Promise<string> {
    const c = this.#o.config;
    this.#assertionKey ??= importAssertionKey(c);
    const { key, alg, kid } = await this.#assertionKey;
    const now = Math.floor(this.#now() / 1000);
    const aud = c.assertionAudience === 'endpoint' ? endpoint : this.#o.issuer;
    return signCompactJws(kid === undefined ? {} : { kid }, { iss: c.clientId, sub: c.clientId, aud, jti: crypto.randomUUID(), iat: now, exp: now + 60 }, alg, key);
  }
}

async function importAssertionKey(c: IntrospectionConfig): Promise<{ key: CryptoKey; alg: string; kid: string | undefined }> {
  const jwk = (typeof c.privateJwk === 'string' ? JSON.parse(c.privateJwk) : c.privateJwk) as JWK;
  const alg = c.assertionAlg ?? (typeof jwk.alg === 'string' ? jwk.alg : jwk.kty === 'OKP' ? 'EdDSA' : jwk.kty === 'EC' ? 'ES256' : 'RS256');
  const key = await importJWK({ ...jwk, ext: false }, alg === 'Ed25519' ? 'EdDSA' : alg);
  // importJWK gives a CryptoKey or, for a symmetric JWK, bytes (no global CryptoKey: the types need no DOM lib)
  if (key instanceof Uint8Array || key.type !== 'private') throw new IntrospectionUnavailable('introspection.privateJwk is not a private key');
  return { key, alg, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined };
}

function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new IntrospectionUnavailable(`${what} is not JSON`, { cause: e });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new IntrospectionUnavailable(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function answerOf(o: Record<string, unknown>): IntrospectionAnswer {
  if (typeof o.active !== 'boolean') throw new IntrospectionUnavailable('the introspection answer has no boolean active member (RFC 7662 §2.2)');
  return o.active ? { active: true, claims: o } : { active: false };
}

export interface IntrospectedClaimsCheck {
  issuer: string;
  audiences: readonly string[];
  clockSkew: number;
  /** seconds since the epoch */
  now: number;
}

/**
 * The claims of an active answer, checked as a JWT access token's would be (T-09): `iss` (when present) is the
 * issuer, `aud` is one of the accepted audiences, `exp` is present and not passed, `iat`/`nbf` are not in the future,
 * `sub` (when present) is a string. A sender-constrained token (`cnf`) or a token type other than Bearer (a refresh
 * token, a DPoP token) is refused: the workload cannot prove possession for the user. Throws JwtProfileError.
 */
export function checkIntrospectedClaims(p: Readonly<Record<string, unknown>>, o: IntrospectedClaimsCheck): void {
  if (p.iss !== undefined && p.iss !== o.issuer) throw new JwtProfileError('wrong_issuer', 'issuer not accepted');
  const aud = p.aud;
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === 'string') ? (aud as string[]) : undefined;
  if (auds === undefined || !auds.some((a) => o.audiences.includes(a))) throw new JwtProfileError('wrong_audience', 'audience not accepted');
  for (const c of ['exp', 'iat', 'nbf'] as const)
    if (p[c] !== undefined && (typeof p[c] !== 'number' || !Number.isFinite(p[c]))) throw new JwtProfileError('invalid_claim', `${c} must be a number`, { reason: `invalid_claim.${c}` });
  if (p.exp === undefined) throw new JwtProfileError('missing_claim', 'the introspection answer has no exp', { reason: 'missing_claim.exp' });
  if (!Number.isFinite(o.clockSkew) || o.clockSkew < 0) throw new TypeError('clockSkew must be a finite number of seconds >= 0');
  if ((p.exp as number) <= o.now - o.clockSkew) throw new JwtProfileError('expired', 'token is expired');
  if (typeof p.iat === 'number' && p.iat > o.now + o.clockSkew) throw new JwtProfileError('not_yet_valid', 'iat is in the future');
  if (typeof p.nbf === 'number' && p.nbf > o.now + o.clockSkew) throw new JwtProfileError('not_yet_valid', 'nbf is in the future');
  if (p.sub !== undefined && typeof p.sub !== 'string') throw new JwtProfileError('invalid_claim', 'sub must be a string', { reason: 'invalid_claim.sub' });
  if (p.token_type !== undefined && (typeof p.token_type !== 'string' || p.token_type.toLowerCase() !== 'bearer'))
    throw new JwtProfileError('invalid_claim', 'the introspected token is not a Bearer access token', { reason: 'invalid_claim.token_type' });
  if (p.cnf !== undefined) throw new JwtProfileError('invalid_claim', 'the introspected token is sender-constrained (cnf); its holder must present it', { reason: 'invalid_claim.cnf' });
}
