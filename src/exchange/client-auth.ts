import { base64url, type JWTVerifyGetKey } from 'jose';
import type { ClientConfig } from '../config/schema.js';
import { ASYMMETRIC_ALGS } from '../config/schema.js';
import { JwtProfileError, keySource, verifyClientAssertion } from '../jose/index.js';
import { sha256 } from '../jose/sha256.js';
import type { Store } from '../store/types.js';
import { StoreUnavailableError } from '../store/types.js';
import { OAuthError, invalidClient, invalidRequest, unavailable, type RefusalReason } from './errors.js';
import { CLIENT_ASSERTION_JWT, peekClaims } from '../txn/index.js';
import type { ClientCredentialsForm } from './request.js';

/** A configured workload, prepared once at startup: key getter built, secret digested. */
export interface Workload {
  readonly config: ClientConfig;
  readonly id: string;
  /** the workload's own keys (private_key_jwt assertions and self-signed subjects) */
  readonly getKey: JWTVerifyGetKey | undefined;
  readonly secretDigest: Uint8Array | undefined;
}

const enc = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

function digest(s: string): Uint8Array {
  return sha256(enc.encode(s));
}

/** The digest of a `sha256:<base64url>` secret (padding tolerated), or undefined when it is not base64url. */
function decodeDigest(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(s)) return undefined;
  try {
    return base64url.decode(s.replace(/=+$/, ''));
  } catch {
    return undefined;
  }
}

/** Constant-time comparison of two digests (same length by construction). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export async function prepareWorkload(config: ClientConfig): Promise<Workload> {
  let secretDigest: Uint8Array | undefined;
  if (config.secret !== undefined) {
    if (config.secret.startsWith('sha256:')) {
      const d = decodeDigest(config.secret.slice(7));
      if (d === undefined || d.length !== 32) throw new Error(`client ${config.id}: secret sha256: must be 32 bytes in base64url`);
      secretDigest = d;
    } else {
      secretDigest = digest(config.secret);
    }
  }
  const getKey = config.jwks !== undefined || config.jwksUri !== undefined ? keySource(config) : undefined;
  return { config, id: config.id, getKey, secretDigest };
}

/** `sha256:<base64url>` form of a secret, for configuration files that must not hold the secret itself. */
export async function hashSecret(secret: string): Promise<string> {
  return `sha256:${base64url.encode(digest(secret))}`;
}

export interface ClientAuthContext {
  workloads: ReadonlyMap<string, Workload>;
  issuer: string;
  store: Store;
  clockSkew: number;
  /** longest accepted client-assertion lifetime, seconds (T-08: 5 minutes) */
  maxAssertionLifetime?: number;
  currentDate?: () => Date;
}

function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

/** RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`. */
function parseBasic(header: string): { id: string; secret: string } {
  const m = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  if (m === null) throw invalidClient('client.basic_malformed', 'malformed Basic authorization');
  let decoded: string;
  try {
    const binary = atob(m[1]!);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    decoded = utf8.decode(bytes);
  } catch {
    throw invalidClient('client.basic_malformed', 'malformed Basic authorization');
  }
  const i = decoded.indexOf(':');
  if (i < 0) throw invalidClient('client.basic_malformed', 'malformed Basic authorization');
  try {
    return { id: formDecode(decoded.slice(0, i)), secret: formDecode(decoded.slice(i + 1)) };
  } catch {
    throw invalidClient('client.basic_malformed', 'malformed Basic authorization');
  }
}

/**
 * `Authorization: Basic` headers that authenticated, per set of prepared workloads (a reload prepares a new set, so
 * a changed secret is never answered from here): the same header again is the same workload, without decoding and
 * hashing it again (a workload sends the same header on every request). Only headers that passed are kept, so a
 * header answered from here is one that would pass anyway: a refusal still decodes and hashes, and costs the same
 * whether the client is unknown or its secret wrong. Bounded: emptied when full.
 */
const authenticatedBasic = new WeakMap<ReadonlyMap<string, Workload>, Map<string, Workload>>();
const MAX_AUTHENTICATED_BASIC = 256;

function rememberBasic(workloads: ReadonlyMap<string, Workload>, header: string, w: Workload): void {
  let m = authenticatedBasic.get(workloads);
  if (m === undefined) authenticatedBasic.set(workloads, (m = new Map()));
  if (m.size >= MAX_AUTHENTICATED_BASIC) m.clear();
  m.set(header, w);
}

const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="baton"' };
/** The same answer whether the client is unknown or its credential wrong (T-08); only the reason, logged, tells them apart. */
const unknownOrWrong = (reason: RefusalReason, challenge: boolean) =>
  new OAuthError('invalid_client', 'client authentication failed', { reason, headers: challenge ? BASIC_CHALLENGE : {} });

/**
 * Authenticates the requesting workload (T-08): exactly one of client_secret_basic, client_secret_post,
 * private_key_jwt; the method must be the one configured for the client. Failure is `invalid_client` (401),
 * with the same description whether the client is unknown or the credential wrong.
 */
export async function authenticateClient(
  ctx: ClientAuthContext,
  authorization: string | undefined,
  form: ClientCredentialsForm,
): Promise<Workload> {
  const usesBasic = authorization !== undefined && authorization.length > 0;
  const usesPost = form.clientSecret !== undefined;
  const usesJwt = form.clientAssertion !== undefined || form.clientAssertionType !== undefined;
  const count = Number(usesBasic) + Number(usesPost) + Number(usesJwt);
  if (count > 1) throw invalidRequest('client.auth_multiple', 'more than one client authentication method was used');
  if (count === 0) throw new OAuthError('invalid_client', 'client authentication is required', { reason: 'client.auth_missing', headers: BASIC_CHALLENGE });

  if (usesBasic) {
    if (!/^Basic /i.test(authorization!))
      throw new OAuthError('invalid_client', 'only Basic client authentication is accepted in Authorization', { reason: 'client.authorization_scheme', headers: BASIC_CHALLENGE });
    const known = authenticatedBasic.get(ctx.workloads)?.get(authorization!);
    if (known !== undefined && (form.clientId === undefined || form.clientId === known.id)) return known;
    const { id, secret } = parseBasic(authorization!);
    if (form.clientId !== undefined && form.clientId !== id) throw invalidRequest('client.id_mismatch', 'client_id does not match the authenticated client');
    const w = await checkSecret(ctx, id, secret, 'client_secret_basic');
    rememberBasic(ctx.workloads, authorization!, w);
    return w;
  }
  if (usesPost) {
    if (form.clientId === undefined) throw invalidClient('client.id_missing', 'client_id is required with client_secret');
    return checkSecret(ctx, form.clientId, form.clientSecret!, 'client_secret_post');
  }
  return checkAssertion(ctx, form);
}

async function checkSecret(ctx: ClientAuthContext, id: string, secret: string, method: 'client_secret_basic' | 'client_secret_post'): Promise<Workload> {
  const w = ctx.workloads.get(id);
  // Always hash, so that an unknown client costs the same as a wrong secret.
  const presented = digest(secret);
  const challenge = method === 'client_secret_basic';
  if (w === undefined || w.secretDigest === undefined || w.config.auth !== method) {
    timingSafeEqual(presented, presented);
    throw unknownOrWrong(w === undefined ? 'client.unknown' : 'client.method_mismatch', challenge);
  }
  if (!timingSafeEqual(presented, w.secretDigest)) throw unknownOrWrong('client.secret_mismatch', challenge);
  return w;
}

async function checkAssertion(ctx: ClientAuthContext, form: ClientCredentialsForm): Promise<Workload> {
  if (form.clientAssertionType !== CLIENT_ASSERTION_JWT) throw invalidClient('client.assertion_type', `client_assertion_type must be ${CLIENT_ASSERTION_JWT}`);
  const assertion = form.clientAssertion;
  if (assertion === undefined || assertion.length === 0) throw invalidClient('client.assertion_missing', 'client_assertion is required');
  if (assertion.length > 8192) throw invalidClient('client.assertion_too_large', 'client_assertion is too large');
  // The client is named by the assertion's iss (and client_id when sent); the signature decides.
  const iss = peekClaims(assertion)?.iss;
  if (typeof iss !== 'string') throw invalidClient('client.assertion_malformed', 'client_assertion is malformed');
  if (form.clientId !== undefined && form.clientId !== iss) throw invalidClient('client.assertion_id_mismatch', 'client_id does not match the client assertion');
  const w = ctx.workloads.get(iss);
  if (w === undefined || w.config.auth !== 'private_key_jwt' || w.getKey === undefined) throw unknownOrWrong(w === undefined ? 'client.unknown' : 'client.method_mismatch', false);
  const now = ctx.currentDate?.() ?? new Date();
  let claims: { jti: string; exp: number };
  try {
    claims = await verifyClientAssertion(assertion, {
      getKey: w.getKey,
      algorithms: ASYMMETRIC_ALGS,
      clockSkew: ctx.clockSkew,
      clientId: w.id,
      audience: ctx.issuer,
      maxLifetime: ctx.maxAssertionLifetime ?? 300,
      currentDate: now,
    });
  } catch (e) {
    if (!(e instanceof JwtProfileError)) throw new OAuthError('invalid_client', 'client assertion rejected', { reason: 'client.assertion.malformed', cause: e });
    if (e.code === 'key_unavailable') throw unavailable(`client.assertion.${e.reason}`, 'the client key set cannot be fetched now', e);
    throw new OAuthError('invalid_client', `client assertion rejected: ${e.message}`, { reason: `client.assertion.${e.reason}`, cause: e });
  }
  const ttlMs = Math.max(1, claims.exp - Math.floor(now.getTime() / 1000) + ctx.clockSkew) * 1000;
  let first: boolean;
  try {
    first = await ctx.store.useOnce('client_assertion', `${w.id}\u0000${claims.jti}`, ttlMs);
  } catch (e) {
    if (e instanceof StoreUnavailableError) throw unavailable('client.replay_check_unavailable', 'replay check unavailable; retry later', e);
    throw e;
  }
  if (!first) throw invalidClient('client.assertion_replayed', 'client assertion was already used (jti replay)');
  return w;
}
