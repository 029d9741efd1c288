// The engine's input: what a check (and a plan) is given, validated once at the door. Well-formed input takes a
// structural fast path; anything else goes through the zod schemas, which word the error naming the field
// (PolicyInputError), so no malformed request ever reaches evaluation.
import * as z from 'zod';
import { PolicyInputError } from './errors.js';
import type { AuxData, Principal, Resource } from './types.js';

export const attrSchema = z.record(z.string(), z.unknown());
// `.` is Cerbos's alias for the root scope.
export const scopeSchema = z
  .string()
  .regex(/^(\.|([\w-]+(\.[\w-]+)*)?)$/, 'invalid scope')
  .transform((s) => (s === '.' ? '' : s));
export const PrincipalSchema = z.object({
  id: z.string().min(1),
  roles: z.array(z.string().min(1)).min(1),
  attr: attrSchema.optional(),
  policyVersion: z.string().optional(),
  scope: scopeSchema.optional(),
});
const ResourceSchema = z.object({
  kind: z.string().min(1),
  id: z.string().min(1),
  attr: attrSchema.optional(),
  policyVersion: z.string().optional(),
  scope: scopeSchema.optional(),
});
const ActionsSchema = z.array(z.string().min(1)).min(1);
export const AuxSchema = z.object({ jwt: attrSchema.optional(), jwts: z.record(z.string(), z.object({ claims: attrSchema })).optional() }).optional();

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const ident = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
export const optStr = (v: unknown) => v === undefined || typeof v === 'string';
export const plainScope = (v: unknown) => v === undefined || (typeof v === 'string' && v !== '.' && /^([\w-]+(\.[\w-]+)*)?$/.test(v));
/** Hot-path structural check; anything unusual goes through the zod schema (which also produces the error). */
export function fastPrincipal(p: unknown): p is Principal {
  if (!isRecord(p) || !ident(p.id) || !Array.isArray(p.roles) || p.roles.length === 0) return false;
  for (const r of p.roles) if (!ident(r)) return false;
  return (p.attr === undefined || isRecord(p.attr)) && optStr(p.policyVersion) && plainScope(p.scope);
}
function fastResource(r: unknown): r is Resource {
  return isRecord(r) && ident(r.kind) && ident(r.id) && (r.attr === undefined || isRecord(r.attr)) && optStr(r.policyVersion) && plainScope(r.scope);
}
function fastActions(a: unknown): a is string[] {
  if (!Array.isArray(a) || a.length === 0) return false;
  for (const x of a) if (!ident(x)) return false;
  return true;
}
function validJwts(j: unknown): boolean {
  if (j === undefined) return true;
  if (!isRecord(j)) return false;
  for (const k in j) {
    const t = j[k];
    if (!isRecord(t) || !isRecord(t.claims)) return false;
  }
  return true;
}
export function validAux(a: unknown): a is AuxData | undefined {
  return a === undefined || (isRecord(a) && (a.jwt === undefined || isRecord(a.jwt)) && validJwts(a.jwts));
}

/** `value` checked against `schema`; the first problem is thrown as a PolicyInputError naming its path under `field`. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const path = [field, ...iss.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].join('.').replace(/\.\[/g, '[');
  throw new PolicyInputError(path, iss.message);
}

export const validPrincipal = (p: unknown, field = 'principal'): Principal => (fastPrincipal(p) ? p : validate(PrincipalSchema, p, field));
export const validResource = (r: unknown, field = 'resource'): Resource => (fastResource(r) ? r : validate(ResourceSchema, r, field));
export const validActions = (a: unknown, field = 'actions'): string[] => (fastActions(a) ? a : validate(ActionsSchema, a, field));
export const validAuxData = (a: unknown, field = 'auxData'): AuxData | undefined => (validAux(a) ? a : validate(AuxSchema, a, field));
