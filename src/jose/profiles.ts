import { errors, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { REQUIRED_TXN_CLAIMS, TXN_TOKEN_TYP, txnClaimsProblem, type TxnTokenClaims } from '../txn/index.js';
import { freezeJsonWithin, jsonDepth, MAX_TXN_TOKEN_DEPTH } from './json-bounds.js';
import { defaultJwsCrypto, isPromiseLike, JwsFormatError, parseCompactJws, verifyParsedJws, type JwsCrypto, type MaybePromise, type ParsedJws } from './jws.js';

/**
 * One validation profile per kind of JWT Baton meets. The profiles are mutually exclusive by `typ`, so that a
 * token of one kind is never accepted as another (V-03, RFC 8725 §3.11):
 *   Txn-Token            typ = txntoken+jwt exactly
 *   access token         typ from the issuer's list (RFC 9068: at+jwt); never txntoken+jwt
 *   ID token             typ absent or JWT
 *   client assertion     typ absent, JWT or client-authentication+jwt; iss = sub = client id
 *   self-signed subject  typ absent or JWT; iss = the workload, sub = the user (never the workload itself)
 * HMAC and `none` are never in an allow-list; keys come only from configured key sets (never jku/x5u/jwk).
 */

export type JwtErrorCode =
  | 'malformed'
  | 'bad_signature'
  | 'bad_algorithm'
  | 'unknown_kid'
  | 'wrong_type'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_claim'
  | 'invalid_claim'
  | 'key_unavailable';

/** The claims a profile checks by name. */
export type ClaimName = 'iss' | 'sub' | 'aud' | 'exp' | 'iat' | 'nbf' | 'jti' | 'txn' | 'scope' | 'req_wl' | 'act' | 'tctx' | 'rctx' | 'token_type' | 'cnf';

/**
 * Which check refused a JWT, as a stable code: the error code, or finer where the code covers several checks (which
 * claim is missing or invalid; an `aud` array where one string is required; a lifetime over the profile's bound;
 * nesting deeper than a verifier reads). Callers prefix it with where the JWT was met (`subject.`, `client.assertion.`).
 */
export type JwtReason =
  | Exclude<JwtErrorCode, 'missing_claim' | 'invalid_claim'>
  | 'audience_not_single'
  | 'lifetime_too_long'
  | 'too_deep'
  | `missing_claim.${ClaimName}`
  | `invalid_claim.${ClaimName}`;

export class JwtProfileError extends Error {
  readonly code: JwtErrorCode;
  /** which check refused the token (see JwtReason); never sent to the party that presented it */
  readonly reason: JwtReason;
  constructor(code: Exclude<JwtErrorCode, 'missing_claim' | 'invalid_claim'>, message: string, options?: { cause?: unknown; reason?: JwtReason });
  /** a claim code says which claim (or which bound) in `reason` */
  constructor(code: 'missing_claim' | 'invalid_claim', message: string, options: { cause?: unknown; reason: JwtReason });
  constructor(code: JwtErrorCode, message: string, options?: { cause?: unknown; reason?: JwtReason }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'JwtProfileError';
    this.code = code;
    this.reason = options?.reason ?? (code as JwtReason);
  }
}

const missing = (claim: ClaimName) => new JwtProfileError('missing_claim', `missing claim ${claim}`, { reason: `missing_claim.${claim}` });
const invalid = (claim: ClaimName, message: string) => new JwtProfileError('invalid_claim', message, { reason: `invalid_claim.${claim}` });

export interface VerifyCommon {
  getKey: JWTVerifyGetKey;
  algorithms: readonly string[];
  /** seconds of tolerated clock skew (V-05: at most 60, default 30) */
  clockSkew: number;
  /** for tests and benchmarks: the current time */
  currentDate?: Date;
  /** signature backend (default: the process default, see jws.ts) */
  crypto?: JwsCrypto;
}

/** A JWS `typ` compared as RFC 7515 §4.1.9 says: case-insensitive, `application/` prefix omitted. */
export function normTyp(t: unknown): string | undefined {
  if (typeof t !== 'string') return undefined;
  const l = t.toLowerCase();
  return l.startsWith('application/') ? l.slice('application/'.length) : l;
}

/** Errors from key selection (jose's JWKS getters): the token was parsed already, so anything else is the key set. */
function mapKeyError(e: unknown): JwtProfileError {
  if (e instanceof JwtProfileError) return e;
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys)
    return new JwtProfileError('unknown_kid', 'no key matches the token', { cause: e });
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported)
    return new JwtProfileError('bad_algorithm', 'algorithm or key not supported', { cause: e });
  // timeouts, fetch failures, non-200 answers, invalid key sets: the keys cannot be had now
  return new JwtProfileError('key_unavailable', 'key set unavailable', { cause: e });
}

interface Verified {
  payload: JWTPayload;
  kid: string | undefined;
}

/**
 * The checks every profile shares: parse, `typ`, `alg`, signature, claims. Synchronous when the key and the signature
 * backend answer at once (a key selected before, node:crypto), else a promise; throws or rejects with JwtProfileError.
 */
function verifyWith(
  token: string | ParsedJws,
  common: VerifyCommon,
  checkTyp: (typ: string | undefined) => boolean,
  typDescription: string,
  opts: ClaimChecks,
): MaybePromise<Verified> {
  let jws: ParsedJws;
  try {
    jws = typeof token === 'string' ? parseCompactJws(token, common.crypto ?? defaultJwsCrypto()) : token;
  } catch (e) {
    throw new JwtProfileError('malformed', e instanceof JwsFormatError ? e.message : 'malformed token', { cause: e });
  }
  const header = jws.header;
  // Refuse on type before any key is looked up: a token of another kind never reaches signature checks.
  if (!checkTyp(normTyp(header.typ))) throw new JwtProfileError('wrong_type', `typ must be ${typDescription}`);
  if (typeof header.alg !== 'string' || !common.algorithms.includes(header.alg)) throw new JwtProfileError('bad_algorithm', 'algorithm not allowed');
  let ok: MaybePromise<boolean>;
  try {
    ok = verifyParsedJws(jws, header.alg, common.getKey, common.crypto ?? defaultJwsCrypto());
  } catch (e) {
    throw mapKeyError(e);
  }
  if (isPromiseLike(ok))
    return ok.then(
      (valid) => signed(jws, valid, common, opts),
      (e: unknown) => {
        throw mapKeyError(e);
      },
    );
  return signed(jws, ok, common, opts);
}

/** After the signature check: the claims of a token whose signature holds. */
function signed(jws: ParsedJws, valid: boolean, common: VerifyCommon, opts: ClaimChecks): Verified {
  if (!valid) throw new JwtProfileError('bad_signature', 'signature verification failed');
  checkClaims(jws.payload, common, opts);
  const kid = jws.header.kid;
  return { payload: jws.payload as JWTPayload, kid: typeof kid === 'string' ? kid : undefined };
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

interface ClaimChecks {
  issuer?: string | readonly string[] | undefined;
  audience?: string | readonly string[] | undefined;
  /**
   * `aud` must be one string, never an array: for JWTs addressed to the TTS itself (client assertions, self-signed
   * subjects), the audience-injection fix of draft-ietf-oauth-rfc7523bis (T-08). An array naming the TTS next to
   * another party was signed for that party as much as for us.
   */
  singleAudience?: boolean;
  requiredClaims: readonly ClaimName[];
}

/** A claim every profile requires, missing: iss and aud say so as the issuer and audience checks do. */
function missingClaim(c: ClaimName): JwtProfileError {
  if (c === 'iss') return new JwtProfileError('wrong_issuer', 'issuer not accepted');
  if (c === 'aud') return new JwtProfileError('wrong_audience', 'audience not accepted');
  return missing(c);
}

function allows(allowed: string | readonly string[], v: string): boolean {
  return typeof allowed === 'string' ? v === allowed : allowed.includes(v);
}

function audienceAccepted(aud: unknown, allowed: string | readonly string[]): boolean {
  if (typeof aud === 'string') return allows(allowed, aud);
  if (!Array.isArray(aud) || !aud.every((a) => typeof a === 'string')) return false;
  return (aud as string[]).some((a) => allows(allowed, a));
}

const TIME_CLAIMS = ['iat', 'nbf', 'exp'] as const;

/** RFC 7519 §4.1 checks, in the order jose applies them, with `clockSkew` tolerance on time claims. */
function checkClaims(p: Record<string, unknown>, common: VerifyCommon, opts: ClaimChecks): void {
  // required claims first (in their order), then iss and aud when they are checked
  for (const c of opts.requiredClaims) if (p[c] === undefined) throw missingClaim(c);
  if (opts.issuer !== undefined && p.iss === undefined) throw missingClaim('iss');
  if (opts.audience !== undefined && p.aud === undefined) throw missingClaim('aud');
  if (opts.issuer !== undefined && (typeof p.iss !== 'string' || !allows(opts.issuer, p.iss))) throw new JwtProfileError('wrong_issuer', 'issuer not accepted');
  if (opts.audience !== undefined) {
    if (opts.singleAudience === true && typeof p.aud !== 'string') throw new JwtProfileError('wrong_audience', 'aud must be a single string, not an array', { reason: 'audience_not_single' });
    if (!audienceAccepted(p.aud, opts.audience)) throw new JwtProfileError('wrong_audience', 'audience not accepted');
  }
  const now = Math.floor((common.currentDate?.getTime() ?? Date.now()) / 1000);
  const skew = common.clockSkew;
  // fail closed: a NaN or negative tolerance would make every time comparison below false (an expired token accepted)
  if (typeof skew !== 'number' || !Number.isFinite(skew) || skew < 0) throw new TypeError('clockSkew must be a finite number of seconds >= 0');
  for (const c of TIME_CLAIMS)
    if (p[c] !== undefined && !isNumericDate(p[c])) throw invalid(c, `${c} must be a number`);
  if (p.sub !== undefined && typeof p.sub !== 'string') throw invalid('sub', 'sub must be a string');
  // an empty subject names nobody: no profile accepts it (a Txn-Token for sub "" is refused by every verifier)
  if (p.sub === '') throw invalid('sub', 'sub must not be empty');
  if (isNumericDate(p.iat) && p.iat > now + skew) throw new JwtProfileError('not_yet_valid', 'iat is in the future');
  if (isNumericDate(p.nbf) && p.nbf > now + skew) throw new JwtProfileError('not_yet_valid', 'nbf is in the future');
  if (isNumericDate(p.exp) && p.exp <= now - skew) throw new JwtProfileError('expired', 'token is expired');
}

export interface AccessTokenProfile extends VerifyCommon {
  issuer: string;
  audiences: readonly string[];
  /** accepted `typ` values; `null` accepts a token without `typ` (issuers that do not follow RFC 9068, e.g. Okta) */
  typ: readonly (string | null)[];
}

/** RFC 9068 JWT access token (T-09). */
export async function verifyAccessToken(token: string | ParsedJws, p: AccessTokenProfile): Promise<JWTPayload> {
  return checkAccessToken(token, p);
}

/**
 * `verifyAccessToken`'s check, answered synchronously when the key and the signature backend answer at once (a key
 * selected before, node:crypto): the exchange's path. Throws or rejects with JwtProfileError.
 */
export function checkAccessToken(token: string | ParsedJws, p: AccessTokenProfile): MaybePromise<JWTPayload> {
  const typ = acceptedTyp(p.typ);
  return payloadOf(verifyWith(token, p, typ.check, typ.description, { issuer: p.issuer, audience: p.audiences, requiredClaims: ACCESS_TOKEN_CLAIMS }));
}

function payloadOf(v: MaybePromise<Verified>): MaybePromise<JWTPayload> {
  return isPromiseLike(v) ? v.then((x) => x.payload) : v.payload;
}

const ACCESS_TOKEN_CLAIMS: readonly ClaimName[] = ['exp', 'sub'];
const ID_TOKEN_CLAIMS: readonly ClaimName[] = ['exp', 'sub', 'iat'];

/** The `typ` check of an issuer's accepted list, built once per list (an issuer's configuration holds one). */
interface TypCheck {
  readonly list: readonly (string | null)[];
  readonly check: (t: string | undefined) => boolean;
  readonly description: string;
}
const typChecks = new WeakMap<readonly (string | null)[], TypCheck>();
function acceptedTyp(list: readonly (string | null)[]): TypCheck {
  const c = typChecks.get(list);
  // built again when the array was changed since (the contents decide, not the array)
  if (c !== undefined && c.list.length === list.length && c.list.every((t, i) => t === list[i])) return c;
  const allowed = new Set(list.map((t) => (t === null ? undefined : normTyp(t))));
  const built: TypCheck = { list: [...list], check: (t) => t !== TXN_TOKEN_TYP && allowed.has(t), description: list.map((t) => t ?? '(absent)').join(' or ') };
  typChecks.set(list, built);
  return built;
}

/** OpenID Connect ID token used as a subject token. */
export async function verifyIdToken(token: string | ParsedJws, p: Omit<AccessTokenProfile, 'typ'>): Promise<JWTPayload> {
  return checkIdToken(token, p);
}

const isIdTokenTyp = (t: string | undefined) => t === undefined || t === 'jwt';

/** `verifyIdToken`'s check, synchronous when the key and the backend answer at once (see `checkAccessToken`). */
export function checkIdToken(token: string | ParsedJws, p: Omit<AccessTokenProfile, 'typ'>): MaybePromise<JWTPayload> {
  return payloadOf(verifyWith(token, p, isIdTokenTyp, 'JWT or absent', { issuer: p.issuer, audience: p.audiences, requiredClaims: ID_TOKEN_CLAIMS }));
}

export interface ClientAssertionProfile extends VerifyCommon {
  clientId: string;
  /** the TTS issuer (T-08) */
  audience: string;
  /** longest accepted `exp - now`, seconds (T-08: short) */
  maxLifetime: number;
}

/** RFC 7523 client assertion for private_key_jwt (T-08). The caller enforces `jti` single use. */
export async function verifyClientAssertion(token: string, p: ClientAssertionProfile): Promise<JWTPayload & { jti: string; exp: number }> {
  const { payload } = await verifyWith(
    token,
    p,
    (t) => t === undefined || t === 'jwt' || t === 'client-authentication+jwt',
    'JWT, client-authentication+jwt or absent',
    { issuer: p.clientId, audience: p.audience, singleAudience: true, requiredClaims: ['exp', 'jti', 'sub'] },
  );
  if (payload.sub !== p.clientId) throw invalid('sub', 'sub must equal the client id');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256)
    throw invalid('jti', 'jti must be a non-empty string');
  const now = Math.floor((p.currentDate?.getTime() ?? Date.now()) / 1000);
  const exp = payload.exp as number;
  if (exp - now > p.maxLifetime + p.clockSkew) throw new JwtProfileError('invalid_claim', `exp is more than ${p.maxLifetime} s ahead`, { reason: 'lifetime_too_long' });
  return payload as JWTPayload & { jti: string; exp: number };
}

export interface SelfSignedProfile extends VerifyCommon {
  clientId: string;
  audience: string;
  maxLifetime: number;
}

/** A subject asserted by the workload itself, signed with its own key (T-10). */
export async function verifySelfSigned(token: string, p: SelfSignedProfile): Promise<JWTPayload & { sub: string }> {
  const { payload } = await verifyWith(token, p, (t) => t === undefined || t === 'jwt', 'JWT or absent', {
    issuer: p.clientId,
    audience: p.audience,
    singleAudience: true,
    requiredClaims: ['sub', 'iat', 'exp'],
  });
  if (payload.sub === p.clientId) throw invalid('sub', 'a self-signed subject must name a user, not the workload');
  const now = Math.floor((p.currentDate?.getTime() ?? Date.now()) / 1000);
  if ((payload.exp as number) - now > p.maxLifetime + p.clockSkew)
    throw new JwtProfileError('invalid_claim', `exp is more than ${p.maxLifetime} s ahead`, { reason: 'lifetime_too_long' });
  return payload as JWTPayload & { sub: string };
}

export interface TxnTokenProfile extends VerifyCommon {
  /** accepted trust domains (V-04) */
  audiences: readonly string[];
  /** when set, `iss` must equal it (V-07) */
  issuer?: string | undefined;
  /** answer the claims deeply frozen (frozen in the walk that bounds their depth): what a verifier's context holds */
  freeze?: boolean | undefined;
}

/**
 * A Txn-Token as every receiving service must check it (V-02..V-07, T-22). The one check of a Txn-Token: the
 * verifier (`baton/verify`) and the TTS (replacement R-01, revocation by token) both call it, so the TTS never
 * accepts for replacement a token a receiving service would refuse.
 */
export async function verifyTxnToken(token: string, p: TxnTokenProfile): Promise<{ claims: TxnTokenClaims; kid: string | undefined }> {
  return checkTxnToken(token, p);
}

const isTxnTyp = (t: string | undefined) => t === TXN_TOKEN_TYP;

/**
 * `verifyTxnToken`'s check, answered synchronously when the key and the signature backend answer at once (a key
 * selected before, node:crypto): the verifier's fresh path. Throws or rejects with JwtProfileError.
 */
export function checkTxnToken(token: string, p: TxnTokenProfile): MaybePromise<{ claims: TxnTokenClaims; kid: string | undefined }> {
  const v = verifyWith(token, p, isTxnTyp, TXN_TOKEN_TYP, { issuer: p.issuer, audience: p.audiences, requiredClaims: REQUIRED_TXN_CLAIMS });
  const freeze = p.freeze === true;
  return isPromiseLike(v) ? v.then((x) => txnClaims(x, freeze)) : txnClaims(v, freeze);
}

function txnClaims({ payload, kid }: Verified, freeze: boolean): { claims: TxnTokenClaims; kid: string | undefined } {
  // before anything walks the claims recursively (freezing, cloning, re-signing on replacement)
  const problem = txnClaimsProblem(payload as Record<string, unknown>);
  if (problem !== undefined && problem.claim !== 'act') throw invalid(problem.claim, problem.message);
  if ((freeze ? freezeJsonWithin(payload, MAX_TXN_TOKEN_DEPTH) : jsonDepth(payload, MAX_TXN_TOKEN_DEPTH)) > MAX_TXN_TOKEN_DEPTH)
    throw new JwtProfileError('invalid_claim', `claims are nested deeper than ${MAX_TXN_TOKEN_DEPTH} levels`, { reason: 'too_deep' });
  if (problem !== undefined) throw invalid(problem.claim, problem.message);
  return { claims: payload as TxnTokenClaims, kid };
}
