import { parseClaimPath, readClaimPath, type ClaimPath } from '../config/claim-path.js';
import type { SubjectIssuerConfig } from '../config/schema.js';

/**
 * Claim mapping (issue 17): how a subject issuer's tokens (or its introspection answers) name the principal, its
 * scope, roles and attributes. Paths are parsed once, when the issuer is prepared (syntax: config/claim-path.ts).
 *
 *   subjectClaim   path or list, first present non-empty string wins          default `sub`
 *   scopeClaim     path or list, first present wins (string: space-delimited;  default `scope`, then `scp`
 *                  array of strings); one path P means [P, scp] as before
 *   rolesClaim     path or list, the UNION of every present one (string:       default none: `defaultRoles`
 *                  space-delimited; array: its strings)
 *   principalAttributes  path (named as written) or { claim: path | list, as }: first present value wins
 *   requiredClaimValues  { path: value | [values] }: a string/number/boolean equal to one of them
 *   `{client}` in a path = `clientIds[workload]` ?? the requesting workload's client id
 */
export interface ClaimMapping {
  readonly subject: readonly ClaimPath[];
  readonly scope: readonly ClaimPath[];
  readonly roles: readonly ClaimPath[];
  readonly defaultRoles: readonly string[];
  readonly attributes: ReadonlyArray<{ readonly name: string; readonly paths: readonly ClaimPath[] }>;
  readonly required: ReadonlyArray<{ readonly path: ClaimPath; readonly values: readonly (string | number | boolean)[] }>;
  readonly clientIds: Readonly<Record<string, string>>;
}

type MappingConfig = Pick<SubjectIssuerConfig, 'subjectClaim' | 'scopeClaim' | 'rolesClaim' | 'defaultRoles' | 'principalAttributes' | 'requiredClaimValues' | 'clientIds'>;

const list = <T>(v: T | readonly T[]): readonly T[] => (Array.isArray(v) ? v : [v as T]);

export function compileClaimMapping(c: MappingConfig): ClaimMapping {
  const paths = (v: string | readonly string[]) => list(v).map(parseClaimPath);
  // one scope path keeps the meaning it had before lists: that claim, else `scp`
  const scope = typeof c.scopeClaim === 'string' && c.scopeClaim !== 'scp' ? [c.scopeClaim, 'scp'] : c.scopeClaim;
  return {
    subject: paths(c.subjectClaim),
    scope: paths(scope),
    roles: c.rolesClaim === undefined ? [] : paths(c.rolesClaim),
    defaultRoles: [...c.defaultRoles],
    attributes: c.principalAttributes.map((a) => (typeof a === 'string' ? { name: a, paths: [parseClaimPath(a)] } : { name: a.as, paths: paths(a.claim) })),
    required: Object.entries(c.requiredClaimValues ?? {}).map(([p, v]) => ({ path: parseClaimPath(p), values: list(v) })),
    clientIds: { ...c.clientIds },
  };
}

/** What `{client}` stands for when `workload` asks. */
export function placeholderClient(m: ClaimMapping, workload: string): string {
  return Object.hasOwn(m.clientIds, workload) ? m.clientIds[workload]! : workload;
}

function words(v: unknown): string[] | undefined {
  if (typeof v === 'string') return v.split(' ').filter((s) => s.length > 0);
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return (v as string[]).filter((s) => s.length > 0);
  return undefined;
}

/** The principal id: the first configured path holding a non-empty string. */
export function subjectOf(claims: Readonly<Record<string, unknown>>, m: ClaimMapping, client: string | undefined): string | undefined {
  for (const p of m.subject) {
    const v = readClaimPath(claims, p, client);
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return undefined;
}

/** The scopes the token grants: the first configured path holding a string or an array of strings. Undefined when none. */
export function scopesOfClaims(claims: Readonly<Record<string, unknown>>, m: ClaimMapping, client: string | undefined): string[] | undefined {
  for (const p of m.scope) {
    const v = words(readClaimPath(claims, p, client));
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Roles: the union of every configured path (strings are space-delimited), in order; `defaultRoles` when none. */
export function rolesOfClaims(claims: Readonly<Record<string, unknown>>, m: ClaimMapping, client: string | undefined): string[] {
  const out = new Set<string>();
  for (const p of m.roles) {
    const v = readClaimPath(claims, p, client);
    if (typeof v === 'string') for (const r of v.split(' ')) if (r.length > 0) out.add(r);
    if (Array.isArray(v)) for (const r of v) if (typeof r === 'string' && r.length > 0) out.add(r);
  }
  return out.size > 0 ? [...out] : [...m.defaultRoles];
}

/** Principal attributes: each configured attribute from the first of its paths the token carries. */
export function attributesOfClaims(claims: Readonly<Record<string, unknown>>, m: ClaimMapping, client: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of m.attributes)
    for (const p of a.paths) {
      const v = readClaimPath(claims, p, client);
      if (v !== undefined) {
        // defined, not assigned: a configured name such as `__proto__` stays an ordinary member
        Object.defineProperty(out, a.name, { value: v, enumerable: true, writable: true, configurable: true });
        break;
      }
    }
  return out;
}

/** The first required claim whose value is not one of the configured ones (its configured path), or undefined. */
export function unmetRequiredClaim(claims: Readonly<Record<string, unknown>>, m: ClaimMapping, client: string | undefined): string | undefined {
  for (const r of m.required) {
    const v = readClaimPath(claims, r.path, client);
    if (!r.values.some((x) => x === v)) return r.path.source;
  }
  return undefined;
}
