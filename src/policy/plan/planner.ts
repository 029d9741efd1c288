// Query planning (Cerbos PlanResources): for a principal, a resource kind and action(s), the set of resources the
// check would allow, as ALWAYS_ALLOWED, ALWAYS_DENIED, or a condition over the resource for the data layer.
//
// Two builders share the rule lookup of the check (EngineCore, evaluate.ts: scopes, role policies, derived roles):
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
import type { CompiledResourcePolicy, ParamSet } from '../compile.js';
import type { EngineCore, Target } from '../evaluate.js';
import { attrSchema, AuxSchema, fastPrincipal, ident, isRecord, optStr, plainScope, PrincipalSchema, scopeSchema, validate as validateField, validAux } from '../input.js';
import { withParents, type Binding, type RuleCheckInput } from '../ruletable.js';
import { PolicyInputError } from '../errors.js';
import type { Principal } from '../types.js';
import type { ValidationError } from '../schema-validation.js';
import { ConditionPlanner, qToExpr, sNot, type Mode, type Outcome } from './conditions.js';
import { constBool, mergeWithAnd, simplify, toFilter, type QNode } from './filter.js';
import { lit, op, type Node } from './ir.js';
import { PartialEvaluator } from './partial.js';
import type { PlanFilter, PlanInput, PlanOptions, PlanResult, PlanRule } from './types.js';
import { planAction, type WalkPlanner } from './walk.js';

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

// ------------------------------------------------------------------------------------------------ input

// the plan's own input schemas, made when a plan is first validated
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

/** What the plan builder needs for one request: condition outcomes over the unknown resource, once each. */
class Request implements WalkPlanner {
  readonly conditions: ConditionPlanner;
  readonly version: string;
  readonly scope: string;
  readonly t: Target;
  /** roles derived roles may activate for (the principal's roles and the parents role policies at the requested scope give them) */
  readonly drRoles: readonly string[];
  readonly rules: PlanRule[] = [];
  private runtimeLists: Map<CompiledResourcePolicy, Node> | undefined;
  private readonly outcomes = new Map<object, Outcome>();

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
      principal: { id: principal.id, roles: principal.roles, attr: principal.attr ?? EMPTY, policyVersion: principal.policyVersion ?? '', scope: principal.scope ?? '' },
      // the resource id, version-independent fields and unlisted attributes are unknown; kind and scope are known
      resource: { kind: resource.kind, id: '', attr: resource.attr ?? EMPTY, policyVersion: resource.policyVersion ?? '', scope: this.scope },
      auxData: input.auxData?.jwt === undefined && input.auxData?.jwts === undefined ? undefined : input.auxData,
    };
    const scope = new CelScope(request, now, core.globals);
    this.conditions = new ConditionPlanner(new PartialEvaluator({ scope, attrs: resource.attr }), scope, mode);
    this.t = core.target(resource.kind, this.version, this.scope);
    this.drRoles = withParents(core, this.scope, principal.roles);
  }

  note(b: Binding, action: string, matched: QNode): void {
    if (constBool(matched) === false || b.effect === undefined || b.key === 'NOEVAL') return;
    for (const r of this.rules) if (r.rule === b.src && r.action === action) return;
    this.rules.push({ rule: b.src, action, effect: b.effect });
  }

  /** Strict: true/false without failure. Lenient: a failing expression is false, so `f` is "not true" (Cerbos's shape). */
  private cond(tree: MatchNode | undefined, params: ParamSet, runtime?: () => Node): Outcome {
    if (this.mode === 'strict') return this.conditions.strict(tree, params, runtime);
    const t = this.conditions.lenient(tree, params, runtime);
    return { t, f: sNot(t) };
  }
  /** A derived role's condition outcome on a row at `scope` (`runtime` shows that scope's derived roles, as in the check). */
  drOutcome(b: Binding, scope: string): Outcome {
    const dr = b.dr!;
    const key = `${scope}\u0000${dr.name}`;
    let byDr = this.drOutcomes.get(dr);
    if (!byDr) this.drOutcomes.set(dr, (byDr = new Map()));
    let o = byDr.get(key);
    if (o === undefined) {
      const p = this.core.set.resourcePolicy(this.input.resource.kind, this.version, scope);
      byDr.set(key, (o = this.cond(dr.condition?.tree, dr.params, () => (p ? this.runtimeRoles(p) : lit([])))));
    }
    return o;
  }
  private readonly drOutcomes = new Map<object, Map<string, Outcome>>();
  /** A row's condition outcome, once per request (`runtime` shows the derived roles of the scope's resource policy). */
  outcome(b: Binding, scope: string): Outcome {
    let o = this.outcomes.get(b);
    if (o === undefined) {
      const p = this.core.set.resourcePolicy(this.input.resource.kind, this.version, scope);
      this.outcomes.set(b, (o = this.cond(b.cond?.tree, b.params ?? NO_PARAMS, () => (p ? this.runtimeRoles(p) : lit([])))));
    }
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
      const items = drs.map((d) => op('?:', qToExpr(this.cond(d.condition?.tree, d.params).t), lit([d.name]), lit([])));
      const nest = (xs: Node[]): Node => (xs.length === 1 ? xs[0]! : op('+', xs[0]!, nest(xs.slice(1))));
      list = items.length === 0 ? lit([]) : nest(items);
      (this.runtimeLists ??= new Map()).set(p, list);
    }
    return list;
  }
}
const NO_PARAMS: ParamSet = Object.freeze({ id: -1, constants: EMPTY, vars: [] });

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
    validationErrors: [] as ValidationError[],
  };
  if (!req.t.exists && !core.hasPrincipalRules(input.principal.id, req.version, input.principal.scope ?? '')) {
    // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
    const none = { __proto__: Object.prototype, ...base, filter: { kind: 'KIND_ALWAYS_DENIED' as const }, filterDebug: 'NO_MATCH', matchedScopes: {}, rules: [] };
    return none;
  }
  if (core.validating) {
    // a plan's resource attributes are partial: their `required` errors are left out (as Cerbos)
    const errors = core.validationErrors(req.t, input.principal.attr, input.resource.attr, input.actions, true);
    if (errors !== undefined) {
      base.validationErrors = errors;
      if (core.reject) {
        const rejected = { __proto__: Object.prototype, ...base, filter: { kind: 'KIND_ALWAYS_DENIED' as const }, filterDebug: '(false)', matchedScopes: {}, rules: [] };
        return rejected;
      }
    }
  }
  const filters: PlanFilter[] = [];
  const matchedScopes: Record<string, string> = {};
  let policyMatch = false;
  const q: RuleCheckInput = {
    principal: input.principal,
    kind: input.resource.kind,
    version: req.version,
    principalVersion: input.principal.policyVersion || core.defaultVersion,
    principalScope: input.principal.scope ?? '',
    resourceScope: req.scope,
  };
  for (const action of input.actions) {
    const { allow, rows, scope } = planAction(core, req, q, action, mode === 'lenient');
    if (rows > 0) policyMatch = true;
    matchedScopes[action] = scope;
    filters.push(toFilter(simplify(allow), true));
  }
  const { filter, debug } = mergeWithAnd(filters);
  const built = { __proto__: Object.prototype, ...base, filter, filterDebug: policyMatch ? debug : 'NO_MATCH', matchedScopes, rules: req.rules };
  const out: PlanResult = built;
  if (req.conditions.errors.length > 0) out.evaluationErrors = req.conditions.errors;
  return out;
}

