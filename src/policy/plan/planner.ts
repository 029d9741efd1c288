// Query planning (Cerbos PlanResources): for a principal, a resource kind and action(s), the set of resources the
// check would allow, as ALWAYS_ALLOWED, ALWAYS_DENIED, or a condition over the resource for the data layer.
//
// Two builders share the rule lookup of the check (EngineCore: scopes, role policies, derived roles):
// - lenient (Cerbos's default evaluation): the plan tree has the shape Cerbos's planner gives (per role: allows OR'ed
//   across scopes, denies negated and AND'ed, a parent scope's DENY gated by the child scopes' ALLOWs), except where
//   Cerbos's planner disagrees with its own check (P-03/P-04 in ../shared/spec/POLICY-ENGINE.md): roles combine as the
//   check combines them (any role's ALLOW wins over another role's DENY), an unconditional principal-policy DENY
//   stays a DENY, a role policy that allows an action under several conditions allows it when any holds.
// - strict (Baton's default): a resource is allowed only if the check would reach an ALLOW without any condition on
//   the way failing to evaluate; the plan spells out the check's decision list (see buildStrict).
import * as z from 'zod';
import { CelScope, type CelRequest } from '../cel/index.js';
import type { MatchNode } from '../cel/index.js';
import type { CompiledDerivedRole, CompiledResourcePolicy, ParamSet } from '../compile.js';
import { attrSchema, AuxSchema, fastPrincipal, PrincipalSchema, scopeSchema, validate as validateField, validAux, type EngineCore, type PlanEntry, type RoleUnit, type Target } from '../engine.js';
import { PolicyInputError } from '../errors.js';
import type { Principal } from '../types.js';
import { ConditionPlanner, qToExpr, sAnd, sNot, sOr, type Mode, type Outcome } from './conditions.js';
import { constBool, mergeWithAnd, qAdd, qAnd, qFalse, qNot, qOr, qTrue, simplify, toFilter, type QNode } from './filter.js';
import { lit, op, type Node } from './ir.js';
import { PartialEvaluator } from './partial.js';
import type { PlanFilter, PlanInput, PlanOptions, PlanResult, PlanRule } from './types.js';

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

// ------------------------------------------------------------------------------------------------ input

// engine.ts imports this module: its schemas are read when a plan is validated, never while the modules load
let schemas: { resource: z.ZodType<ValidInput['resource']>; action: z.ZodType<string>; actions: z.ZodType<string[]> } | undefined;
const planSchemas = () =>
  (schemas ??= {
    resource: z.object({ kind: z.string().min(1), attr: attrSchema.optional(), policyVersion: z.string().optional(), scope: scopeSchema.optional() }),
    action: z.string().min(1),
    actions: z.array(z.string().min(1)).min(1),
  });

interface ValidInput {
  principal: Principal;
  resource: { kind: string; attr?: Record<string, unknown> | undefined; policyVersion?: string | undefined; scope?: string | undefined };
  actions: string[];
  auxData?: PlanInput['auxData'];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ident = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const plainScope = (v: unknown) => v === undefined || (typeof v === 'string' && v !== '.' && /^([\w-]+(\.[\w-]+)*)?$/.test(v));
const optStr = (v: unknown) => v === undefined || typeof v === 'string';
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every(ident);
function fastResource(r: unknown): r is ValidInput['resource'] {
  return isRecord(r) && ident(r.kind) && (r.attr === undefined || isRecord(r.attr)) && optStr(r.policyVersion) && plainScope(r.scope);
}

/** The check's validation (fast path for the common well-formed input; the schemas word the errors, naming the field). */
function validate(input: PlanInput): ValidInput {
  if (!isRecord(input)) throw new PolicyInputError('input', 'expected an object');
  const principal = fastPrincipal(input.principal) ? input.principal : validateField(PrincipalSchema, input.principal, 'principal');
  const resource = fastResource(input.resource) ? input.resource : validateField(planSchemas().resource, input.resource, 'resource');
  if ((input.action === undefined) === (input.actions === undefined)) throw new PolicyInputError('actions', 'exactly one of action and actions is required');
  const actions = input.actions !== undefined ? (strings(input.actions) ? input.actions : validateField(planSchemas().actions, input.actions, 'actions')) : [ident(input.action) ? input.action : validateField(planSchemas().action, input.action, 'action')];
  const auxData = validAux(input.auxData) ? input.auxData : validateField(AuxSchema, input.auxData, 'auxData');
  const out: ValidInput = { principal, resource, actions: actions.length === 1 ? actions : [...new Set(actions)] };
  if (auxData && (auxData.jwt !== undefined || auxData.jwts !== undefined)) out.auxData = auxData;
  return out;
}

// ------------------------------------------------------------------------------------------------ per request

/** What a builder needs for one request. */
class Request {
  readonly conditions: ConditionPlanner;
  readonly version: string;
  readonly scope: string;
  readonly t: Target;
  readonly units: RoleUnit[];
  /** roles derived roles may activate for (principal roles, base roles, parents at the requested scope) */
  readonly drRoles: readonly string[];
  readonly rules: PlanRule[] = [];
  private runtimeLists: Map<CompiledResourcePolicy, Node> | undefined;

  constructor(
    readonly core: EngineCore,
    readonly input: ValidInput,
    readonly mode: Mode,
    now: Date,
  ) {
    const { principal, resource } = input;
    this.version = resource.policyVersion || core.defaultVersion;
    this.scope = resource.scope ?? '';
    const request: CelRequest = {
      principal: { id: principal.id, roles: principal.roles, attr: principal.attr ?? EMPTY, policyVersion: principal.policyVersion || core.defaultVersion, scope: principal.scope ?? '' },
      // the resource id, version-independent fields and unlisted attributes are unknown; kind and scope are known
      resource: { kind: resource.kind, id: '', attr: resource.attr ?? EMPTY, policyVersion: this.version, scope: this.scope },
      auxData: input.auxData?.jwt === undefined && input.auxData?.jwts === undefined ? undefined : input.auxData,
    };
    const scope = new CelScope(request, now, core.globals);
    this.conditions = new ConditionPlanner(new PartialEvaluator({ scope, attrs: resource.attr }), scope, mode);
    this.t = core.target(resource.kind, this.version, this.scope);
    this.units = principal.roles.map((r) => core.unit(r, this.version, this.scope));
    this.drRoles = core.set.role.size === 0 ? principal.roles : core.drRoles(principal.roles, this.units, this.scope);
  }

  note(rule: string, action: string, effect: PlanRule['effect'], node: QNode): void {
    if (constBool(node) === false) return;
    for (const r of this.rules) if (r.rule === rule && r.action === action) return;
    this.rules.push({ rule, action, effect });
  }

  private drNodes: Map<CompiledDerivedRole, QNode> | undefined;
  private outcomes: Map<object, Outcome> | undefined;
  /** A derived role's condition (derived-role conditions see an empty runtime.effectiveDerivedRoles). */
  drNode(dr: CompiledDerivedRole): QNode {
    let n = this.drNodes?.get(dr);
    if (n === undefined) (this.drNodes ??= new Map()).set(dr, (n = this.conditions.lenient(dr.condition?.tree, dr.params)));
    return n;
  }
  drOutcome(dr: CompiledDerivedRole): Outcome {
    let o = this.outcomes?.get(dr);
    if (o === undefined) (this.outcomes ??= new Map()).set(dr, (o = this.conditions.strict(dr.condition?.tree, dr.params)));
    return o;
  }
  /** A rule's condition outcome, once per request (a rule can be met for several roles and actions). */
  ruleCondition(rule: { condition?: { tree: MatchNode } }, params: ParamSet, runtime?: () => Node): Outcome {
    let o = this.outcomes?.get(rule);
    if (o === undefined) (this.outcomes ??= new Map()).set(rule, (o = this.conditions.strict(rule.condition?.tree, params, runtime)));
    return o;
  }

  /**
   * `runtime.effectiveDerivedRoles` inside policy `p`: `(c1 ? ["a"] : []) + ((c2 ? ["b"] : []) + …)` over the derived
   * roles of `p` the principal's roles can activate, sorted by name (Cerbos's construction).
   */
  runtimeRoles(p: CompiledResourcePolicy): Node {
    let list = this.runtimeLists?.get(p);
    if (list === undefined) {
      const drs = p.derivedRoles.filter((d) => d.anyParent || this.drRoles.some((r) => d.parentRoles.has(r))).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const items = drs.map((d) => {
        const c = this.mode === 'lenient' ? this.drNode(d) : this.drOutcome(d).t;
        return op('?:', qToExpr(c), lit([d.name]), lit([]));
      });
      const nest = (xs: Node[]): Node => (xs.length === 1 ? xs[0]! : op('+', xs[0]!, nest(xs.slice(1))));
      list = items.length === 0 ? lit([]) : nest(items);
      (this.runtimeLists ??= new Map()).set(p, list);
    }
    return list;
  }

  /** The entries (rules for `role` and `action`) of policy `p`, the way the check's scope walk sees them. */
  entries(p: CompiledResourcePolicy, action: string, role: string): readonly PlanEntry[] {
    for (const a of this.input.actions) if (this.core.plan(p, a, role).length > 0) return this.core.plan(p, action, role);
    return [];
  }
}

// ------------------------------------------------------------------------------------------------ lenient

interface RoleNodes {
  allow: QNode | undefined;
  deny: QNode | undefined;
}

/** Cerbos's gating: a parent scope's DENY applies only where no child OVERRIDE scope allowed. */
function gate(childAllow: QNode | undefined, deny: QNode | undefined): QNode | undefined {
  if (deny === undefined || childAllow === undefined) return deny;
  const inv = qNot(childAllow);
  return constBool(deny) === true ? inv : qAnd([inv, deny]);
}

function lenientRole(req: Request, role: string, action: string, matched: { scope?: string }): RoleNodes {
  let allow: QNode | undefined;
  let deny: QNode | undefined;
  let pending = false;
  let childAllow: QNode | undefined;
  for (const p of req.t.rps) {
    if (constBool(childAllow) === true) break;
    const entries = req.entries(p, action, role);
    if (entries.length === 0) continue;
    let scopeAllow: QNode | undefined;
    let scopeDeny: QNode | undefined;
    const runtime = () => req.runtimeRoles(p);
    // Under parental consent a conditional ALLOW decides nothing when it holds and denies when it is false (Cerbos
    // writes it as a DENY of the negated condition); an unconditional ALLOW needs the parent scope's ALLOW.
    const consent: { holds: QNode; refuses: QNode }[] = [];
    let consentGiven = false;
    for (const e of entries) {
      const cond = req.conditions.lenient(e.rule.condition?.tree, p.params, runtime);
      const conditional = e.rule.condition !== undefined;
      const rows: { row: QNode; refuses: QNode }[] = e.always
        ? [{ row: cond, refuses: qNot(cond) }]
        : e.drs.map((d) => {
            const dn = req.drNode(d);
            return conditional ? { row: { lo: 'and' as const, nodes: [cond, dn] }, refuses: { lo: 'and' as const, nodes: [qNot(cond), dn] } } : { row: dn, refuses: qFalse() };
          });
      for (const { row, refuses } of rows) {
        req.note(e.rule.src, action, e.rule.effect, row);
        if (e.rule.effect === 'EFFECT_ALLOW') {
          if (p.perm === 'CONSENT' && conditional) consent.push({ holds: row, refuses });
          else {
            scopeAllow = qAdd(scopeAllow, row, qOr);
            if (p.perm === 'CONSENT') consentGiven = true;
          }
        } else if (constBool(row) !== false) scopeDeny = qAdd(scopeDeny, row, qOr);
      }
    }
    if (consent.length > 0 && !consentGiven) {
      // the check refuses when some ALLOW evaluated to false and none held
      const refused =
        consent.length === 1
          ? consent[0]!.refuses
          : qAnd([qOr(consent.map((c) => c.refuses))!, ...consent.map((c) => qNot(c.holds))]);
      if (refused !== undefined && constBool(refused) !== false) scopeDeny = qAdd(scopeDeny, refused, qOr);
    }
    scopeDeny = gate(childAllow, scopeDeny);
    deny = qAdd(deny, scopeDeny, qOr);
    if (scopeAllow !== undefined) {
      if (allow === undefined) allow = scopeAllow;
      else if (pending) {
        allow = qAnd([allow, scopeAllow]);
        pending = false;
      } else allow = qOr([allow, scopeAllow]);
      if (p.perm === 'CONSENT') pending = true;
    }
    if ((scopeDeny !== undefined || scopeAllow !== undefined) && p.perm === 'OVERRIDE') matched.scope = p.scope;
    if (scopeAllow !== undefined && p.perm === 'OVERRIDE') childAllow = qAdd(childAllow, scopeAllow, qOr);
  }
  if (pending) allow = undefined;
  if (constBool(deny) === true) return { allow: qFalse(), deny: undefined };
  return { allow, deny };
}

/** Role policies narrow a role: the action must be allowed by a rule of each of them (any rule whose condition holds). */
function narrowing(req: Request, unit: RoleUnit, action: string, strictMode: boolean): { allow: QNode; reject: QNode } {
  const allows: QNode[] = [];
  const rejects: QNode[] = [];
  for (const rp of unit.narrowing) {
    const ts: QNode[] = [];
    const fs: QNode[] = [];
    for (const rule of rp.rules) {
      if (!rule.matchResource(req.input.resource.kind) || !rule.matchAction(action)) continue;
      if (strictMode) {
        const o = req.conditions.strict(rule.condition?.tree, rp.params);
        ts.push(o.t);
        fs.push(o.f);
      } else {
        const t = req.conditions.lenient(rule.condition?.tree, rp.params);
        ts.push(t);
        fs.push(sNot(t));
      }
      req.note(rule.src, action, 'EFFECT_ALLOW', ts[ts.length - 1]!);
    }
    allows.push(sOr(ts));
    rejects.push(sAnd(fs));
  }
  return { allow: sAnd(allows), reject: sOr(rejects) };
}

function lenientAction(req: Request, action: string, matched: { scope?: string }): { root: QNode | undefined; hasAllow: boolean } {
  const { core, t, input } = req;
  let resource: QNode | undefined;
  let hasNodes = false;
  if (t.exists) {
    for (const unit of req.units) {
      let narrow: QNode | undefined;
      if (unit.narrowing.length > 0) {
        if (core.roleRelevant(t, unit, input.resource.kind, req.version, req.scope) === 0) continue;
        narrow = narrowing(req, unit, action, false).allow;
      }
      let unitAllow: QNode | undefined;
      for (const base of unit.baseRoles) {
        const r = lenientRole(req, base, action, matched);
        if (r.allow !== undefined || r.deny !== undefined) hasNodes = true;
        if (r.allow === undefined) continue;
        const roleAllow = r.deny === undefined ? r.allow : qAnd([qNot(r.deny), r.allow]);
        unitAllow = qAdd(unitAllow, roleAllow, qOr);
      }
      if (unitAllow === undefined) continue;
      if (narrow !== undefined && constBool(narrow) !== true) unitAllow = qAnd([unitAllow, narrow]);
      resource = qAdd(resource, unitAllow, qOr);
    }
  }
  // principal policies: one pass, role-agnostic
  let pAllow: QNode | undefined;
  let pDeny: QNode | undefined;
  const pc = core.set.principal.size > 0 ? core.principalChain(input.principal.id, req.version, input.principal.policyVersion || core.defaultVersion, input.principal.scope ?? '') : undefined;
  if (pc) {
    let childAllow: QNode | undefined;
    for (const p of pc.pps) {
      let scopeAllow: QNode | undefined;
      let scopeDeny: QNode | undefined;
      for (const rule of p.rules) {
        if (!rule.matchResource(input.resource.kind) || !rule.matchAction(action)) continue;
        const cond = req.conditions.lenient(rule.condition?.tree, p.params);
        req.note(rule.src, action, rule.effect, cond);
        if (rule.effect === 'EFFECT_DENY') {
          if (constBool(cond) !== false) scopeDeny = qAdd(scopeDeny, cond, qOr);
        } else if (p.perm === 'CONSENT') {
          // an ALLOW that needs the parent's consent decides nothing when it holds, and DENY when it does not
          const inv = sNot(cond);
          if (constBool(inv) !== false) scopeDeny = qAdd(scopeDeny, inv, qOr);
        } else scopeAllow = qAdd(scopeAllow, cond, qOr);
      }
      scopeDeny = gate(childAllow, scopeDeny);
      pDeny = qAdd(pDeny, scopeDeny, qOr);
      pAllow = qAdd(pAllow, scopeAllow, qOr);
      if ((scopeDeny !== undefined || scopeAllow !== undefined) && p.perm === 'OVERRIDE') matched.scope = p.scope;
      if (scopeAllow !== undefined) childAllow = qAdd(childAllow, scopeAllow, qOr);
    }
    // Cerbos's planner turns an unconditional principal DENY into "this policy type does not allow", so a resource
    // policy can still allow; the check denies (P-03): here the DENY stays.
    if (constBool(pDeny) === true) return { root: qFalse(), hasAllow: true };
  }
  let root = resource;
  const hasAllow = pAllow !== undefined || resource !== undefined;
  if (pAllow !== undefined) root = root === undefined ? pAllow : qOr([pAllow, root]);
  if (pDeny !== undefined) root = root === undefined ? qNot(pDeny) : qAnd([qNot(pDeny), root]);
  if (root === undefined && hasNodes) root = qFalse();
  return { root, hasAllow };
}

// ------------------------------------------------------------------------------------------------ strict

/** Outcomes of evaluating a rule (or a role, a unit, a principal policy scope): allowed / rejected without failure. */
interface Decision {
  allow: QNode;
  reject: QNode;
}

interface RuleOutcome {
  match: QNode;
  /** evaluated (or skipped because no derived role applies) and not matched, without failure */
  noMatch: QNode;
  /** evaluated and false (a CONSENT scope counts this as a refusal) */
  evalFalse: QNode;
  /** skipped: none of its derived roles apply */
  skip: QNode;
}

function ruleOutcome(req: Request, e: PlanEntry, p: CompiledResourcePolicy): RuleOutcome {
  const c = req.ruleCondition(e.rule, p.params, () => req.runtimeRoles(p));
  if (e.always) return { match: c.t, noMatch: c.f, evalFalse: c.f, skip: qFalse() };
  const drs = e.drs.map((d) => req.drOutcome(d));
  const applies = sOr(drs.map((d) => d.t));
  const skip = sAnd(drs.map((d) => d.f));
  const evalFalse = sAnd([applies, c.f]);
  return { match: sAnd([applies, c.t]), noMatch: sOr([skip, evalFalse]), evalFalse, skip };
}

/**
 * One base role's walk over the scopes, as the check walks it, with every condition's failure denying: returns when
 * the role allows, and when it refuses (denies, or finds no rule) without any failure.
 */
function strictRole(req: Request, role: string, action: string, matched: { scope?: string }): Decision {
  const steps: { p: CompiledResourcePolicy; rules: { allow: boolean; o: RuleOutcome }[] }[] = [];
  for (const p of req.t.rps) {
    const entries = req.entries(p, action, role);
    if (entries.length === 0) continue;
    const rules = entries.map((e) => {
      const o = ruleOutcome(req, e, p);
      req.note(e.rule.src, action, e.rule.effect, o.match);
      return { allow: e.rule.effect === 'EFFECT_ALLOW', o };
    });
    if (p.perm === 'OVERRIDE') matched.scope = p.scope;
    steps.push({ p, rules });
  }
  // From the last scope back to the first: the outcome of the walk from step k on, without (`free`) or with
  // (`denied`) a DENY carried from a CONSENT scope.
  let free: Decision = NO_RULE;
  let denied: Decision = NO_RULE;
  for (let k = steps.length - 1; k >= 0; k--) {
    const { p, rules } = steps[k]!;
    const defined = sAnd(rules.map((r) => sOr([r.o.match, r.o.noMatch])));
    const denies = rules.filter((r) => !r.allow);
    const allows = rules.filter((r) => r.allow);
    const noDeny = sAnd(denies.map((r) => r.o.noMatch));
    const someDeny = sAnd([defined, sOr(denies.map((r) => r.o.match))]);
    const someAllow = sOr(allows.map((r) => r.o.match));
    if (p.perm === 'OVERRIDE') {
      const none = sAnd(rules.map((r) => r.o.noMatch));
      denied = { allow: qFalse(), reject: defined };
      free = { allow: sOr([sAnd([defined, noDeny, someAllow]), sAnd([none, free.allow])]), reject: sOr([someDeny, sAnd([none, free.reject])]) };
    } else {
      // parental consent: an ALLOW rule evaluated to false (and none true) denies; otherwise the parent decides
      const refused = sAnd([defined, sOr(allows.map((r) => r.o.evalFalse)), sAnd(allows.map((r) => r.o.noMatch))]);
      const consent = sAnd([defined, sOr([someAllow, sAnd(allows.map((r) => r.o.skip))])]);
      const nextFree = free;
      const carried = denied;
      denied = { allow: qFalse(), reject: sOr([refused, sAnd([consent, carried.reject])]) };
      free = {
        allow: sAnd([consent, noDeny, nextFree.allow]),
        reject: sOr([refused, sAnd([consent, noDeny, nextFree.reject]), sAnd([consent, someDeny, carried.reject])]),
      };
    }
  }
  return free;
}

/** No rule decided: not allowed, refused without failure. */
const NO_RULE: Decision = Object.freeze({ allow: qFalse(), reject: qTrue() }) as Decision;

/** "The first item that does not reject allows": OR over i of (items before i reject) AND item i allows. */
function firstAllow(items: readonly Decision[]): Decision {
  if (items.length === 1) return items[0]!;
  return {
    allow: sOr(items.map((it, i) => sAnd([...items.slice(0, i).map((x) => x.reject), it.allow]))),
    reject: sAnd(items.map((it) => it.reject)),
  };
}

function strictAction(req: Request, action: string, matched: { scope?: string }): { root: QNode; hasRules: boolean } {
  const { core, t, input } = req;
  let resource: Decision = { allow: qFalse(), reject: qTrue() };
  let hasRules = false;
  if (t.exists) {
    const units: Decision[] = req.units.map((unit) => {
      let narrow: Decision | undefined;
      if (unit.narrowing.length > 0) {
        if (core.roleRelevant(t, unit, input.resource.kind, req.version, req.scope) === 0) return { allow: qFalse(), reject: qTrue() };
        narrow = narrowing(req, unit, action, true);
      }
      const bases = firstAllow(unit.baseRoles.map((b) => strictRole(req, b, action, matched)));
      if (!narrow) return bases;
      // a role policy's condition that fails only means "not allowed" (it does not deny the action outright)
      return { allow: sAnd([narrow.allow, bases.allow]), reject: sOr([narrow.reject, sAnd([narrow.allow, bases.reject])]) };
    });
    resource = firstAllow(units);
    hasRules = req.rules.length > 0;
  }
  const pc = core.set.principal.size > 0 ? core.principalChain(input.principal.id, req.version, input.principal.policyVersion || core.defaultVersion, input.principal.scope ?? '') : undefined;
  if (!pc) return { root: resource.allow, hasRules };
  // principal policies first: at the most specific scope where a rule decides, DENY wins; a failing rule denies
  const scopes: { allow: QNode; none: QNode }[] = [];
  for (const p of pc.pps) {
    const rules: { effect: string; o: Outcome }[] = [];
    for (const rule of p.rules) {
      if (!rule.matchResource(input.resource.kind) || !rule.matchAction(action)) continue;
      const o = req.conditions.strict(rule.condition?.tree, p.params);
      req.note(rule.src, action, rule.effect, o.t);
      rules.push({ effect: rule.effect, o });
    }
    if (rules.length === 0) continue;
    hasRules = true;
    if (p.perm === 'OVERRIDE') matched.scope = p.scope;
    const defined = sAnd(rules.map((r) => sOr([r.o.t, r.o.f])));
    const denies = rules.filter((r) => r.effect === 'EFFECT_DENY');
    const allows = rules.filter((r) => r.effect === 'EFFECT_ALLOW');
    if (p.perm === 'OVERRIDE') {
      scopes.push({
        allow: sAnd([defined, sAnd(denies.map((r) => r.o.f)), sOr(allows.map((r) => r.o.t))]),
        none: sAnd(rules.map((r) => r.o.f)),
      });
    } else {
      // an ALLOW needing parental consent decides nothing when it holds and denies when it does not
      scopes.push({ allow: qFalse(), none: sAnd([sAnd(denies.map((r) => r.o.f)), sAnd(allows.map((r) => r.o.t))]) });
    }
  }
  const principalAllow = sOr(scopes.map((s, i) => sAnd([...scopes.slice(0, i).map((x) => x.none), s.allow])));
  const pass = sAnd(scopes.map((s) => s.none));
  return { root: sOr([principalAllow, sAnd([pass, resource.allow])]), hasRules };
}

// ------------------------------------------------------------------------------------------------ entry point

/** Plan resources for `input` (validated here; a malformed input throws PolicyInputError naming the field). */
export function planResources(core: EngineCore, rawInput: PlanInput, opts: PlanOptions = {}): PlanResult {
  const input = validate(rawInput);
  const mode: Mode = core.strict ? 'strict' : 'lenient';
  const req = new Request(core, input, mode, opts.now ?? new Date());
  const base = {
    kind: input.resource.kind,
    policyVersion: req.version,
    scope: req.scope,
    actions: input.actions,
    validationErrors: [] as never[],
  };
  const pc = core.set.principal.size > 0 ? core.principalChain(input.principal.id, req.version, input.principal.policyVersion || core.defaultVersion, input.principal.scope ?? '') : undefined;
  if (!req.t.exists && !pc) {
    return { ...base, filter: { kind: 'KIND_ALWAYS_DENIED' }, filterDebug: 'NO_MATCH', matchedScopes: {}, rules: [] };
  }
  const filters: PlanFilter[] = [];
  const matchedScopes: Record<string, string> = {};
  let policyMatch = false;
  for (const action of input.actions) {
    const matched: { scope?: string } = {};
    let filter: PlanFilter;
    if (mode === 'lenient') {
      const { root, hasAllow } = lenientAction(req, action, matched);
      if (root !== undefined) policyMatch = true;
      filter = root === undefined || !hasAllow ? { kind: 'KIND_ALWAYS_DENIED' } : toFilter(root, false);
    } else {
      const { root, hasRules } = strictAction(req, action, matched);
      if (hasRules) policyMatch = true;
      filter = toFilter(simplify(root), true);
    }
    matchedScopes[action] = matched.scope ?? '';
    filters.push(filter);
  }
  const { filter, debug } = mergeWithAnd(filters);
  const out: PlanResult = { ...base, filter, filterDebug: policyMatch ? debug : 'NO_MATCH', matchedScopes, rules: req.rules };
  if (req.conditions.errors.length > 0) out.evaluationErrors = req.conditions.errors;
  return out;
}

