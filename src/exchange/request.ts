import * as z from 'zod';
import { jsonDepth, MAX_JSON_DEPTH, MAX_TXN_TOKEN_CHARS } from '../jose/json-bounds.js';
import { GRANT_TOKEN_EXCHANGE, parseScope, SUBJECT_TOKEN_TYPES, TT_REFRESH_TOKEN, TT_TXN_TOKEN, type SubjectTokenType } from '../txn/index.js';
import { OAuthError, invalidRequest, type RefusalReason } from './errors.js';

/** Every parameter /token reads (the OpenAPI description lists exactly these: test/ops). */
export const KNOWN_PARAMS: ReadonlySet<string> = new Set([
  'grant_type', 'requested_token_type', 'audience', 'scope', 'subject_token', 'subject_token_type',
  'request_context', 'request_details', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type',
  'actor_token', 'actor_token_type', 'resource',
]);

/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export interface ExchangeRequest {
  audience: string;
  scopes: string[];
  subjectToken: string;
  subjectTokenType: SubjectTokenType;
  requestContext: Record<string, unknown> | undefined;
  requestDetails: Record<string, unknown> | undefined;
}

/** Client-authentication members of the form; read by client authentication, not by the exchange. */
export interface ClientCredentialsForm {
  clientId: string | undefined;
  clientSecret: string | undefined;
  clientAssertion: string | undefined;
  clientAssertionType: string | undefined;
}

/** A form's name/value pairs in order: a `URLSearchParams`, or what `parseFormBody` answers for a body. */
export type FormPairs = Iterable<readonly [string, string]>;

const PLUS = /\+/g;
const SURROGATE = /[\uD800-\uDFFF]/;

/** One name or value of a form body: `+` is a space, then percent-decoded; undefined where `decodeURIComponent` refuses. */
function formComponent(s: string): string | undefined {
  const spaced = s.includes('+') ? s.replace(PLUS, ' ') : s;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}

/**
 * The pairs of an `application/x-www-form-urlencoded` body, the same as `new URLSearchParams(body)` iterates them (the
 * WHATWG parser: split on `&`, empty parts skipped, name and value split at the first `=`, `+` as a space, percent-
 * decoded as UTF-8), without the URLSearchParams object: a part with no `%` is taken as it is, a percent-encoded one
 * decoded by `decodeURIComponent`. A body that starts with `?` or holds a surrogate, or a sequence that
 * `decodeURIComponent` refuses (a stray `%`, bytes that are not UTF-8: the WHATWG parser keeps or replaces those), is
 * parsed by URLSearchParams itself.
 */
export function parseFormBody(body: string): Array<[string, string]> {
  // URLSearchParams drops a leading `?` and replaces lone surrogates: left to it
  if (body.charCodeAt(0) === 0x3f || SURROGATE.test(body)) return [...new URLSearchParams(body)];
  const out: Array<[string, string]> = [];
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf('&', start);
    if (end < 0) end = body.length;
    if (end > start) {
      const part = body.slice(start, end); // '=' looked for in the part only: linear in the body, whatever its shape
      const eq = part.indexOf('=');
      const name = formComponent(eq >= 0 ? part.slice(0, eq) : part);
      const value = eq >= 0 ? formComponent(part.slice(eq + 1)) : '';
      if (name === undefined || value === undefined) return [...new URLSearchParams(body)];
      out.push([name, value]);
    }
    start = end + 1;
  }
  return out;
}

/** Every parameter at most once (RFC 6749 §3.2); returns single values. */
export function singleValued(form: FormPairs): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of form) {
    if (out.has(k)) throw invalidRequest('request.param_repeated', `parameter ${KNOWN_PARAMS.has(k) ? k : '(unknown)'} is repeated`);
    out.set(k, v);
  }
  return out;
}

export function readClientCredentials(p: Map<string, string>): ClientCredentialsForm {
  return {
    clientId: p.get('client_id'),
    clientSecret: p.get('client_secret'),
    clientAssertion: p.get('client_assertion'),
    clientAssertionType: p.get('client_assertion_type'),
  };
}

const utf8 = new TextEncoder();

const jsonObjectField = (name: string, maxBytes: number) =>
  z
    .string()
    .optional()
    .transform((s, ctx): Record<string, unknown> | undefined => {
      if (s === undefined) return undefined;
      if (s.length * 3 > maxBytes && utf8.encode(s).length > maxBytes) { // (UTF-8 takes at most 3 bytes per UTF-16 unit)
        ctx.addIssue({ code: 'custom', message: `${name} exceeds ${maxBytes} bytes`, params: { reason: 'request.json_too_large' } });
        return z.NEVER;
      }
      let v: unknown;
      try {
        v = JSON.parse(s);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${name} must be a JSON object (not base64, not form-encoded)`, params: { reason: 'request.json_syntax' } });
        return z.NEVER;
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a JSON object, not ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`,
          params: { reason: 'request.json_not_object' },
        });
        return z.NEVER;
      }
      // Allow-listed members are copied into the Txn-Token: deep nesting would overflow the stack of JSON.stringify
      // (minting), structuredClone (replacement) and every verifier (a 5xx from bad input).
      if (jsonDepth(v, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
        ctx.addIssue({ code: 'custom', message: `${name} is nested deeper than ${MAX_JSON_DEPTH} levels`, params: { reason: 'request.json_too_deep' } });
        return z.NEVER;
      }
      return v as Record<string, unknown>;
    });

const contextSchemas = new Map<number, z.ZodType<{ request_context: Record<string, unknown> | undefined; request_details: Record<string, unknown> | undefined }>>();

/** The schema of the two JSON members, built once per size bound (building a zod schema costs far more than using it). */
function contextSchema(maxBytes: number) {
  let s = contextSchemas.get(maxBytes);
  if (s === undefined) {
    s = z.object({ request_context: jsonObjectField('request_context', maxBytes), request_details: jsonObjectField('request_details', maxBytes) });
    contextSchemas.set(maxBytes, s);
  }
  return s;
}

const JSON_REASONS = new Set<RefusalReason>(['request.json_too_large', 'request.json_syntax', 'request.json_not_object', 'request.json_too_deep']);

/** The reason a JSON member was refused (set by the schema above; a string that is not one is refused as malformed). */
function jsonReason(issue: z.core.$ZodIssue): RefusalReason {
  const r = (issue as { params?: { reason?: unknown } }).params?.reason;
  return typeof r === 'string' && JSON_REASONS.has(r as RefusalReason) ? (r as RefusalReason) : 'request.json_syntax';
}

/**
 * Validates the token-exchange parameters (T-01..T-07). Client-authentication members are not looked at here.
 * Error codes follow RFC 6749 §5.2 and RFC 8693 §2.2.2; descriptions name the parameter, never its value.
 */
export function parseExchangeRequest(p: Map<string, string>, opts: { maxContextBytes: number }): ExchangeRequest {
  const grant = p.get('grant_type');
  if (grant === undefined) throw invalidRequest('request.grant_type_missing', 'grant_type is required');
  if (grant !== GRANT_TOKEN_EXCHANGE) throw new OAuthError('unsupported_grant_type', `grant_type must be ${GRANT_TOKEN_EXCHANGE}`, { reason: 'request.grant_type_unsupported' });

  const rtt = p.get('requested_token_type');
  if (rtt === undefined) throw invalidRequest('request.requested_token_type_missing', 'requested_token_type is required');
  if (rtt !== TT_TXN_TOKEN) throw invalidRequest('request.requested_token_type_unsupported', `requested_token_type must be ${TT_TXN_TOKEN}`);

  if (p.has('actor_token') || p.has('actor_token_type'))
    throw invalidRequest('request.actor_token', 'actor_token is not supported: the authenticated workload is the actor');
  if (p.has('resource')) throw new OAuthError('invalid_target', 'resource is not supported: name the trust domain in audience', { reason: 'request.resource' });

  const audience = p.get('audience');
  if (audience === undefined || audience.length === 0) throw new OAuthError('invalid_target', 'audience is required', { reason: 'request.audience_missing' });

  const scope = p.get('scope');
  if (scope === undefined || scope.trim().length === 0) throw invalidRequest('request.scope_missing', 'scope is required and must not be empty');
  const scopes = parseScope(scope);
  if (scopes.some((s) => !SCOPE_TOKEN.test(s))) throw new OAuthError('invalid_scope', 'scope contains characters not allowed in a scope token', { reason: 'request.scope_invalid' });
  if (scopes.length > 64) throw new OAuthError('invalid_scope', 'too many scopes requested (at most 64)', { reason: 'request.scope_too_many' });

  const subjectToken = p.get('subject_token');
  if (subjectToken === undefined || subjectToken.length === 0) throw invalidRequest('request.subject_token_missing', 'subject_token is required');
  if (subjectToken.length > MAX_TXN_TOKEN_CHARS) throw invalidRequest('request.subject_token_too_large', 'subject_token is too large');
  const stt = p.get('subject_token_type');
  if (stt === undefined || stt.length === 0) throw invalidRequest('request.subject_token_type_missing', 'subject_token_type is required');
  if (stt === TT_REFRESH_TOKEN) throw invalidRequest('request.subject_token_type_refresh', 'a refresh token is never accepted as subject_token');
  if (!(SUBJECT_TOKEN_TYPES as readonly string[]).includes(stt)) throw invalidRequest('request.subject_token_type_unsupported', 'subject_token_type is not supported');

  const ctx = contextSchema(opts.maxContextBytes).safeParse({ request_context: p.get('request_context'), request_details: p.get('request_details') });
  if (!ctx.success) {
    const i = ctx.error.issues[0]!;
    throw invalidRequest(jsonReason(i), `${String(i.path[0])}: ${i.message}`);
  }
  return {
    audience,
    scopes,
    subjectToken,
    subjectTokenType: stt as SubjectTokenType,
    requestContext: ctx.data.request_context,
    requestDetails: ctx.data.request_details,
  };
}
