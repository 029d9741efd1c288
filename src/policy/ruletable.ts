// A check evaluated the way Cerbos 0.55's rule table evaluates it (internal/ruletable: check.go and index/index.go),
// learnt from its source and held to it by the differential test against the real binary:
// - per action, principal policies first (principal scope chain, rules looked up at the RESOURCE's version), then
//   resource policies (resource scope chain); within each, every role of the principal on its own: the role plus the
//   parent roles that role policies at exactly the requested resource scope give it (transitively), walked up the
//   scope chain; the first role that ends with ALLOW decides; otherwise the first role's outcome stands;
// - at each scope, the role policies of the queried roles there come first: an action they do not list is a DENY
//   (named after the role policy), a listed action with a condition is a DENY under `none(condition)`; then the
//   resource policy's rows (one per action pattern and role, derived roles as their parent roles plus the derived
//   role's condition); a matched DENY ends the walk, an ALLOW ends it where the scope overrides its parent and is
//   forgotten where it requires parental consent; an ALLOW with a condition in a consent scope is `none(cond)` DENY;
// - derived roles are evaluated per scope the walk reaches; `runtime` shows the roles of the scope being walked;
// - strict evaluation: a condition (rule, derived role, through a variable or `runtime`) that cannot be evaluated,
//   in whatever combinator, DENIES the action, finally (P-01). Lenient: a failing expression is false.
// Row order, repeated rows and the per-rule condition cache follow Cerbos too (they decide which outputs are emitted).
// Explanations are collected behind `if (x)` and never change a decision (P-05).
import { CelScope, someProgramReadsRuntime, type CelRequest, type CompiledCondition } from './cel/index.js';
import { principalPolicyKey, type CompiledDerivedRole, type CompiledPolicySet, type CompiledResourcePolicy, type ParamSet, type ScopePerm } from './compile.js';
import { drExplanation, Explainer, readableCondition } from './explain.js';
import { principalRows, type Binding } from './rows.js';
import type { ActionEffect, ConsideredRule, Effect, OutputEntry, Principal } from './types.js';
import { outputValue } from './output-json.js';

export { principalRows, resourceRows, type Binding } from './rows.js';

export const NO_MATCH = 'NO_MATCH';
const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** What the rule-table check needs from the engine: the compiled set (asked by query), its options, the target memo. */
export interface RuleTableHost {
  readonly set: CompiledPolicySet;
  readonly strict: boolean;
  readonly lenientScope: boolean;
  target(kind: string, version: string, scope: string): { scopes: readonly string[]; policyKey: string; exists: boolean };
  /** withParents(scope, [role]), the same array for the same scope and role (memoised by the engine). */
  queriedRoles(scope: string, role: string): readonly string[];
  /** withParents(scope, roles) as a set. */
  includingRoles(scope: string, roles: readonly string[]): ReadonlySet<string>;
  /** What a check of this shape walks, memoised; undefined where the engine keeps none (see CheckShape). */
  shape(kind: string, version: string, scope: string, roles: readonly string[]): CheckShape | undefined;
  /** The rows of each scope of a shape's resource walk for `action` (memoised). */
  shapeRows(shape: CheckShape, action: string): readonly (readonly Binding[])[];
  /** resourceRows for roles from queriedRoles (memoised by the engine). */
  rowsOf(kind: string, version: string, scope: string, action: string, roles: readonly string[]): readonly Binding[];
}

/**
 * The derived roles at one scope: those activated, those whose condition failed (when any), `held[i]`: how the condition
 * of `drs[i]` came out (if evaluated); `runtime` is made once per scope, only if some program reads it.
 */
type ScopedDrs = { roles: string[]; errs: string[] | undefined; drs: readonly CompiledDerivedRole[]; held: (boolean | typeof ERR)[]; runtime?: { effectiveDerivedRoles: readonly string[] } };

const ERR = Symbol('error'), SKIP = Symbol('skip');


/** Conditions report a failure to the check evaluating them (evaluation is synchronous; no closure per check). */
let reporting: RuleCheck | undefined;
const report = (expression: string, message: string): void => reporting!.reportError(expression, message);

function hasAny(set: ReadonlySet<string>, roles: ReadonlySet<string>): boolean {
  for (const r of set) if (roles.has(r)) return true;
  return false;
}

function runtimeOf(s: ScopedDrs): { effectiveDerivedRoles: readonly string[] } {
  if (s.errs !== undefined) {
    // The roles could not be computed: reading them fails (strict mode denies the actions whose conditions do).
    const msg = `failed to compute effective derived roles [${s.errs.join(', ')}]`;
    const fail = (): never => { throw new Error(msg); };
    const o = {};
    Object.defineProperty(o, 'effectiveDerivedRoles', { get: fail, enumerable: true });
    Object.defineProperty(o, 'effective_derived_roles', { get: fail, enumerable: true });
    return o as { effectiveDerivedRoles: readonly string[] };
  }
  const sorted = [...s.roles].sort(); // a copy: the roles stay in the order met
  return { effectiveDerivedRoles: sorted, effective_derived_roles: sorted } as { effectiveDerivedRoles: readonly string[] };
}

/** Per-check state: one CEL scope, variables per parameter set, the condition cache, derived roles per scope. */
export class RuleCheck {
  readonly scope: CelScope;
  readonly x: Explainer | undefined;
  readonly outputs: OutputEntry[] = [];
  /** The derived roles activated at the scopes walked, each once, in the order met (the result's). */
  readonly edr: string[] = [];
  /** Evaluation errors, each distinct (expression, message) once; undefined while there is none. */
  errors: Map<string, { expression: string; message: string }> | undefined;
  /** The principal's roles with the parent roles role policies at the requested scope give them (when first needed). */
  including: ReadonlySet<string> | undefined;
  // per-check memos, made when first needed
  private vars: Map<unknown, Record<string, unknown>> | undefined;
  // the condition cache and the derived roles by scope: the first entry in fields, a map from the second on
  private key1: string | undefined;
  private held1 = false;
  private condCache: Map<string, boolean> | undefined;
  private scope1: string | undefined;
  private sd1: ScopedDrs | undefined;
  private sdr: Map<string, ScopedDrs> | undefined;
  /** `rules`: decisions carry the deciding rule (CheckOptions.decidingRule). */
  constructor(request: CelRequest, globals: Record<string, unknown>, now: Date | undefined, explain: boolean, readonly strict: boolean, readonly rules = false) {
    // request.principal and request.resource are EngineCore.run's own (CelScope `built`)
    this.scope = new CelScope(request, now, globals, undefined, undefined, undefined, true);
    this.x = explain ? new Explainer() : undefined;
  }
  private cached(key: string): boolean | undefined {
    return key === this.key1 ? this.held1 : this.condCache?.get(key);
  }
  private cache(key: string, v: boolean): void {
    if (this.key1 === undefined) {
      this.key1 = key;
      this.held1 = v;
    } else (this.condCache ??= new Map()).set(key, v);
  }
  private scoped(s: string): ScopedDrs | undefined {
    return s === this.scope1 ? this.sd1 : this.sdr?.get(s);
  }
  /** Where the last `evaluate` met a failing expression (explanations only; lenient mode goes on with false). */
  failedIn: 'dr' | 'rule' | undefined;
  private drPhase = false;
  reportError(expression: string, message: string): void {
    this.failedIn ??= this.drPhase ? 'dr' : 'rule';
    const k = `${expression}\u0000${message}`;
    const errors = (this.errors ??= new Map());
    if (!errors.has(k)) errors.set(k, { expression, message });
    if (this.x) this.x.lastError = message;
  }
  /** Variables of a parameter set, evaluated once per check under `key`; a failing one is left unset (or null). */
  private varsOf(p: ParamSet, key: unknown, failedIsNull: boolean): Record<string, unknown> {
    if (p.vars.length === 0) return EMPTY;
    let vars = this.vars?.get(key);
    if (vars) return vars;
    vars = {};
    this.scope.setConstants(p.constants);
    this.scope.setVariables(vars);
    for (const v of p.vars) {
      try {
        vars[v.name] = v.prog.evaluateIn(this.scope);
      } catch (e) {
        this.reportError(v.prog.source, (e as Error).message);
        if (failedIsNull) vars[v.name] = null;
      }
    }
    (this.vars ??= new Map()).set(key, vars);
    return vars;
  }
  /** Evaluate a condition with `p`'s constants and `vars`; throws in strict mode when it cannot be evaluated. */
  private cond(c: CompiledCondition | undefined, p: ParamSet | undefined, vars: Record<string, unknown>): boolean {
    if (!c) return true;
    this.scope.setConstants(p?.constants ?? EMPTY);
    this.scope.setVariables(vars);
    const outer = reporting;
    reporting = this;
    try {
      return c.evaluateCerbos(this.scope, this.strict, report);
    } finally {
      reporting = outer;
    }
  }
  /** The derived roles of the resource policy at a scope the walk reaches, evaluated the first time (Cerbos order). */
  /** `eligible[i]`: whether `drs[i]` may apply to `roles` (any parent, or one of its parent roles), when known. */
  enterScope(s: string, drs: readonly CompiledDerivedRole[], roles: ReadonlySet<string>, eligible?: readonly boolean[]): void {
    let sd = this.scoped(s);
    if (!sd) {
      sd = { roles: [], errs: undefined, drs, held: [] };
      for (let i = 0; i < drs.length; i++) {
        const dr = drs[i]!;
        if (eligible ? !eligible[i] : !dr.anyParent && !hasAny(dr.parentRoles, roles)) {
          if (this.x) this.x.derivedRole(dr, drExplanation(dr, 'parent_role_not_matched'));
          continue;
        }
        const vars = this.varsOf(dr.params, dr, !this.strict);
        let ok: boolean;
        try {
          ok = this.cond(dr.condition, dr.params, vars);
        } catch {
          sd.held[i] = ERR;
          (sd.errs ??= []).push(dr.name);
          if (this.x) this.x.derivedRole(dr, drExplanation(dr, 'error', this.x.lastError));
          continue;
        }
        sd.held[i] = ok;
        if (this.x) this.x.derivedRole(dr, drExplanation(dr, ok ? 'activated' : 'condition_not_met'));
        if (ok) {
          sd.roles.push(dr.name);
          if (!this.edr.includes(dr.name)) this.edr.push(dr.name);
        }
      }
      sd.errs?.sort();
      if (this.scope1 === undefined) {
        this.scope1 = s;
        this.sd1 = sd;
      } else (this.sdr ??= new Map()).set(s, sd);
    }
    this.here = sd;
    if (someProgramReadsRuntime()) this.scope.runtime = sd.runtime ??= runtimeOf(sd);
  }
  private here: ScopedDrs | undefined;
  /**
   * A row's derived role as `enterScope` found it at this scope, where evaluating it again must give the same: not when
   * explaining (a row records its own failure), nor in lenient mode with variables (there a failing one is null).
   */
  private heldHere(dr: CompiledDerivedRole): boolean | typeof ERR | undefined {
    if (dr.readsRuntime || this.x || (!this.strict && dr.params.vars.length > 0) || !this.here) return undefined;
    return this.here.held[this.here.drs.indexOf(dr)];
  }
  /** A row's condition (its derived role's first): true/false, SKIP (the derived role does not hold), ERR (strict). */
  evaluate(b: Binding): boolean | typeof SKIP | typeof ERR {
    const vars = b.params ? this.varsOf(b.params, b.params, false) : EMPTY;
    this.failedIn = undefined;
    const cached = this.cached(b.key);
    if (cached !== undefined) {
      if (this.x && !cached) this.failedIn = this.x.recallFalse(b.key) ?? this.failedIn;
      return cached;
    }
    try {
      if (b.dr?.condition) {
        let held = this.heldHere(b.dr);
        if (held === ERR) return ERR;
        if (held === undefined) {
          this.drPhase = true;
          held = this.cond(b.dr.condition, b.dr.params, this.varsOf(b.dr.params, b.dr.params, false));
          this.drPhase = false;
        }
        if (!held) {
          this.cache(b.key, false);
          if (this.x) this.x.rememberFalse(b.key, this.failedIn, true);
          return SKIP;
        }
      }
      let ok = this.cond(b.cond, b.params, vars);
      if (b.negate) ok = !ok;
      this.cache(b.key, ok);
      if (this.x && !ok) this.x.rememberFalse(b.key, this.failedIn, false);
      return ok;
    } catch {
      this.drPhase = false;
      return ERR;
    }
  }
  output(b: Binding, action: string, activated: boolean): void {
    const p = activated ? b.out?.ruleActivated : b.out?.conditionNotMet;
    if (!p) return;
    const vars = b.params ? this.varsOf(b.params, b.params, false) : EMPTY;
    this.scope.setConstants(b.params?.constants ?? EMPTY);
    this.scope.setVariables(vars);
    const o: OutputEntry = { src: b.src, action };
    try {
      o.val = outputValue(p.evaluateIn(this.scope), this.scope);
    } catch (e) {
      // Cerbos reports an output whose expression fails as `val: null`, with the error alongside; never a decision.
      o.val = null;
      o.error = (e as Error).message;
    }
    this.outputs.push(o);
  }
}

/** A scope's permissions as the walk reads them (undefined: only role policies there; an ALLOW carries on). */
export function scopePerm(set: CompiledPolicySet, scope: string): ScopePerm | undefined {
  return set.scopePermissions(scope);
}

/** The scopes the check walks, and whether any policy of each family exists there (else the check decides nothing). */
export function walks(host: RuleTableHost, q: RuleCheckInput): { pScopes: readonly string[]; pExists: boolean; pKey: string; rScopes: readonly string[]; rExists: boolean; rKey: string } {
  const pScopes = host.set.principalScopes(q.principalScope, host.lenientScope);
  const t = host.target(q.kind, q.version, q.resourceScope);
  const pExists = pScopes.some((s) => host.set.hasPrincipalPoliciesAt(q.principalVersion, s));
  // the key names the principal walk's policy only when some principal policy is on the way (walk() reads it then)
  const pKey = pExists ? principalPolicyKey(q.principal.id, q.principalVersion, pScopes[0]!) : '';
  return { pScopes, pExists, pKey, rScopes: t.scopes, rExists: t.exists, rKey: t.policyKey };
}

// ------------------------------------------------------------------------------------------------ the walk

type Outcome = Effect | 'NO_MATCH';
interface Info {
  effect: Outcome;
  policy: string;
  scope: string;
  rule?: string | undefined;
  reason?: 'rule' | 'role_policy' | 'condition_error' | undefined;
}

/** A role and the parent roles role policies at exactly `scope` give it, transitively (Cerbos AddParentRoles). */
export function withParents(host: RuleTableHost, scope: string, roles: readonly string[]): string[] {
  if (!host.set.hasRolePolicies) return [...roles];
  const parents = host.set.parentRoles(scope);
  const out = [...roles];
  for (const r of roles) {
    const seen = new Set<string>([r]);
    const todo = [r];
    while (todo.length > 0) {
      for (const p of parents.get(todo.pop()!) ?? []) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push(p);
        todo.push(p);
      }
    }
  }
  return out;
}

export interface RuleCheckInput {
  principal: Principal;
  kind: string;
  /** resource policy version (also the version principal rules are looked up at, as in Cerbos) */
  version: string;
  principalVersion: string;
  principalScope: string;
  resourceScope: string;
}

/** One family's walk: its scopes, and the outcome when no rule decides (naming its policy if one is on the way). */
export interface WalkIn {
  readonly principal: boolean;
  readonly scopes: readonly string[];
  readonly none: Readonly<Info>;
}
export function walkIn(principal: boolean, scopes: readonly string[], exists: boolean, main: string): WalkIn {
  return { principal, scopes, none: Object.freeze({ effect: NO_MATCH, policy: exists ? main : NO_MATCH, scope: '' }) };
}

/**
 * What a check walks that depends only on its shape (kind, version, resource scope, the principal's one role) where
 * no principal policy exists: the resource walk (none: no policy on the way), the queried roles, the roles with their
 * parents, the resource policy at each scope walked.
 */
export interface CheckShape {
  readonly kind: string;
  readonly version: string;
  readonly scope: string;
  readonly role: string;
  readonly walks: readonly WalkIn[];
  readonly roleQueries: readonly (readonly string[])[];
  readonly including: ReadonlySet<string>;
  readonly policies: readonly (CompiledResourcePolicy | undefined)[];
  /** walkList's answer for the shape (undefined: no policy on the way) */
  readonly walked: { list: readonly WalkIn[]; rScopes: readonly string[] } | undefined;
  /** the permissions of each scope of the resource walk (scopePerm) */
  readonly perms: readonly (ScopePerm | undefined)[];
  /** per scope, per derived role of its resource policy: whether it may apply to `including` (eligibleDrs) */
  readonly eligible: readonly (readonly boolean[])[];
  /** the rows of the action asked last (a check of one action asks the same again and again) */
  lastAction?: string;
  lastRows?: readonly (readonly Binding[])[];
}

/** Whether each derived role may apply to roles `including`: it names any parent role, or one of them. */
export function eligibleDrs(drs: readonly CompiledDerivedRole[], including: ReadonlySet<string>): boolean[] {
  return drs.map((dr) => dr.anyParent || hasAny(dr.parentRoles, including));
}

/**
 * A decision: without explanations, exactly the ActionEffect the result reports (a fresh object of this check), with
 * the deciding rule when the check names it (CheckOptions.decidingRule).
 */
function decided(st: RuleCheck, effect: Effect, policy: string, scope: string, rule: string, reason: NonNullable<Info['reason']>): Info {
  return st.x ? { effect, policy, scope, rule, reason } : st.rules ? { effect, policy, scope, rule } : { effect, policy, scope };
}

/** Walk one role (or, for principal policies, the principal) up a scope chain for one action. ERR: strict denial. */
/** `shape`, `rows`: a resource walk of a check shape, with the rows of each of its scopes for `action`. */
function walk(host: RuleTableHost, st: RuleCheck, q: RuleCheckInput, w: WalkIn, roles: readonly string[], action: string, shape?: CheckShape, rows?: readonly (readonly Binding[])[]): Readonly<Info> | Info[] {
  const x = st.x;
  let hasAllow: string | undefined;
  for (let i = 0; i < w.scopes.length; i++) {
    const s = w.scopes[i]!;
    if (!w.principal) {
      const p = shape ? shape.policies[i] : host.set.resourcePolicy(q.kind, q.version, s);
      st.enterScope(s, p?.derivedRoles ?? NO_DRS, (st.including ??= host.includingRoles(q.resourceScope, q.principal.roles)), shape?.eligible[i]);
    }
    const bindings = rows ? rows[i]! : w.principal ? principalRows(host.set, q.principal.id, q.kind, q.version, s, action) : host.rowsOf(q.kind, q.version, s, action, roles);
    for (const b of bindings) {
      const ok = st.evaluate(b);
      if (x) explainRow(x, st, b, action, ok, w.principal ? undefined : roles[0]);
      if (ok === ERR) return [decided(st, 'EFFECT_DENY', b.origin, s, b.src, 'condition_error')];
      if (ok === SKIP) continue;
      st.output(b, action, ok);
      if (!ok) continue;
      if (b.effect === 'EFFECT_ALLOW') hasAllow ??= b.src;
      else if (b.effect === 'EFFECT_DENY') {
        return decided(st, 'EFFECT_DENY', b.fromRole ? b.origin : w.none.policy, s, b.src, b.fromRole ? 'role_policy' : 'rule');
      }
    }
    if (hasAllow !== undefined) {
      const perm = shape ? shape.perms[i] : scopePerm(host.set, s);
      if (perm === 'CONSENT') hasAllow = undefined;
      else if (perm === 'OVERRIDE') return decided(st, 'EFFECT_ALLOW', w.none.policy, s, hasAllow, 'rule');
    }
  }
  return w.none;
}

/** Explain only: how a row fared (a failure, even one lenient evaluation took as false, is reported as an error). */
function explainRow(x: Explainer, st: RuleCheck, b: Binding, action: string, ok: boolean | typeof SKIP | typeof ERR, role: string | undefined): void {
  if (x.fromDrNotHeld) {
    // a cached false that was a derived role not holding: the walk took it as false (as Cerbos's cache does: the
    // rule's conditionNotMet output applies), the explanation names the derived role as for the first action
    x.fromDrNotHeld = false; // read once, for the row just evaluated
    if (ok === false) ok = SKIP;
  }
  const failed = ok === ERR || (ok !== true && st.failedIn !== undefined);
  const outcome = failed ? 'error' : ok === true ? 'matched' : ok === SKIP ? 'derived_role_not_activated' : 'condition_not_met';
  const src = (failed && st.failedIn === 'dr') || ok === SKIP ? b.dr?.conditionSource : ok !== true ? b.condSrc : undefined;
  const c: ConsideredRule = { rule: b.src, effect: b.effect ?? 'EFFECT_ALLOW', outcome };
  if (role !== undefined) c.role = role;
  if (b.dr) c.derivedRoles = [b.dr.name];
  if (src !== undefined) c.condition = readableCondition(src)!;
  if (failed) c.error = x.lastError ?? 'error';
  x.consider(action, c);
}

/** Explain only: the resource rules for `action` the walk did not evaluate: for roles the principal lacks, or not reached. */
function explainUnconsidered(host: RuleTableHost, x: Explainer, q: RuleCheckInput, scopes: readonly string[], roleQueries: readonly (readonly string[])[], action: string): void {
  const queried = new Set(roleQueries.flat());
  const has = (r: string) => r === '*' || queried.has(r);
  for (const s of scopes) {
    const p = host.set.resourcePolicy(q.kind, q.version, s);
    for (const r of p?.rules ?? []) {
      if (!r.matchAction(action) || x.has(action, r.src)) continue;
      const reachable = [...r.roles].some(has) || r.derivedRoles.some((d) => d.anyParent || [...d.parentRoles].some(has));
      const c: ConsideredRule = { rule: r.src, effect: r.effect, outcome: reachable ? 'not_reached' : 'role_not_matched' };
      if (!reachable && r.roles.size > 0) c.roles = r.anyRole ? ['*'] : [...r.roles];
      if (!reachable && r.derivedRoles.length > 0) c.derivedRoles = r.derivedRoles.map((d) => d.name);
      x.consider(action, c);
    }
  }
}

export const NO_DRS: readonly CompiledDerivedRole[] = Object.freeze([]);

/** The walks of a check, principal policies first; none when no policy of either family is on the way. */
function walkList(host: RuleTableHost, q: RuleCheckInput, shape: CheckShape | undefined): { list: readonly WalkIn[]; rScopes: readonly string[] } | undefined {
  if (shape) return shape.walked;
  const w = walks(host, q);
  if ((w.pScopes.length === 0 && w.rScopes.length === 0) || (!w.pExists && !w.rExists)) return undefined;
  const resource = walkIn(false, w.rScopes, w.rExists, w.rKey);
  // Without any principal policy the principal walk meets no row and decides nothing: it is not walked.
  return { list: host.set.hasPrincipalPolicies ? [walkIn(true, w.pScopes, w.pExists, w.pKey), resource] : [resource], rScopes: w.rScopes };
}

const NO_POLICY: ActionEffect = Object.freeze({ effect: 'EFFECT_DENY', policy: NO_MATCH, scope: '' });

/** Decide every action (Cerbos ruletable check), in the order asked; NO_MATCH where no policy applies at all. */
export function checkRules(host: RuleTableHost, st: RuleCheck, q: RuleCheckInput, actions: readonly string[]): Record<string, ActionEffect> {
  const effects: Record<string, ActionEffect> = {};
  const shape = host.shape(q.kind, q.version, q.resourceScope, q.principal.roles);
  const walked = walkList(host, q, shape);
  if (walked === undefined) {
    for (const a of actions) effects[a] = { ...NO_POLICY };
    return effects;
  }
  if (shape) st.including = shape.including;
  const roleQueries = shape ? shape.roleQueries : q.principal.roles.map((r) => host.queriedRoles(q.resourceScope, r));
  for (const action of actions) {
    const rows = shape ? (shape.lastAction === action ? shape.lastRows : host.shapeRows(shape, action)) : undefined;
    let ae: Readonly<Info> = START;
    policies: for (const w of walked.list) {
      // (every walk starts with ae.effect NO_MATCH: a walk that decided ended the loop)
      for (let i = 0, n = w.principal ? 1 : roleQueries.length; i < n; i++) {
        const r = w.principal ? walk(host, st, q, w, roleQueries[i]!, action) : walk(host, st, q, w, roleQueries[i]!, action, shape, rows);
        if (Array.isArray(r)) {
          ae = r[0]!;
          break policies;
        }
        if (ae.effect === NO_MATCH) ae = r;
        if (r.effect === 'EFFECT_ALLOW') {
          ae = r;
          break;
        }
        // Cerbos 0.55 then lets a DENY replace a first outcome named NO_MATCH_FOR_SCOPE_PERMISSIONS; no walk names
        // that policy (nor does Cerbos's since 0.41, #2500: the only rows flagged for it are the role policies' implicit
        // DENYs, which end the walk as DENYs named after the role policy first), so Baton has no such branch.
      }
      if (ae.effect !== NO_MATCH) break;
    }
    if (st.x) explainUnconsidered(host, st.x, q, walked.rScopes, roleQueries, action);
    // a decision without explanations is already this check's own ActionEffect (decided)
    if (ae.effect !== NO_MATCH && !st.x) effects[action] = ae as ActionEffect;
    else {
      const e: ActionEffect = { effect: ae.effect === NO_MATCH ? 'EFFECT_DENY' : ae.effect, policy: ae.policy, scope: ae.scope };
      if (st.rules && ae.rule !== undefined) e.rule = ae.rule;
      effects[action] = st.x && ae.reason ? st.x.decided(e, ae.reason, ae.rule) : e;
    }
  }
  return effects;
}
const START: Readonly<Info> = Object.freeze({ effect: NO_MATCH, policy: '', scope: '' });
