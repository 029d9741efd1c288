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

const NO_MATCH = 'NO_MATCH';
const NO_MATCH_SCOPE = 'NO_MATCH_FOR_SCOPE_PERMISSIONS';
const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
/** Bound on every memo keyed by request input (actions, kinds, scopes, roles are caller-controlled). */
const CACHE_MAX = 4096;

const ERR = Symbol('error');
type CondResult = boolean | typeof ERR;

/** Per-check state of a derived role. */
const DR_ACTIVE = 1;
const DR_INACTIVE = 2;
const DR_ERRORED = 3;
type DrState = typeof DR_ACTIVE | typeof DR_INACTIVE | typeof DR_ERRORED;

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
const NO_MATCH_EFFECT: ActionEffect = Object.freeze({ effect: 'EFFECT_DENY', policy: NO_MATCH, scope: '' }) as ActionEffect;

/** Per-check evaluation state: one CEL scope reused for every expression, memoised variables and derived roles. */
class Evaluation {
  readonly scope: CelScope;
  /** Collects the structured explanation; undefined unless the check asked for one. */
  readonly x: Explainer | undefined;
  readonly outputs: OutputEntry[] = [];
  readonly edr: string[] = [];
  errors: { expression: string; message: string }[] | undefined;
  /** Set when strict evaluation denied the current action because a rule could not be evaluated. */
  forced: ActionEffect | undefined;
  private varCache: Map<number, Record<string, unknown>> | undefined;
  private dr: Map<CompiledDerivedRole, DrState> | undefined;
  private visited: CompiledResourcePolicy[] | undefined;
  constructor(request: CelRequest, globals: Record<string, unknown>, now: Date, explain: boolean) {
    this.scope = new CelScope(request, now, globals);
    this.x = explain ? new Explainer() : undefined;
  }
  private fail(expression: string, e: unknown): void {
    (this.errors ??= []).push({ expression, message: (e as Error).message });
    if (this.x) this.x.lastError = (e as Error).message;
  }
  private bind(params: ParamSet): void {
    const s = this.scope;
    if (s.C !== params.constants) s.setConstants(params.constants);
    if (params.vars.length === 0) {
      if (s.V !== EMPTY) s.setVariables(EMPTY);
      return;
    }
    const cache = (this.varCache ??= new Map());
    let vars = cache.get(params.id);
    if (!vars) {
      vars = {};
      s.setVariables(vars);
      for (const v of params.vars) {
        try {
          vars[v.name] = v.prog.evaluateIn(s);
        } catch (e) {
          this.fail(v.prog.source, e);
        }
      }
      cache.set(params.id, vars);
    }
    if (s.V !== vars) s.setVariables(vars);
  }
  cond(c: CompiledCondition | undefined, src: string | undefined, params: ParamSet): CondResult {
    if (!c) return true;
    this.bind(params);
    try {
      return c.evaluateIn(this.scope) === true;
    } catch (e) {
      this.fail(src ?? '', e);
      return ERR;
    }
  }
  output(src: string, action: string, p: CelProgram | undefined, params: ParamSet): void {
    if (!p) return;
    this.bind(params);
    const o: OutputEntry = { src, action };
    try {
      o.val = p.evaluateIn(this.scope);
    } catch (e) {
      // Cerbos reports an output whose expression fails as `val: null`; the message is kept alongside.
      o.val = null;
      o.error = (e as Error).message;
    }
    this.outputs.push(o);
  }
  drState(dr: CompiledDerivedRole): DrState | undefined {
    return this.dr?.get(dr);
  }
  /** Evaluate the derived roles of a policy the first time the scope walk reaches it (each role at most once). */
  visit(p: CompiledResourcePolicy, roles: readonly string[]): void {
    if (p.derivedRoles.length === 0) return;
    const visited = (this.visited ??= []);
    if (visited.includes(p)) return;
    visited.push(p);
    let changed = false;
    for (const dr of p.derivedRoles) {
      const states = (this.dr ??= new Map());
      if (states.has(dr)) continue;
      if (!dr.anyParent && !hasAny(dr.parentRoles, roles)) {
        if (this.x) this.x.derivedRole(dr, drExplanation(dr, 'parent_role_not_matched'));
        continue;
      }
      const ok = this.cond(dr.condition, dr.conditionSource, dr.params);
      if (this.x) this.x.derivedRole(dr, drExplanation(dr, ok === true ? 'activated' : ok === ERR ? 'error' : 'condition_not_met', ok === ERR ? this.x.lastError : undefined));
      if (ok === true) {
        states.set(dr, DR_ACTIVE);
        changed = true;
        if (!this.edr.includes(dr.name)) this.edr.push(dr.name);
      } else states.set(dr, ok === ERR ? DR_ERRORED : DR_INACTIVE);
    }
    if (changed) this.scope.runtime = runtimeOf(this.edr);
  }
}

function drExplanation(dr: CompiledDerivedRole, outcome: DerivedRoleExplanation['outcome'], error?: string): DerivedRoleExplanation {
  const e: DerivedRoleExplanation = { name: dr.name, parentRoles: [...dr.parentRoles], activated: outcome === 'activated', outcome };
  const c = readableCondition(dr.conditionSource);
  if (c !== undefined) e.condition = c;
  if (error !== undefined) e.error = error;
  return e;
}

/** A considered rule entry (explain only). */
function considered(
  rule: { src: string; conditionSource?: string | undefined },
  effect: ActionEffect['effect'],
  outcome: ConsideredRule['outcome'],
  role: string | undefined,
  extra?: { condition?: string | undefined; error?: string | undefined; derivedRoles?: string[] },
): ConsideredRule {
  const c: ConsideredRule = { rule: rule.src, effect, outcome };
  if (role !== undefined) c.role = role;
  if (extra?.derivedRoles !== undefined) c.derivedRoles = extra.derivedRoles;
  const cond = outcome === 'condition_not_met' || outcome === 'error' ? (extra?.condition ?? readableCondition(rule.conditionSource)) : extra?.condition;
  if (cond !== undefined) c.condition = cond;
  if (extra?.error !== undefined) c.error = extra.error;
  return c;
}

function hasAny(set: ReadonlySet<string>, xs: readonly string[]): boolean {
  for (const x of xs) if (set.has(x)) return true;
  return false;
}

/** `runtime` as conditions see it (both spellings Cerbos accepts). */
function runtimeOf(roles: string[]): { effectiveDerivedRoles: string[] } {
  const sorted = [...roles].sort();
  return { effectiveDerivedRoles: sorted, effective_derived_roles: sorted } as { effectiveDerivedRoles: string[] };
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

  evalPrincipal(ev: Evaluation, pps: CompiledPrincipalPolicy[], key: string, kind: string, actions: readonly string[], effects: Record<string, ActionEffect>): void {
    const strict = this.strict;
    for (const p of pps) {
      const resolvedBefore = new Set(Object.keys(effects));
      for (const rule of p.rules) {
        if (!rule.matchResource(kind)) continue;
        for (const action of actions) {
          if (resolvedBefore.has(action) || !rule.matchAction(action)) continue;
          let ok = ev.cond(rule.condition, rule.conditionSource, p.params);
          if (ev.x) ev.x.consider(action, considered(rule, rule.effect, ok === true ? 'matched' : ok === ERR ? 'error' : 'condition_not_met', undefined, { error: ok === ERR ? ev.x.lastError : undefined }));
          if (ok === ERR) {
            if (strict) {
              // Strict evaluation: a rule that cannot be evaluated denies the actions it names, finally.
              const f: ActionEffect = (effects[action] = { effect: 'EFFECT_DENY', policy: key, scope: p.scope });
              if (ev.x) ev.x.decided(f, 'condition_error', rule.src);
              resolvedBefore.add(action);
              continue;
            }
            if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') ok = false;
            else continue;
          }
          if (!ok) {
            ev.output(rule.src, action, rule.output?.conditionNotMet, p.params);
            // Parental consent: an ALLOW whose condition does not hold is a DENY at this scope.
            if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') {
              const f: ActionEffect = (effects[action] = { effect: 'EFFECT_DENY', policy: key, scope: p.scope });
              if (ev.x) ev.x.decided(f, 'scope_permissions', rule.src);
            }
            continue;
          }
          if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') break;
          const cur = effects[action];
          if (!cur || cur.effect !== 'EFFECT_DENY') {
            const f: ActionEffect = (effects[action] = { effect: rule.effect, policy: key, scope: p.scope });
            if (ev.x) ev.x.decided(f, 'rule', rule.src);
          }
          ev.output(rule.src, action, rule.output?.ruleActivated, p.params);
        }
      }
    }
  }

  /** The explanation of one plan entry after its condition was evaluated (`ok`), or not (`applies` false: a derived role errored). */
  private consideredRule(x: Explainer, entry: PlanEntry, applies: boolean, via: CompiledDerivedRole | undefined, ok: CondResult, role: string): ConsideredRule {
    const rule = entry.rule;
    const drNames = via ? [via.name] : entry.always ? undefined : entry.drs.map((d) => d.name);
    if (!applies) {
      const bad = entry.drs.map((d) => x.derivedRoleOf(d)).find((d) => d?.outcome === 'error');
      return considered(rule, rule.effect, 'error', role, { derivedRoles: drNames ?? [], condition: bad?.condition, error: bad?.error });
    }
    const outcome = ok === true ? 'matched' : ok === ERR ? 'error' : 'condition_not_met';
    return considered(rule, rule.effect, outcome, role, { ...(drNames ? { derivedRoles: drNames } : {}), error: ok === ERR ? x.lastError : undefined });
  }

  /** Does `role` have any rule in `p` for any of the pending actions? (Otherwise the walk goes on to the parent scope.) */
  private roleHasRules(p: CompiledResourcePolicy, role: string, pending: readonly string[]): boolean {
    for (const a of pending) if (this.plan(p, a, role).length > 0) return true;
    return false;
  }

  /** Decision for one (base) role along the resource scope chain; NO_MATCH when no rule decides. */
  private decideRole(ev: Evaluation, t: Target, roles: readonly string[], role: string, action: string, pending: readonly string[]): ActionEffect {
    const strict = this.strict;
    let hasAllow = false;
    let hasDeny = false;
    const x = ev.x;
    let allowRule: string | undefined;
    let denyRule: string | undefined;
    for (const p of t.rps) {
      let consentDenied = false;
      ev.visit(p, roles);
      if (!this.roleHasRules(p, role, pending)) continue;
      for (const entry of this.plan(p, action, role)) {
        const rule = entry.rule;
        let applies = entry.always;
        let errored = false;
        let via: CompiledDerivedRole | undefined;
        if (!applies) {
          for (const dr of entry.drs) {
            const st = ev.drState(dr);
            if (st === DR_ACTIVE) {
              applies = true;
              via = dr;
              break;
            }
            if (st === DR_ERRORED) errored = true;
          }
          if (!applies && !errored) {
            if (x) {
              const why = entry.drs.map((d) => x.derivedRoleOf(d)).find((d) => d?.outcome === 'condition_not_met');
              x.consider(action, considered(rule, rule.effect, 'derived_role_not_activated', role, { derivedRoles: entry.drs.map((d) => d.name), condition: why?.condition }));
            }
            continue;
          }
        }
        let ok: CondResult = applies ? ev.cond(rule.condition, rule.conditionSource, p.params) : ERR;
        if (x) x.consider(action, this.consideredRule(x, entry, applies, via, ok, role));
        if (ok === ERR) {
          if (strict) {
            // Strict evaluation: a rule (or derived role) that cannot be evaluated denies the action outright,
            // whatever other rules or roles say.
            const f: ActionEffect = { effect: 'EFFECT_DENY', policy: t.policyKey, scope: p.scope };
            if (x) x.decided(f, 'condition_error', rule.src);
            return (ev.forced = f);
          }
          if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') ok = false;
          else continue;
        }
        if (ok) {
          if (rule.effect === 'EFFECT_ALLOW') {
            if (hasAllow) continue;
            hasAllow = true;
            allowRule = rule.src;
          } else {
            hasDeny = true;
            denyRule ??= rule.src;
          }
          ev.output(rule.src, action, rule.output?.ruleActivated, p.params);
        } else {
          ev.output(rule.src, action, rule.output?.conditionNotMet, p.params);
          if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') consentDenied = true;
        }
      }
      if (p.perm === 'CONSENT') {
        if (consentDenied && !hasAllow) {
          const f: ActionEffect = { effect: 'EFFECT_DENY', policy: NO_MATCH_SCOPE, scope: p.scope };
          return x ? x.decided(f, 'scope_permissions') : f;
        }
        hasAllow = false;
      } else if (hasAllow || hasDeny) {
        const f: ActionEffect = { effect: hasDeny ? 'EFFECT_DENY' : 'EFFECT_ALLOW', policy: t.policyKey, scope: p.scope };
        return x ? x.decided(f, 'rule', hasDeny ? denyRule : allowRule) : f;
      }
    }
    return NO_MATCH_EFFECT;
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

  /** Role policies narrow: an action not allowed by every role policy on the way down to base roles is denied. */
  private narrowed(ev: Evaluation, unit: RoleUnit, kind: string, action: string, emit: boolean): ActionEffect | undefined {
    for (const rp of unit.narrowing) {
      let allowed = false;
      for (const rule of rp.rules) {
        if (!rule.matchResource(kind) || !rule.matchAction(action)) continue;
        const ok = ev.cond(rule.condition, rule.conditionSource, rp.params);
        if (ev.x) ev.x.consider(action, considered(rule, 'EFFECT_ALLOW', ok === true ? 'matched' : ok === ERR ? 'error' : 'condition_not_met', unit.role, { error: ok === ERR ? ev.x.lastError : undefined }));
        if (ok === true) {
          allowed = true;
          if (emit) ev.output(rule.src, action, rule.output?.ruleActivated, rp.params);
        } else if (emit) ev.output(rule.src, action, rule.output?.conditionNotMet, rp.params);
      }
      if (!allowed) {
        const f: ActionEffect = { effect: 'EFFECT_DENY', policy: rp.key, scope: rp.scope };
        return ev.x ? ev.x.decided(f, 'role_policy') : f;
      }
    }
    return undefined;
  }

  private readonly parentsAt = new Map<string, Map<string, readonly string[]>>();
  /** role -> parent roles given by the role policies (of any version) at exactly `scope`. */
  private parentsAtScope(scope: string): Map<string, readonly string[]> {
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

  /** Explain only: the rules for `action` that were not evaluated, and why (not for these roles, or not reached). */
  private explainUnconsidered(x: Explainer, t: Target, roles: readonly string[], units: readonly RoleUnit[], action: string): void {
    for (const p of t.rps)
      for (const r of p.rules) {
        if (!r.matchAction(action) || x.has(action, r.src)) continue;
        const reachable = units.some((u) => u.baseRoles.some((b) => ruleMatters(r, b))) || r.derivedRoles.some((d) => d.anyParent || hasAny(d.parentRoles, roles));
        const c = considered(r, r.effect, reachable ? 'not_reached' : 'role_not_matched', undefined);
        if (!reachable) {
          if (r.anyRole || r.roles.size > 0) c.roles = r.anyRole ? ['*'] : [...r.roles];
          if (r.derivedRoles.length > 0) c.derivedRoles = r.derivedRoles.map((d) => d.name);
        }
        x.consider(action, c);
      }
  }

  evalResource(ev: Evaluation, principal: Principal, resource: Resource, version: string, pending: readonly string[], effects: Record<string, ActionEffect>): void {
    const scope = resource.scope ?? '';
    const t = this.target(resource.kind, version, scope);
    if (!t.exists) return;

    const units: RoleUnit[] = [];
    let trivial = true;
    for (const r of principal.roles) {
      const u = this.unit(r, version, scope);
      units.push(u);
      if (u.narrowing.length > 0 || u.baseRoles.length !== 1 || u.baseRoles[0] !== r) trivial = false;
    }
    // Derived roles can activate for the principal's roles, their base roles, and (as in Cerbos) the parent roles
    // that role policies of any version at the requested scope itself give them.
    const roles: readonly string[] =
      this.set.role.size === 0 ? principal.roles : this.drRoles(principal.roles, units, scope);

    for (const action of pending) {
      let actionEffect: ActionEffect | undefined;
      ev.forced = undefined;
      units: for (const unit of units) {
        // Cerbos only consults a role policy where some rule for this kind names the role (or one of its parents, or
        // `*`) at the role policy's scope; elsewhere the role decides nothing (reported as the resource policy's DENY)
        // and its outputs are not emitted.
        let unitEffect: ActionEffect | undefined;
        if (unit.narrowing.length > 0) {
          const relevance = this.roleRelevant(t, unit, resource.kind, version, scope);
          unitEffect = relevance === 0 ? NO_MATCH_EFFECT : this.narrowed(ev, unit, resource.kind, action, relevance === 2);
        }
        if (!unitEffect) {
          for (const base of unit.baseRoles) {
            const e = this.decideRole(ev, t, roles, base, action, pending);
            if (ev.forced) {
              actionEffect = ev.forced;
              break units;
            }
            if (!unitEffect || (unitEffect.policy === NO_MATCH && e.policy !== NO_MATCH)) unitEffect = e;
            if (e.effect === 'EFFECT_ALLOW') {
              unitEffect = e;
              break;
            }
          }
        }
        if (!unitEffect) continue;
        if (!actionEffect || (actionEffect.policy === NO_MATCH && unitEffect.policy !== NO_MATCH)) actionEffect = unitEffect;
        if (unitEffect.effect === 'EFFECT_ALLOW') {
          actionEffect = unitEffect;
          break;
        }
      }
      if (!actionEffect || actionEffect.policy === NO_MATCH)
        actionEffect = { effect: 'EFFECT_DENY', policy: t.policyKey, scope: '' };
      effects[action] = actionEffect;
      if (ev.x) this.explainUnconsidered(ev.x, t, roles, units, action);
    }
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
    const ev = new Evaluation(request, this.globals, opts?.now ?? new Date(), opts?.explain === true);
    const effects: Record<string, ActionEffect> = {};

    let pending: readonly string[] = actions;
    if (this.set.principal.size > 0) {
      // Cerbos 0.55 looks principal rules up at the resource's policy version (the key still names the principal's).
      const pc = this.principalChain(principal.id, version, pVersion, pScope);
      if (pc) {
        this.evalPrincipal(ev, pc.pps, pc.key, resource.kind, actions, effects);
        pending = actions.filter((a) => !effects[a]);
      }
    }
    if (pending.length > 0) this.evalResource(ev, principal, resource, version, pending, effects);
    const ordered: Record<string, ActionEffect> = {};
    for (const a of actions) ordered[a] = effects[a] ?? { effect: 'EFFECT_DENY', policy: NO_MATCH, scope: '' };
    const res: CheckResult = {
      resource: { kind: resource.kind, id: resource.id, policyVersion: version, scope: rScope },
      actions: ordered,
      effectiveDerivedRoles: ev.edr,
      outputs: ev.outputs,
    };
    if (ev.errors) res.evaluationErrors = ev.errors;
    if (ev.x) res.explained = ev.x.finish(ordered);
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
