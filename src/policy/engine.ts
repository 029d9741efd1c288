// The decision engine: Cerbos semantics (principal policy first, then resource policy with derived roles and role
// policies, along the scope chain, default deny) with one deliberate difference: by default a DENY rule whose
// condition fails to evaluate is treated as matched (fail closed). `lenient: true` restores Cerbos's behaviour.
import * as z from 'zod';
import type { CelActivation, CelRequest, CompiledCondition, CelProgram } from './cel/index.js';
import {
  compilePolicies,
  principalPolicyKey,
  resourcePolicyKey,
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
import type {
  ActionEffect,
  AuxData,
  CheckInput,
  CheckOptions,
  CheckResult,
  Effect,
  OutputEntry,
  PolicySource,
  Principal,
  Resource,
} from './types.js';

export interface EngineOptions {
  /** Policy files (YAML/JSON, multi-document allowed), or an already compiled set. */
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
  checkBatch(principal: Principal, resources: readonly { resource: Resource; actions: string[] }[], opts?: CheckOptions & { auxData?: AuxData }): CheckResult[];
  readonly policyCount: number;
}

const attrSchema = z.record(z.string(), z.unknown());
// `.` is Cerbos's alias for the root scope.
const scopeSchema = z
  .string()
  .regex(/^(\.|([\w-]+(\.[\w-]+)*)?)$/, 'invalid scope')
  .transform((s) => (s === '.' ? '' : s));
const PrincipalSchema = z.object({
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
const AuxSchema = z.object({ jwt: attrSchema.optional() }).optional();

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ident = (v: unknown) => typeof v === 'string' && v.length > 0;
const optStr = (v: unknown) => v === undefined || typeof v === 'string';
const plainScope = (v: unknown) => v === undefined || (typeof v === 'string' && v !== '.' && /^([\w-]+(\.[\w-]+)*)?$/.test(v));
/** Hot-path structural check; anything unusual goes through the zod schema (which also produces the error). */
function fastPrincipal(p: unknown): p is Principal {
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

function validate<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const path = [field, ...iss.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].join('.').replace(/\.\[/g, '[');
  throw new PolicyInputError(path, iss.message);
}

const NO_MATCH = 'NO_MATCH';
const NO_MATCH_SCOPE = 'NO_MATCH_FOR_SCOPE_PERMISSIONS';
const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const BY_ACTION_CACHE_MAX = 4096;

const ERR = Symbol('error');

interface RoleUnit {
  role: string;
  narrowing: CompiledRolePolicy[];
  baseRoles: string[];
}
type CondResult = boolean | typeof ERR;

/** Per-check evaluation state (one activation object reused for every expression). */
class Evaluation {
  readonly act: CelActivation;
  private readonly varCache = new Map<number, Record<string, unknown>>();
  readonly errors: { expression: string; message: string }[] = [];
  readonly trace: string[] | undefined;
  constructor(request: CelRequest, globals: Record<string, unknown>, now: Date, explain: boolean) {
    this.act = { request, globals, now, variables: EMPTY, constants: EMPTY, runtime: { effectiveDerivedRoles: [] } };
    this.trace = explain ? [] : undefined;
  }
  private bind(params: ParamSet): void {
    // Only replace activation fields when they change: the CEL layer caches its scope per activation object.
    if (this.act.constants !== params.constants) this.act.constants = params.constants;
    if (params.vars.length === 0) {
      if (this.act.variables !== EMPTY) this.act.variables = EMPTY;
      return;
    }
    let vars = this.varCache.get(params.id);
    if (!vars) {
      vars = {};
      this.act.variables = vars;
      for (const v of params.vars) {
        try {
          vars[v.name] = v.prog.evaluate(this.act);
        } catch (e) {
          this.errors.push({ expression: v.prog.source, message: (e as Error).message });
        }
      }
      this.varCache.set(params.id, vars);
    }
    if (this.act.variables !== vars) this.act.variables = vars;
  }
  cond(c: CompiledCondition | undefined, src: string | undefined, params: ParamSet): CondResult {
    if (!c) return true;
    this.bind(params);
    try {
      return c.evaluate(this.act) === true;
    } catch (e) {
      this.errors.push({ expression: src ?? '', message: (e as Error).message });
      return ERR;
    }
  }
  value(p: CelProgram, params: ParamSet): { val?: unknown; error?: string } {
    this.bind(params);
    try {
      return { val: p.evaluate(this.act) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }
  note(s: string): void {
    this.trace?.push(s);
  }
}

const EMPTY_RUNTIME = runtimeOf([]);

/** `runtime` as conditions see it (both spellings Cerbos accepts). */
function runtimeOf(roles: string[]): { effectiveDerivedRoles: string[] } {
  const sorted = [...roles].sort();
  return { effectiveDerivedRoles: sorted, effective_derived_roles: sorted } as { effectiveDerivedRoles: string[] };
}

function scopeChain(scope: string): string[] {
  const out = [scope];
  let s = scope;
  while (s) {
    const i = s.lastIndexOf('.');
    s = i < 0 ? '' : s.slice(0, i);
    out.push(s);
  }
  return out;
}

function rulesFor(p: CompiledResourcePolicy, action: string): readonly CompiledResourceRule[] {
  let r = p.byAction.get(action);
  if (!r) {
    r = p.rules.filter((x) => x.matchAction(action));
    if (p.byAction.size >= BY_ACTION_CACHE_MAX) p.byAction.clear();
    p.byAction.set(action, r);
  }
  return r;
}

export function createEngine(options: EngineOptions): Engine {
  const set: CompiledPolicySet = Array.isArray(options.policies)
    ? compilePolicies(options.policies as readonly PolicySource[])
    : (options.policies as CompiledPolicySet);
  const strict = options.lenient !== true;
  const globals = options.globals ?? {};
  const defaultVersion = options.defaultPolicyVersion ?? 'default';
  const lenientScope = options.lenientScopeSearch === true;

  function pushOutput(ev: Evaluation, outputs: OutputEntry[], src: string, action: string, p: CelProgram | undefined, params: ParamSet): void {
    if (!p) return;
    const r = ev.value(p, params);
    const o: OutputEntry = { src, action };
    if (r.error !== undefined) o.error = r.error;
    else o.val = r.val;
    outputs.push(o);
  }

  /** Resolve the chain of existing policies for a scope (most specific first). */
  function chain<T>(scopes: Map<string, T> | undefined, scope: string): T[] {
    if (!scopes) return [];
    const out: T[] = [];
    let started = false;
    for (const s of scopeChain(scope)) {
      const p = scopes.get(s);
      if (!p) {
        if (!started && !lenientScope) return [];
        continue;
      }
      started = true;
      out.push(p);
    }
    return out;
  }

  function evalPrincipal(
    ev: Evaluation,
    pps: CompiledPrincipalPolicy[],
    kind: string,
    actions: readonly string[],
    effects: Record<string, ActionEffect>,
    outputs: OutputEntry[],
  ): void {
    for (const p of pps) {
      const resolvedBefore = new Set(Object.keys(effects));
      for (const rule of p.rules) {
        if (!rule.matchResource(kind)) continue;
        let activated = false;
        let activatedAction = '';
        for (const action of actions) {
          if (resolvedBefore.has(action) || !rule.matchAction(action)) continue;
          let ok = ev.cond(rule.condition, rule.conditionSource, p.params);
          if (ok === ERR) {
            if (strict && rule.effect === 'EFFECT_DENY') ok = true;
            else if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') ok = false;
            else continue;
          }
          if (!ok) {
            pushOutput(ev, outputs, rule.src, action, rule.output?.conditionNotMet, p.params);
            // Parental consent: an ALLOW whose condition does not hold is a DENY at this scope.
            if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') effects[action] = { effect: 'EFFECT_DENY', policy: pps[0]!.key, scope: p.scope };
            continue;
          }
          if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') break;
          const cur = effects[action];
          if (!cur || cur.effect !== 'EFFECT_DENY') effects[action] = { effect: rule.effect, policy: pps[0]!.key, scope: p.scope };
          ev.note(`${rule.src}: ${rule.effect} for ${action}`);
          activated = true;
          activatedAction = action;
          pushOutput(ev, outputs, rule.src, activatedAction, rule.output?.ruleActivated, p.params);
        }
        void activated;
      }
    }
  }

  /** The role policy governing `role` for a resource scope: the nearest one along the scope chain. */
  function rolePolicyFor(role: string, version: string, scope: string): CompiledRolePolicy | undefined {
    if (set.role.size === 0) return undefined;
    for (const s of scopeChain(scope)) {
      const p = set.role.get(`${version}\u0000${s}`)?.get(role);
      if (p) return p;
    }
    return undefined;
  }

  function roleUnit(role: string, version: string, scope: string): RoleUnit {
    const narrowing: CompiledRolePolicy[] = [];
    const baseRoles: string[] = [];
    const seen = new Set<string>();
    const walk = (r: string) => {
      if (seen.has(r)) return;
      seen.add(r);
      const rp = rolePolicyFor(r, version, scope);
      if (!rp) {
        baseRoles.push(r);
        return;
      }
      narrowing.push(rp);
      for (const parent of rp.parentRoles) walk(parent);
    };
    walk(role);
    return { role, narrowing, baseRoles };
  }

  function evalResource(
    ev: Evaluation,
    principal: Principal,
    resource: Resource,
    version: string,
    actions: readonly string[],
    effects: Record<string, ActionEffect>,
    outputs: OutputEntry[],
    effectiveDerivedRoles: string[],
  ): void {
    const scope = resource.scope ?? '';
    const rps = chain(set.resource.get(`${resource.kind}\u0000${version}`), scope);
    if (rps.length === 0 && set.role.size === 0) return;
    const policyKey = rps[0]?.key ?? resourcePolicyKey(resource.kind, version, scope);

    // Roles of the principal; a role with a role policy in the scope chain is narrowed by it and stands for its
    // parent roles (recursively) when resource policies are consulted.
    const units: RoleUnit[] = principal.roles.map((r) => roleUnit(r, version, scope));
    const roles = [...new Set(units.flatMap((u) => u.baseRoles))];

    // Derived roles: active when a parent role matches and the condition holds. Evaluated per policy, when the
    // scope walk first reaches that policy (as Cerbos does), so roles of unvisited parent scopes are not reported.
    const active = new Set<CompiledDerivedRole>();
    const errored = new Set<CompiledDerivedRole>();
    const visited = new Set<CompiledResourcePolicy>();
    ev.act.runtime = EMPTY_RUNTIME;
    const visit = (p: CompiledResourcePolicy) => {
      if (visited.has(p)) return;
      visited.add(p);
      let changed = false;
      for (const dr of p.derivedRoles) {
        if (active.has(dr) || errored.has(dr)) continue;
        if (!dr.anyParent && !roles.some((r) => dr.parentRoles.has(r))) continue;
        const ok = ev.cond(dr.condition, dr.conditionSource, dr.params);
        if (ok === true) {
          active.add(dr);
          changed = true;
          if (!effectiveDerivedRoles.includes(dr.name)) effectiveDerivedRoles.push(dr.name);
        } else if (ok === ERR) errored.add(dr);
      }
      if (changed) ev.act.runtime = runtimeOf(effectiveDerivedRoles);
    };

    const ruleAppliesToRole = (rule: CompiledResourceRule, role: string): 'yes' | 'errored' | 'no' => {
      if (rule.anyRole || rule.roles.has(role)) return 'yes';
      let err = false;
      for (const dr of rule.derivedRoles) {
        if (!(dr.anyParent || dr.parentRoles.has(role))) continue;
        if (active.has(dr)) return 'yes';
        if (errored.has(dr)) err = true;
      }
      return err ? 'errored' : 'no';
    };
    const roleHasRules = (p: CompiledResourcePolicy, role: string, pending: readonly string[]) =>
      p.rules.some((r) => (r.anyRole || r.roles.has(role) || r.derivedRoles.some((d) => d.anyParent || d.parentRoles.has(role))) && pending.some((a) => r.matchAction(a)));

    const pending = actions.filter((a) => !effects[a]);

    /** Decision for one (base) role along the resource scope chain; NO_MATCH when no rule decides. */
    const decideRole = (role: string, action: string): ActionEffect => {
      let roleEffect: ActionEffect = { effect: 'EFFECT_DENY', policy: NO_MATCH, scope: '' };
      const effSet = new Set<Effect>();
      for (const p of rps) {
        let consentDenied = false;
        visit(p);
        if (!roleHasRules(p, role, pending)) continue;
        for (const rule of rulesFor(p, action)) {
          const applies = ruleAppliesToRole(rule, role);
          if (applies === 'no') continue;
          let ok: CondResult = applies === 'errored' ? ERR : ev.cond(rule.condition, rule.conditionSource, p.params);
          if (ok === ERR) {
            if (strict && rule.effect === 'EFFECT_DENY') ok = true;
            else if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') ok = false;
            else continue;
          }
          if (ok) {
            if (rule.effect === 'EFFECT_ALLOW' && effSet.has('EFFECT_ALLOW')) continue;
            effSet.add(rule.effect);
            ev.note(`${rule.src}: ${rule.effect} for ${action} (role ${role})`);
            pushOutput(ev, outputs, rule.src, action, rule.output?.ruleActivated, p.params);
          } else {
            pushOutput(ev, outputs, rule.src, action, rule.output?.conditionNotMet, p.params);
            if (p.perm === 'CONSENT' && rule.effect === 'EFFECT_ALLOW') consentDenied = true;
          }
        }
        if (p.perm === 'CONSENT') {
          if (consentDenied && !effSet.has('EFFECT_ALLOW')) return { effect: 'EFFECT_DENY', policy: NO_MATCH_SCOPE, scope: p.scope };
          effSet.delete('EFFECT_ALLOW');
        } else if (effSet.size > 0) {
          roleEffect = { effect: effSet.has('EFFECT_DENY') ? 'EFFECT_DENY' : 'EFFECT_ALLOW', policy: policyKey, scope: p.scope };
          break;
        }
      }
      return roleEffect;
    };

    /** Role policies narrow: an action not allowed by every role policy on the way down to base roles is denied. */
    const narrowed = (unit: RoleUnit, action: string): ActionEffect | undefined => {
      for (const rp of unit.narrowing) {
        let allowed = false;
        for (const rule of rp.rules) {
          if (!rule.matchResource(resource.kind) || !rule.matchAction(action)) continue;
          const ok = ev.cond(rule.condition, rule.conditionSource, rp.params);
          if (ok === true) {
            allowed = true;
            pushOutput(ev, outputs, rule.src, action, rule.output?.ruleActivated, rp.params);
          } else pushOutput(ev, outputs, rule.src, action, rule.output?.conditionNotMet, rp.params);
        }
        if (!allowed) return { effect: 'EFFECT_DENY', policy: rp.key, scope: rp.scope };
      }
      return undefined;
    };

    for (const action of pending) {
      let actionEffect: ActionEffect | undefined;
      units: for (const unit of units) {
        let unitEffect = narrowed(unit, action);
        if (!unitEffect) {
          for (const base of unit.baseRoles) {
            const e = decideRole(base, action);
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
          break units;
        }
      }
      if (!actionEffect || actionEffect.policy === NO_MATCH)
        actionEffect = { effect: 'EFFECT_DENY', policy: rps.length === 0 ? NO_MATCH : policyKey, scope: '' };
      effects[action] = actionEffect;
    }
  }

  function run(principal: Principal, resource: Resource, actions: readonly string[], auxData: AuxData | undefined, opts: CheckOptions | undefined): CheckResult {
    const version = resource.policyVersion || defaultVersion;
    const pVersion = principal.policyVersion || defaultVersion;
    const request: CelRequest = {
      principal: { id: principal.id, roles: principal.roles, attr: principal.attr ?? {}, policyVersion: pVersion, scope: principal.scope ?? '' },
      resource: { kind: resource.kind, id: resource.id, attr: resource.attr ?? {}, policyVersion: version, scope: resource.scope ?? '' },
      auxData: { jwt: auxData?.jwt ?? {} },
    };
    const ev = new Evaluation(request, globals, opts?.now ?? new Date(), opts?.explain === true);
    const effects: Record<string, ActionEffect> = {};
    const outputs: OutputEntry[] = [];
    const edr: string[] = [];

    const pps = chain(set.principal.get(`${principal.id}\u0000${pVersion}`), principal.scope ?? '');
    if (pps.length > 0) evalPrincipal(ev, pps, resource.kind, actions, effects, outputs);
    if (actions.some((a) => !effects[a])) evalResource(ev, principal, resource, version, actions, effects, outputs, edr);
    const ordered: Record<string, ActionEffect> = {};
    for (const a of actions) ordered[a] = effects[a] ?? { effect: 'EFFECT_DENY', policy: NO_MATCH, scope: '' };
    const res: CheckResult = {
      resource: { kind: resource.kind, id: resource.id, policyVersion: version, scope: resource.scope ?? '' },
      actions: ordered,
      effectiveDerivedRoles: edr,
      outputs,
    };
    if (ev.errors.length > 0) res.evaluationErrors = ev.errors;
    if (ev.trace) res.explanation = ev.trace;
    void principalPolicyKey;
    return res;
  }

  return {
    policyCount: set.policyCount,
    check(input, opts) {
      const principal = fastPrincipal(input?.principal) ? input.principal : validate(PrincipalSchema, input?.principal, 'principal');
      const resource = fastResource(input?.resource) ? input.resource : validate(ResourceSchema, input?.resource, 'resource');
      const actions = fastActions(input?.actions) ? input.actions : validate(ActionsSchema, input?.actions, 'actions');
      const aux = input?.auxData === undefined || (isRecord(input.auxData) && (input.auxData.jwt === undefined || isRecord(input.auxData.jwt))) ? input?.auxData : validate(AuxSchema, input?.auxData, 'auxData');
      return run(principal, resource, actions, aux, opts);
    },
    checkBatch(principalIn, resources, opts) {
      const principal = fastPrincipal(principalIn) ? principalIn : validate(PrincipalSchema, principalIn, 'principal');
      const aux = validate(AuxSchema, opts?.auxData, 'auxData');
      return resources.map((r, i) => {
        const resource = validate(ResourceSchema, r?.resource, `resources[${i}].resource`);
        const actions = validate(ActionsSchema, r?.actions, `resources[${i}].actions`);
        return run(principal, resource, actions, aux, opts);
      });
    },
  };
}

export type { CompiledOutput };
