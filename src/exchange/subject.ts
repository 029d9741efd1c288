import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { SubjectIssuerConfig } from '../config/schema.js';
import { ASYMMETRIC_ALGS } from '../config/schema.js';
import { parseCompactJws, type ParsedJws } from '../jose/jws.js';
import { JwtProfileError, keySource, verifyAccessToken, verifyIdToken, verifySelfSigned, type ActClaim } from '../jose/index.js';
import type { Workload } from './client-auth.js';
import { OAuthError, invalidRequest } from './errors.js';
import { TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_JWT, TT_SELF_SIGNED, TT_UNSIGNED_JSON, type SubjectTokenType } from './request.js';

export interface TrustedIssuer {
  readonly config: SubjectIssuerConfig;
  readonly getKey: JWTVerifyGetKey;
}

export function prepareIssuer(config: SubjectIssuerConfig): TrustedIssuer {
  return { config, getKey: keySource(config) };
}

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
  currentDate?: () => Date;
}

/** Scope from the configured claim (space-delimited string) or an `scp` array/string. Undefined when absent. */
export function scopesOf(claims: Record<string, unknown>, scopeClaim: string): string[] | undefined {
  for (const name of [scopeClaim, 'scp']) {
    const v = claims[name];
    if (typeof v === 'string') return v.split(' ').filter((s) => s.length > 0);
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return (v as string[]).filter((s) => s.length > 0);
  }
  return undefined;
}

function rolesOf(claims: Record<string, unknown>, cfg: { rolesClaim?: string | undefined; defaultRoles: readonly string[] }): string[] {
  if (cfg.rolesClaim !== undefined) {
    const v = claims[cfg.rolesClaim];
    if (typeof v === 'string' && v.length > 0) return v.split(' ').filter((s) => s.length > 0);
    if (Array.isArray(v)) {
      const r = v.filter((s): s is string => typeof s === 'string' && s.length > 0);
      if (r.length > 0) return r;
    }
  }
  return [...cfg.defaultRoles];
}

function attrsOf(claims: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) if (claims[n] !== undefined) out[n] = claims[n];
  return out;
}

function audiences(p: JWTPayload): string[] {
  return p.aud === undefined ? [] : Array.isArray(p.aud) ? p.aud : [p.aud];
}

function mayActNames(p: JWTPayload, clientId: string): boolean {
  const m = p.may_act;
  return m !== null && typeof m === 'object' && !Array.isArray(m) && (m as { sub?: unknown }).sub === clientId;
}

function actOf(p: Record<string, unknown>): ActClaim | undefined {
  const a = p.act;
  if (a === undefined) return undefined;
  const ok = (v: unknown, d: number): boolean =>
    d < 32 && v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as ActClaim).sub === 'string' &&
    ((v as ActClaim).act === undefined || ok((v as ActClaim).act, d + 1));
  if (!ok(a, 0)) throw invalidRequest('subject token act claim is malformed');
  return a as ActClaim;
}

function rejected(e: unknown): OAuthError {
  if (e instanceof JwtProfileError) {
    if (e.code === 'key_unavailable') return new OAuthError('temporarily_unavailable', 'the subject issuer key set cannot be fetched now', { cause: e });
    const what: Record<string, string> = {
      expired: 'subject token is expired',
      wrong_type: `subject token type header not accepted (${e.message})`,
      wrong_audience: 'subject token audience is not accepted',
      wrong_issuer: 'subject token issuer is not accepted',
      bad_signature: 'subject token signature is invalid',
      bad_algorithm: 'subject token algorithm is not allowed',
      unknown_kid: 'subject token key is unknown',
      not_yet_valid: 'subject token is not yet valid',
    };
    return invalidRequest(what[e.code] ?? `subject token rejected: ${e.message}`, e);
  }
  return invalidRequest('subject token rejected', e);
}

/**
 * Validates the subject token fully for its type (T-09, T-10) and checks the workload may present it (T-11).
 * Refusals are `invalid_request` (RFC 8693 §2.2.2); nothing from the token is echoed.
 */
/** Longest accepted `sub` (RFC 7519 sets none; 1024 characters holds every real identifier). */
export const MAX_SUB_CHARS = 1024;

export async function validateSubject(ctx: SubjectContext, workload: Workload, token: string, type: SubjectTokenType): Promise<Subject> {
  const subject = await validateSubjectOfType(ctx, workload, token, type);
  if (subject.sub.length > MAX_SUB_CHARS) throw invalidRequest(`the subject's sub is longer than ${MAX_SUB_CHARS} characters`);
  return subject;
}

async function validateSubjectOfType(ctx: SubjectContext, workload: Workload, token: string, type: SubjectTokenType): Promise<Subject> {
  const now = ctx.currentDate?.() ?? new Date();
  switch (type) {
    case TT_ACCESS_TOKEN:
    case TT_JWT:
    case TT_ID_TOKEN: {
      // Parsed once: the unverified iss only picks the issuer whose keys then decide.
      let jws: ParsedJws;
      try {
        jws = parseCompactJws(token);
      } catch (e) {
        throw invalidRequest('subject token is not a JWT', e);
      }
      const iss = typeof jws.payload.iss === 'string' ? jws.payload.iss : undefined;
      const ti = iss === undefined ? undefined : ctx.issuers.get(iss);
      if (ti === undefined) throw invalidRequest(iss === undefined ? 'subject token is not a JWT with an iss claim' : 'subject token issuer is not trusted');
      const c = ti.config;
      let payload: JWTPayload;
      try {
        if (type === TT_ID_TOKEN) {
          if (c.idTokenAudiences.length === 0) throw invalidRequest('ID tokens are not accepted from this issuer');
          payload = await verifyIdToken(jws, { getKey: ti.getKey, algorithms: c.algorithms, clockSkew: ctx.clockSkew, issuer: c.issuer, audiences: c.idTokenAudiences, currentDate: now });
        } else {
          payload = await verifyAccessToken(jws, { getKey: ti.getKey, algorithms: c.algorithms, clockSkew: ctx.clockSkew, issuer: c.issuer, audiences: c.audiences, typ: c.typ, currentDate: now });
        }
      } catch (e) {
        if (e instanceof OAuthError) throw e;
        throw rejected(e);
      }
      // T-11: an MCP server exchanges only tokens issued to it, unless the token names it in may_act.
      const entitled = audiences(payload).some((a) => workload.config.subjectAudiences.includes(a)) || mayActNames(payload, workload.id);
      if (!entitled) throw invalidRequest('this workload may not exchange a subject token with this audience');
      const claims = payload as Record<string, unknown>;
      const scopes = scopesOf(claims, c.scopeClaim) ?? (type === TT_ID_TOKEN && c.idTokenScopes.length > 0 ? [...c.idTokenScopes] : undefined);
      if (scopes === undefined || scopes.length === 0) throw invalidRequest('the subject token carries no scope; unknown scope is never granted (T-13)');
      return {
        sub: payload.sub as string,
        scopes,
        roles: rolesOf(claims, c),
        attr: attrsOf(claims, c.principalAttributes),
        act: actOf(claims),
        authn: amrOf(claims),
        exp: payload.exp,
        kind: type === TT_ID_TOKEN ? 'id_token' : 'access_token',
        issuer: c.issuer,
      };
    }
    case TT_SELF_SIGNED: {
      if (workload.getKey === undefined) throw invalidRequest('this workload has no keys to sign a self-signed subject');
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
        });
      } catch (e) {
        throw rejected(e);
      }
      const claims = payload as Record<string, unknown>;
      // T-22: earlier hops come from an IdP-issued token or a Txn-Token, never from the workload's own assertion
      // (it would let a workload forge the chain, e.g. claim it was called through another workload)
      if (claims.act !== undefined) throw invalidRequest('a self-signed subject cannot carry act: the workload chain is attested by the TTS');
      const scopes = scopesOf(claims, 'scope');
      if (scopes === undefined || scopes.length === 0) throw invalidRequest('the self-signed subject carries no scope (T-13)');
      return { sub: payload.sub, scopes, roles: rolesOf(claims, { rolesClaim: 'roles', defaultRoles: ['user'] }), attr: {}, act: undefined, authn: 'self_signed', exp: payload.exp, kind: 'self_signed', issuer: workload.id };
    }
    case TT_UNSIGNED_JSON: {
      if (!workload.config.allowUnsignedSubject) throw invalidRequest('this workload may not present an unsigned subject');
      let v: unknown;
      try {
        v = JSON.parse(token);
      } catch {
        throw invalidRequest('the unsigned subject must be a JSON object');
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidRequest('the unsigned subject must be a JSON object');
      const claims = v as Record<string, unknown>;
      if (typeof claims.sub !== 'string' || claims.sub.length === 0) throw invalidRequest('the unsigned subject must carry sub');
      const scopes = scopesOf(claims, 'scope');
      if (scopes === undefined || scopes.length === 0) throw invalidRequest('the unsigned subject carries no scope (T-13)');
      return { sub: claims.sub, scopes, roles: rolesOf(claims, { rolesClaim: 'roles', defaultRoles: ['user'] }), attr: {}, act: undefined, authn: 'unsigned', exp: undefined, kind: 'unsigned', issuer: undefined };
    }
    default:
      throw invalidRequest('subject_token_type is not supported here');
  }
}

function amrOf(claims: Record<string, unknown>): string | string[] | undefined {
  const amr = claims.amr;
  if (Array.isArray(amr) && amr.every((a) => typeof a === 'string')) return amr as string[];
  return undefined;
}
