import type { JWTPayload } from 'jose';
import { ASYMMETRIC_ALGS } from '../config/schema.js';
import { jsonDepth, jsonWithin, MAX_JSON_DEPTH } from '../jose/json-bounds.js';
import { isPromiseLike, parseCompactJws, type JwsCrypto, type ParsedJws } from '../jose/jws.js';
import { checkAccessToken, checkIdToken, JwtProfileError, normTyp, verifySelfSigned, type AccessTokenProfile } from '../jose/index.js';
import { readAct, readScopeClaim, TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_JWT, TT_SELF_SIGNED, TT_UNSIGNED_JSON, TXN_TOKEN_TYP, type ActClaim, type SubjectTokenType } from '../txn/index.js';
import { attributesOfClaims, placeholderClient, rolesOfClaims, scopesOfClaims, subjectOf, unmetRequiredClaim } from './claims.js';
import type { Workload } from './client-auth.js';
import { DiscoveryUnavailable } from './discovery.js';
import { OAuthError, invalidRequest, unavailable } from './errors.js';
import { checkIntrospectedClaims, IntrospectionUnavailable } from './introspection.js';
import { discoveryFailed, type TrustedIssuer } from './trusted-issuer.js';

export { prepareIssuer, type TrustedIssuer } from './trusted-issuer.js';

/** What the TTS knows of the user after validating the subject token. */
export interface Subject {
  readonly sub: string;
  /** the scopes the subject token grants, before implications (T-12); never empty */
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly attr: Readonly<Record<string, unknown>>;
  /** an `act` chain already in the subject token (an agent acting for the user): kept below the workload (T-22) */
  readonly act: ActClaim | undefined;
  /** how the user authenticated (RFC 8176 amr), for `rctx.authn` */
  readonly authn: string | string[] | undefined;
  /** the subject token's own expiry: a Txn-Token never outlives it */
  readonly exp: number | undefined;
  readonly kind: 'access_token' | 'id_token' | 'self_signed' | 'unsigned';
  readonly issuer: string | undefined;
}

export interface SubjectContext {
  issuers: ReadonlyMap<string, TrustedIssuer>;
  /** the TTS issuer: `aud` of self-signed subjects */
  ttsIssuer: string;
  clockSkew: number;
  /** bound of what is copied from the subject token into the Txn-Token (`maxSubjectClaimsBytes`) */
  maxClaimsBytes: number;
  currentDate?: () => Date;
  /** the signature backend for this verification (default: the process default, see jws.ts) */
  crypto?: JwsCrypto;
}

function rolesOf(claims: Record<string, unknown>, cfg: { rolesClaim?: string | undefined; defaultRoles: readonly string[] }): string[] {
  if (cfg.rolesClaim !== undefined) {
    const v = claims[cfg.rolesClaim];
    // a blank string names no role, like an empty list: defaultRoles then (never a principal without roles)
    const r = typeof v === 'string' ? v.split(' ') : Array.isArray(v) ? v : [];
    const roles = r.filter((s): s is string => typeof s === 'string' && s.length > 0);
    if (roles.length > 0) return roles;
  }
  return [...cfg.defaultRoles];
}

function attrsOf(claims: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) if (claims[n] !== undefined) out[n] = claims[n];
  return out;
}

function audiences(p: Record<string, unknown>): string[] {
  const aud = p.aud;
  return typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function mayActNames(p: Record<string, unknown>, clientId: string): boolean {
  const m = p.may_act;
  return m !== null && typeof m === 'object' && !Array.isArray(m) && (m as { sub?: unknown }).sub === clientId;
}

function actOf(p: Record<string, unknown>): ActClaim | undefined {
  const act = readAct(p);
  if (act === 'invalid') throw invalidRequest('subject.act_invalid', 'subject token act claim is malformed');
  return act;
}

const REFUSED: Partial<Record<JwtProfileError['code'], string>> = {
  expired: 'subject token is expired',
  wrong_audience: 'subject token audience is not accepted',
  wrong_issuer: 'subject token issuer is not accepted',
  bad_signature: 'subject token signature is invalid',
  bad_algorithm: 'subject token algorithm is not allowed',
  unknown_kid: 'subject token key is unknown',
  not_yet_valid: 'subject token is not yet valid',
};

/** A subject token its profile refused: `invalid_request` naming the check, 503 when the issuer's keys cannot be had. */
function rejected(e: unknown): OAuthError {
  if (!(e instanceof JwtProfileError)) return invalidRequest('subject.malformed', 'subject token rejected', e);
  const reason = `subject.${e.reason}` as const;
  if (e.code === 'key_unavailable') return unavailable(reason, 'the subject issuer key set cannot be fetched now', e);
  if (e.code === 'wrong_type') return invalidRequest(reason, `subject token type header not accepted (${e.message})`, e);
  return invalidRequest(reason, REFUSED[e.code] ?? `subject token rejected: ${e.message}`, e);
}

/** Longest accepted `sub` (RFC 7519 sets none; 1024 characters holds every real identifier). */
export const MAX_SUB_CHARS = 1024;

/** What T-11 looks at: to whom the subject token was issued. */
interface Entitlement {
  /** the token's `aud` values (an IdP token) */
  readonly audiences: readonly string[];
  /** whether the token's `may_act` names the workload */
  readonly mayAct: boolean;
}

/**
 * Validates the subject token fully for its type (T-09, T-10), then, whatever the type, the checks no kind of
 * subject may skip: the workload is entitled to present it (T-11), `sub` names someone (not empty, bounded), and
 * what will be copied into the Txn-Token is bounded in depth and size.
 * Refusals are `invalid_request` (RFC 8693 §2.2.2); nothing from the token is echoed.
 */
export async function validateSubject(ctx: SubjectContext, workload: Workload, token: string, type: SubjectTokenType, parsed?: ParsedJws): Promise<Subject> {
  const { subject, entitlement } = await validateSubjectOfType(ctx, workload, token, type, parsed);
  checkEntitled(workload, subject.kind, entitlement);
  if (subject.sub.length === 0) throw invalidRequest('subject.sub_empty', 'the subject token has an empty sub');
  if (subject.sub.length > MAX_SUB_CHARS) throw invalidRequest('subject.sub_too_long', `the subject's sub is longer than ${MAX_SUB_CHARS} characters`);
  boundCopiedClaims(subject, ctx.maxClaimsBytes);
  return subject;
}

/**
 * T-11: the workload must be entitled to present this subject. An IdP token must have been issued to the workload
 * (its `aud` is one the workload is registered for) or name it in `may_act`. A subject the workload asserts itself is
 * addressed to this TTS (checked by its profile), and the workload's registration for it is the configuration's
 * explicit opt-in: `allowSelfSignedSubject` / `allowUnsignedSubject` (T-10).
 */
function checkEntitled(workload: Workload, kind: Subject['kind'], e: Entitlement): void {
  switch (kind) {
    case 'access_token':
    case 'id_token':
      if (e.audiences.some((a) => workload.config.subjectAudiences.includes(a)) || e.mayAct) return;
      throw invalidRequest('subject.not_entitled', 'this workload may not exchange a subject token with this audience');
    case 'self_signed':
      if (workload.config.allowSelfSignedSubject) return;
      throw invalidRequest('subject.self_signed_not_allowed', 'this workload may not present a self-signed subject (allowSelfSignedSubject is off)');
    case 'unsigned':
      if (workload.config.allowUnsignedSubject) return;
      throw invalidRequest('subject.unsigned_not_allowed', 'this workload may not present an unsigned subject');
  }
}

/** Finding 4 of issue 10: a claim nested thousands of levels deep once overflowed the stack at minting (a 500). */
function boundCopiedClaims(s: Subject, maxBytes: number): void {
  tooDeep('roles', s.roles);
  tooDeep('act', s.act);
  tooDeep('amr', s.authn);
  for (const k of Object.keys(s.attr)) if (deeper(s.attr[k])) tooDeep(`principal attribute ${k}`, s.attr[k]);
  if (!jsonWithin({ roles: s.roles, attr: s.attr, act: s.act, authn: s.authn }, maxBytes))
    throw invalidRequest('subject.claims_too_large', `the claims copied from the subject token (roles, principal attributes, act, amr) exceed ${maxBytes} bytes`);
}

/** Whether a copied claim is nested deeper than MAX_JSON_DEPTH (a scalar never is). */
function deeper(v: unknown): boolean {
  return v !== null && typeof v === 'object' && jsonDepth(v, MAX_JSON_DEPTH) > MAX_JSON_DEPTH;
}

/** Refuses a copied claim nested deeper than MAX_JSON_DEPTH, naming it. */
function tooDeep(what: string, v: unknown): void {
  if (deeper(v)) throw invalidRequest('subject.claims_too_deep', `the subject token's ${what} is nested deeper than ${MAX_JSON_DEPTH} levels`);
}

interface Validated {
  subject: Subject;
  entitlement: Entitlement;
}

/**
 * The subject token of an issuer (access token, JWT, ID token) parsed as a compact JWS, not verified, or undefined
 * (another type, or not a JWS): parsed once per exchange, for the limits' early count and for `validateSubject`.
 */
export function parseIssuedSubject(token: string, type: string): ParsedJws | undefined {
  if (type !== TT_ACCESS_TOKEN && type !== TT_JWT && type !== TT_ID_TOKEN) return undefined;
  try {
    return parseCompactJws(token);
  } catch {
    return undefined;
  }
}

function validateSubjectOfType(ctx: SubjectContext, workload: Workload, token: string, type: SubjectTokenType, parsed: ParsedJws | undefined): Promise<Validated> {
  const now = ctx.currentDate?.() ?? new Date();
  switch (type) {
    case TT_ACCESS_TOKEN:
    case TT_JWT:
    case TT_ID_TOKEN:
      return issuedSubject(ctx, workload, token, type, now, parsed);
    case TT_SELF_SIGNED:
      return selfSignedSubject(ctx, workload, token, now);
    case TT_UNSIGNED_JSON:
      return Promise.resolve(unsignedSubject(workload, token));
    default:
      throw invalidRequest('subject.type_unsupported', 'subject_token_type is not supported here');
  }
}

/**
 * An access token or ID token of a trusted issuer (T-09): parsed once; the unverified iss only picks the issuer whose
 * keys then decide. A token that is not a JWT is an opaque access token, read through the introspection endpoint of
 * the issuer the workload is registered with (RFC 7662).
 */
async function issuedSubject(ctx: SubjectContext, workload: Workload, token: string, type: SubjectTokenType, now: Date, parsed: ParsedJws | undefined): Promise<Validated> {
  let jws: ParsedJws;
  try {
    jws = parsed ?? parseCompactJws(token);
  } catch (e) {
    const introspecting = type === TT_ACCESS_TOKEN ? introspectingIssuer(ctx, workload) : undefined;
    if (introspecting !== undefined) return introspectedSubject(ctx, introspecting, workload, token, now);
    throw invalidRequest('subject.not_jwt', 'subject token is not a JWT', e);
  }
  // T-15/V-03: a Txn-Token is never an access or ID token, whoever issued it; refused on its typ before the
  // issuer is looked up (a TTS that is also configured as a subject issuer changes nothing).
  if (normTyp(jws.header.typ) === TXN_TOKEN_TYP)
    throw invalidRequest('subject.wrong_type', 'subject token rejected: typ txntoken+jwt is a Txn-Token, never an access or ID token (present it as urn:ietf:params:oauth:token-type:txn_token)');
  const iss = typeof jws.payload.iss === 'string' ? jws.payload.iss : undefined;
  if (iss === undefined) throw invalidRequest('subject.no_iss', 'subject token is not a JWT with an iss claim');
  const ti = ctx.issuers.get(iss);
  if (ti === undefined) throw invalidRequest('subject.issuer_untrusted', 'subject token issuer is not trusted');
  const idToken = type === TT_ID_TOKEN;
  if (idToken && ti.config.idTokenAudiences.length === 0) throw invalidRequest('subject.id_token_not_accepted', 'ID tokens are not accepted from this issuer');
  if (ti.metadata !== undefined) await ti.ready(); // discovered keys (503 naming the reason when discovery fails)
  const c = ti.config;
  const profile: AccessTokenProfile = { getKey: ti.getKey, algorithms: c.algorithms, clockSkew: ctx.clockSkew, issuer: c.issuer, currentDate: now, audiences: idToken ? c.idTokenAudiences : c.audiences, typ: c.typ };
  if (ctx.crypto !== undefined) profile.crypto = ctx.crypto;
  let payload: JWTPayload;
  try {
    const checked = idToken ? checkIdToken(jws, profile) : checkAccessToken(jws, profile);
    payload = isPromiseLike(checked) ? await checked : checked;
  } catch (e) {
    throw rejected(e);
  }
  const claims = payload as Record<string, unknown>;
  return { subject: subjectFromClaims(ti, workload, claims, idToken ? 'id_token' : 'access_token'), entitlement: entitlementOf(claims, workload) };
}

/** A subject signed by the workload's own key (T-10). */
async function selfSignedSubject(ctx: SubjectContext, workload: Workload, token: string, now: Date): Promise<Validated> {
  if (workload.getKey === undefined) throw invalidRequest('subject.no_keys', 'this workload has no keys to sign a self-signed subject');
  let payload: JWTPayload & { sub: string };
  try {
    payload = await verifySelfSigned(token, {
      getKey: workload.getKey,
      algorithms: ASYMMETRIC_ALGS,
      clockSkew: ctx.clockSkew,
      clientId: workload.id,
      audience: ctx.ttsIssuer,
      maxLifetime: 300,
      currentDate: now,
      ...(ctx.crypto !== undefined ? { crypto: ctx.crypto } : {}),
    });
  } catch (e) {
    throw rejected(e);
  }
  const claims = payload as Record<string, unknown>;
  // T-22: earlier hops come from an IdP-issued token or a Txn-Token, never from the workload's own assertion
  // (it would let a workload forge the chain, e.g. claim it was called through another workload)
  if (claims.act !== undefined) throw invalidRequest('subject.self_signed_act', 'a self-signed subject cannot carry act: the workload chain is attested by the TTS');
  return { subject: asserted(claims, payload.sub, workload, 'self_signed', payload.exp), entitlement: NO_AUDIENCE };
}

/** A subject given as a JSON object (T-10: only for workloads configured for it). */
function unsignedSubject(workload: Workload, token: string): Validated {
  let v: unknown;
  try {
    v = JSON.parse(token);
  } catch {
    throw invalidRequest('subject.unsigned_not_object', 'the unsigned subject must be a JSON object');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidRequest('subject.unsigned_not_object', 'the unsigned subject must be a JSON object');
  const claims = v as Record<string, unknown>;
  if (typeof claims.sub !== 'string' || claims.sub.length === 0) throw invalidRequest('subject.unsigned_no_sub', 'the unsigned subject must carry sub');
  return { subject: asserted(claims, claims.sub, workload, 'unsigned', undefined), entitlement: NO_AUDIENCE };
}

const NO_AUDIENCE: Entitlement = { audiences: [], mayAct: false };

/** T-11's view of an IdP token: its audiences and whether its may_act names the workload. */
function entitlementOf(claims: Record<string, unknown>, workload: Workload): Entitlement {
  return { audiences: audiences(claims), mayAct: mayActNames(claims, workload.id) };
}

/**
 * The subject from validated claims of a configured issuer (a verified JWT, or an active introspection answer whose
 * iss/aud/exp were checked): required claim values, then the claim mapping (claims.ts). T-11 is validateSubject's.
 */
function subjectFromClaims(ti: TrustedIssuer, workload: Workload, claims: Record<string, unknown>, kind: 'access_token' | 'id_token'): Subject {
  const c = ti.config;
  const client = placeholderClient(ti.mapping, workload.id);
  const unmet = unmetRequiredClaim(claims, ti.mapping, client);
  if (unmet !== undefined) throw invalidRequest('subject.required_claim', `the subject token's ${unmet} claim does not have a required value`);
  const sub = subjectOf(claims, ti.mapping, client);
  if (sub === undefined) throw invalidRequest('subject.no_sub', 'the subject token names no subject (sub)');
  // T-13: an access token's scope is its own claim (scopeClaim); an ID token's is the issuer's configured
  // idTokenScopes and nothing else (an ID token's own `scope` claim is not an authorization: T-13 names the source).
  const scopes = kind === 'id_token' ? [...c.idTokenScopes] : scopesOfClaims(claims, ti.mapping, client);
  if (scopes === undefined || scopes.length === 0)
    throw invalidRequest('subject.no_scope', kind === 'id_token' ? 'ID tokens of this issuer grant no scope (idTokenScopes is empty; T-13)' : 'the subject token carries no scope; unknown scope is never granted (T-13)');
  const exp = claims.exp;
  return {
    sub,
    scopes,
    roles: rolesOfClaims(claims, ti.mapping, client),
    attr: attributesOfClaims(claims, ti.mapping, client),
    act: actOf(claims),
    authn: amrOf(claims),
    exp: typeof exp === 'number' ? exp : undefined,
    kind,
    issuer: c.issuer,
  };
}

/**
 * The issuer an opaque subject token of this workload is sent to: the one introspecting issuer whose audiences the
 * workload is registered for (the configuration never allows two; see schema.ts). A token is never sent elsewhere.
 */
function introspectingIssuer(ctx: SubjectContext, workload: Workload): TrustedIssuer | undefined {
  for (const ti of ctx.issuers.values())
    if (ti.introspector !== undefined && ti.config.audiences.some((a) => workload.config.subjectAudiences.includes(a))) return ti;
  return undefined;
}

/** An opaque access token (T-09 through RFC 7662): active, then iss/aud/exp/iat/nbf checked as a JWT's would be. */
async function introspectedSubject(ctx: SubjectContext, ti: TrustedIssuer, workload: Workload, token: string, now: Date): Promise<Validated> {
  let answer;
  try {
    answer = await ti.introspector!.introspect(token);
  } catch (e) {
    if (e instanceof DiscoveryUnavailable) throw discoveryFailed(e);
    const why = e instanceof IntrospectionUnavailable ? e.message : 'introspection failed';
    throw unavailable('subject.introspection_unavailable', `the subject token cannot be introspected now: ${why}`, e);
  }
  if (!answer.active) throw invalidRequest('subject.inactive', 'subject token is not active (introspection)');
  try {
    checkIntrospectedClaims(answer.claims, { issuer: ti.config.issuer, audiences: ti.config.audiences, clockSkew: ctx.clockSkew, now: Math.floor(now.getTime() / 1000) });
  } catch (e) {
    throw rejected(e);
  }
  const claims = { ...answer.claims };
  return { subject: subjectFromClaims(ti, workload, claims, 'access_token'), entitlement: entitlementOf(claims, workload) };
}

/**
 * A subject the workload asserts itself (self-signed or unsigned). Its scope is what it asserts (bounded later by the
 * workload's ceiling and policy); none is refused (T-13, draft -10: a subject whose scope cannot be determined MUST
 * be rejected). Roles and attributes come only from the workload's `assertedSubject` configuration (T-10).
 */
function asserted(claims: Record<string, unknown>, sub: string, workload: Workload, kind: 'self_signed' | 'unsigned', exp: number | undefined): Subject {
  const scopes = readScopeClaim(claims, 'scope');
  if (scopes === undefined || scopes.length === 0) throw invalidRequest('subject.no_scope', `the ${kind === 'unsigned' ? 'unsigned' : 'self-signed'} subject carries no scope (T-13)`);
  const cfg = workload.config.assertedSubject;
  return { sub, scopes, roles: rolesOf(claims, cfg), attr: attrsOf(claims, cfg.principalAttributes), act: undefined, authn: kind, exp, kind, issuer: kind === 'self_signed' ? workload.id : undefined };
}
function amrOf(claims: Record<string, unknown>): string | string[] | undefined {
  const amr = claims.amr;
  if (Array.isArray(amr) && amr.every((a) => typeof a === 'string')) return amr as string[];
  return undefined;
}
