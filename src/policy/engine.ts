// The decision engine: Cerbos semantics (principal policy first, then resource policy with derived roles and role
// policies, along the scope chain, default deny) with one deliberate difference: by default a DENY rule whose
// condition fails to evaluate is treated as matched (fail closed). `lenient: true` restores Cerbos's behaviour.
import * as z from 'zod';
import { CelScope, type CelRequest, type CompiledCondition, type CelProgram } from './cel/index.js';
import {
  compilePolicies,
  principalPolicyKey,
  resourcePolicyKey,
  scopeChain,
  type CompiledDerivedRole,
  type CompiledOutput,
  type CompiledPolicySet,
  type CompiledPrincipalPolicy,
  type CompiledResourcePolicy,
  type CompiledResourceRule,
  type CompiledRolePolicy,
  type ParamSet,
} from './compile.js';
import { PolicyInputError } from './errors.js';
import { Explainer, readableCondition } from './explain.js';
import { planResources } from './plan/planner.js';
import { checkRules, NO_MATCH, RuleCheck } from './ruletable.js';
import type { PlanInput, PlanOptions, PlanResult } from './plan/types.js';
import type {
  ActionEffect,
  AuxData,
  CheckInput,
  CheckOptions,
  CheckResult,
  ConsideredRule,
  DerivedRoleExplanation,
  OutputEntry,
  PolicySource,
  Principal,
  Resource,
} from './types.js';

export interface EngineOptions {
  /** Policy files (YAML/JSON, one policy per file as Cerbos requires), or an already compiled set. */
  policies: readonly PolicySource[] | CompiledPolicySet;
  /** Cerbos's default: a DENY rule whose condition errors is skipped. Default false (such a rule denies). */
  lenient?: boolean;
  /** Values visible as `globals` / `G` in conditions. */
  globals?: Record<string, unknown>;
  /** Policy version used when the request does not name one. Default `default`. */
  defaultPolicyVersion?: string;
  /** Start at the nearest existing ancestor when the requested scope has no policy. Default false (strict). */
  lenientScopeSearch?: boolean;
}

export interface Engine {
  check(input: CheckInput, opts?: CheckOptions): CheckResult;
  /** Query planning (Cerbos PlanResources): which resources of a kind the check would allow (see plan/planner.ts). */
  plan(input: PlanInput, opts?: PlanOptions): PlanResult;
  checkBatch(principal: Principal, resources: readonly { resource: Resource; actions: string[] }[], opts?: CheckOptions & { auxData?: AuxData }): CheckResult[];
  readonly policyCount: number;
}

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

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ident = (v: unknown) => typeof v === 'string' && v.length > 0;
const optStr = (v: unknown) => v === undefined || typeof v === 'string';
const plainScope = (v: unknown) => v === undefined || (typeof v === 'string' && v !== '.' && /^([\w-]+(\.[\w-]+)*)?$/.test(v));
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

export function validate<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const path = [field, ...iss.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].join('.').replace(/\.\[/g, '[');
  throw new PolicyInputError(path, iss.message);
}

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
/** Bound on every memo keyed by request input (actions, kinds, scopes, roles are caller-controlled). */
const CACHE_MAX = 4096;


export interface RoleUnit {
  role: string;
  narrowing: readonly CompiledRolePolicy[];
  baseRoles: readonly string[];
}

/** The resource policies that apply to (kind, version, scope), most specific first. */
export interface Target {
  /** The existing scopes (store-wide) on the way from the requested scope to the root; empty: the scope does not exist. */
  scopes: readonly string[];
  rps: readonly CompiledResourcePolicy[];
  /** The resource policy named for decisions: (kind, version) at the first existing scope, even if that kind has no policy there. */
  policyKey: string;
  /** Some resource or role policy rule for this kind and version exists in `scopes`. */
  exists: boolean;
}

/** A rule of a policy that can apply to one role for one action: always, or through one of `drs`. */
export interface PlanEntry {
  rule: CompiledResourceRule;
  always: boolean;
  drs: readonly CompiledDerivedRole[];
}

/** Decision of one role before it is turned into the reported ActionEffect. */
function hasAny(set: ReadonlySet<string>, xs: readonly string[]): boolean {
  for (const x of xs) if (set.has(x)) return true;
  return false;
}


/** A two-level memo bounded by its total size (cleared when full). */
class Memo2<V> {
  private readonly m = new Map<string, Map<string, V>>();
  private size = 0;
  get(a: string, b: string): V | undefined {
    return this.m.get(a)?.get(b);
  }
  set(a: string, b: string, v: V): V {
    if (this.size >= CACHE_MAX) {
      this.m.clear();
      this.size = 0;
    }
    let inner = this.m.get(a);
    if (!inner) this.m.set(a, (inner = new Map()));
    inner.set(b, v);
    this.size++;
    return v;
  }
}

const ruleMatters = (r: CompiledResourceRule, role: string): boolean =>
  r.anyRole || r.roles.has(role) || r.derivedRoles.some((d) => d.anyParent || d.parentRoles.has(role));

export class EngineCore {
  readonly strict: boolean;
  readonly globals: Record<string, unknown>;
  readonly defaultVersion: string;
  readonly lenientScope: boolean;
  private readonly targets = new Memo2<Target>();
  private readonly units = new Memo2<RoleUnit>();
  /** per resource policy: action -> role -> applicable rules */
  private readonly plans = new WeakMap<CompiledResourcePolicy, Memo2<readonly PlanEntry[]>>();

  constructor(readonly set: CompiledPolicySet, options: EngineOptions) {
    this.strict = options.lenient !== true;
    this.globals = options.globals ?? {};
    this.defaultVersion = options.defaultPolicyVersion ?? 'default';
    this.lenientScope = options.lenientScopeSearch === true;
  }

  /**
   * The scopes searched for a requested scope, most specific first. Like Cerbos, a scope exists when any policy of the
   * family (resource and role policies, or principal policies) has rules there, whatever its kind, principal or version.
   * Strict search: the requested scope itself must exist, else nothing applies; lenient: start at the nearest existing one.
   */
  scopesOf(existing: ReadonlySet<string>, scope: string): string[] {
    if (!existing.has(scope) && !this.lenientScope) return [];
    const out: string[] = [];
    for (const s of scopeChain(scope)) if (existing.has(s)) out.push(s);
    return out;
  }

  target(kind: string, version: string, scope: string): Target {
    const key = `${version}\u0000${scope}`;
    const hit = this.targets.get(kind, key);
    if (hit) return hit;
    const scopes = this.scopesOf(this.set.resourceScopeSet, scope);
    const byScope = this.set.resource.get(`${kind}\u0000${version}`);
    const rps: CompiledResourcePolicy[] = [];
    let exists = false;
    for (const s of scopes) {
      const p = byScope?.get(s);
      if (p) {
        rps.push(p);
        exists = true;
      }
      if (!exists) {
        const roles = this.set.role.get(`${version}\u0000${s}`);
        if (roles) for (const rp of roles.values()) if (rp.rules.some((r) => r.matchResource(kind))) exists = true;
      }
    }
    const policyKey = resourcePolicyKey(kind, version, scopes[0] ?? scope);
    return this.targets.set(kind, key, { scopes, rps, policyKey, exists });
  }

  private readonly principalScopes = new Map<string, string[]>();
  principalChain(id: string, version: string, keyVersion: string, scope: string): { pps: CompiledPrincipalPolicy[]; key: string } | undefined {
    const byScope = this.set.principal.get(`${id}\u0000${version}`);
    if (!byScope) return undefined;
    let scopes = this.principalScopes.get(scope);
    if (!scopes) {
      if (this.principalScopes.size >= CACHE_MAX) this.principalScopes.clear();
      this.principalScopes.set(scope, (scopes = this.scopesOf(this.set.principalScopeSet, scope)));
    }
    const pps: CompiledPrincipalPolicy[] = [];
    for (const s of scopes) {
      const p = byScope.get(s);
      if (p) pps.push(p);
    }
    return pps.length > 0 ? { pps, key: principalPolicyKey(id, keyVersion, scopes[0]!) } : undefined;
  }

  plan(p: CompiledResourcePolicy, action: string, role: string): readonly PlanEntry[] {
    let m = this.plans.get(p);
    if (!m) this.plans.set(p, (m = new Memo2()));
    const hit = m.get(action, role);
    if (hit) return hit;
    const out: PlanEntry[] = [];
    for (const rule of p.rules) {
      if (!rule.matchAction(action)) continue;
      const always = rule.anyRole || rule.roles.has(role);
      const drs = always ? [] : rule.derivedRoles.filter((d) => d.anyParent || d.parentRoles.has(role));
      if (always || drs.length > 0) out.push({ rule, always, drs });
    }
    return m.set(action, role, out);
  }

  /** The role policy governing `role` for a resource scope: the nearest one along the scope chain. */
  rolePolicyFor(role: string, version: string, scope: string): CompiledRolePolicy | undefined {
    for (const s of scopeChain(scope)) {
      const p = this.set.role.get(`${version}\u0000${s}`)?.get(role);
      if (p) return p;
    }
    return undefined;
  }

  /** A role with a role policy in the scope chain is narrowed by it and stands for its parent roles (recursively). */
  unit(role: string, version: string, scope: string): RoleUnit {
    const key = this.set.role.size === 0 ? '' : `${version}\u0000${scope}`;
    const hit = this.units.get(role, key);
    if (hit) return hit;
    const narrowing: CompiledRolePolicy[] = [];
    const baseRoles: string[] = [];
    if (this.set.role.size === 0) baseRoles.push(role);
    else {
      const seen = new Set<string>();
      const walk = (r: string): void => {
        if (seen.has(r)) return;
        seen.add(r);
        const rp = this.rolePolicyFor(r, version, scope);
        if (!rp) {
          baseRoles.push(r);
          // A role policy of another version at the requested scope does not narrow, but still lends its parent roles.
          for (const parent of this.parentsAtScope(scope).get(r) ?? []) walk(parent);
          return;
        }
        narrowing.push(rp);
        for (const parent of rp.parentRoles) walk(parent);
      };
      walk(role);
    }
    return this.units.set(role, key, { role, narrowing, baseRoles });
  }

  /**
   * Is there, at the scope of the unit's role policy, a resource rule for `kind` that the role could use? Its parent
   * roles count only when the role policy is at the requested scope itself (Cerbos adds parent roles from there).
   */
  roleRelevant(t: Target, unit: RoleUnit, kind: string, version: string, scope: string): 0 | 1 | 2 {
    const rp = unit.narrowing[0]!;
    const names = rp.scope === scope ? [unit.role, ...unit.narrowing.map((n) => n.role), ...unit.baseRoles] : [unit.role];
    for (const p of t.rps) {
      if (p.scope !== rp.scope) continue;
      for (const r of p.rules) {
        if (r.anyRole) return 2;
        for (const n of names) if (r.roles.has(n)) return 2;
        for (const d of r.derivedRoles) if (d.anyParent || hasAny(d.parentRoles, names)) return 2;
      }
    }
    // Only the role policies' own rules for this kind: consulted, but (as Cerbos does) without emitting their outputs.
    const roles = this.set.role.get(`${version}\u0000${rp.scope}`);
    if (roles) for (const n of names) if (roles.get(n)?.rules.some((r) => r.matchResource(kind))) return 1;
    return 0;
  }

  private readonly parentsAt = new Map<string, Map<string, readonly string[]>>();
  /** role -> parent roles given by the role policies (of any version) at exactly `scope`. */
  parentsAtScope(scope: string): Map<string, readonly string[]> {
    let parents = this.parentsAt.get(scope);
    if (!parents) {
      parents = new Map();
      for (const [k, byRole] of this.set.role) {
        if (k.slice(k.indexOf('\u0000') + 1) !== scope) continue;
        for (const [role, rp] of byRole) parents.set(role, [...(parents.get(role) ?? []), ...rp.parentRoles]);
      }
      if (this.parentsAt.size >= CACHE_MAX) this.parentsAt.clear();
      this.parentsAt.set(scope, parents);
    }
    return parents;
  }
  drRoles(input: readonly string[], units: readonly RoleUnit[], scope: string): string[] {
    const parents = this.parentsAtScope(scope);
    const out = new Set<string>(input);
    for (const u of units) for (const b of u.baseRoles) out.add(b);
    const todo = [...input];
    while (todo.length > 0) {
      for (const p of parents.get(todo.pop()!) ?? []) {
        if (!out.has(p)) todo.push(p);
        out.add(p);
      }
    }
    return [...out];
  }

  run(principal: Principal, resource: Resource, actions: readonly string[], auxData: AuxData | undefined, opts: CheckOptions | undefined): CheckResult {
    const version = resource.policyVersion || this.defaultVersion;
    const pVersion = principal.policyVersion || this.defaultVersion;
    const pScope = principal.scope ?? '';
    const rScope = resource.scope ?? '';
    const request: CelRequest = {
      principal: { id: principal.id, roles: principal.roles, attr: principal.attr ?? EMPTY, policyVersion: pVersion, scope: pScope },
      resource: { kind: resource.kind, id: resource.id, attr: resource.attr ?? EMPTY, policyVersion: version, scope: rScope },
      auxData: auxData?.jwt === undefined && auxData?.jwts === undefined ? undefined : auxData,
    };
    const st = new RuleCheck(request, this.globals, opts?.now ?? new Date(), opts?.explain === true, this.strict);
    const effects = checkRules(this, st, { principal, kind: resource.kind, version, principalVersion: pVersion, principalScope: pScope, resourceScope: rScope }, actions);
    const ordered: Record<string, ActionEffect> = {};
    for (const a of actions) ordered[a] = effects[a] ?? { effect: 'EFFECT_DENY', policy: NO_MATCH, scope: '' };
    const res: CheckResult = {
      resource: { kind: resource.kind, id: resource.id, policyVersion: version, scope: rScope },
      actions: ordered,
      effectiveDerivedRoles: [...st.edr],
      outputs: st.outputs,
    };
    if (st.errors.size > 0) {
      // Cerbos reports each distinct (expression, message) once, sorted.
      res.evaluationErrors = [...st.errors.values()].sort((a, b) => (a.expression < b.expression ? -1 : a.expression > b.expression ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
    }
    if (st.x) res.explained = st.x.finish(ordered);
    return res;
  }
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

export function createEngine(options: EngineOptions): Engine {
  const set: CompiledPolicySet = Array.isArray(options.policies)
    ? compilePolicies(options.policies as readonly PolicySource[])
    : (options.policies as CompiledPolicySet);
  const core = new EngineCore(set, options);
  return {
    policyCount: set.policyCount,
    check(input, opts) {
      const principal = fastPrincipal(input?.principal) ? input.principal : validate(PrincipalSchema, input?.principal, 'principal');
      const resource = fastResource(input?.resource) ? input.resource : validate(ResourceSchema, input?.resource, 'resource');
      const actions = fastActions(input?.actions) ? input.actions : validate(ActionsSchema, input?.actions, 'actions');
      const aux = validAux(input?.auxData) ? input?.auxData : validate(AuxSchema, input?.auxData, 'auxData');
      return core.run(principal, resource, actions, aux, opts);
    },
    plan(input, opts) {
      return planResources(core, input, opts);
    },
    checkBatch(principalIn, resources, opts) {
      const principal = fastPrincipal(principalIn) ? principalIn : validate(PrincipalSchema, principalIn, 'principal');
      const aux = validAux(opts?.auxData) ? opts?.auxData : validate(AuxSchema, opts?.auxData, 'auxData');
      return resources.map((r, i) => {
        const resource = fastResource(r?.resource) ? r.resource : validate(ResourceSchema, r?.resource, `resources[${i}].resource`);
        const actions = fastActions(r?.actions) ? r.actions : validate(ActionsSchema, r?.actions, `resources[${i}].actions`);
        return core.run(principal, resource, actions, aux, opts);
      });
    },
  };
}

export type { CompiledOutput };
