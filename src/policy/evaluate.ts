// Evaluation: one check from validated input to its result. The rule-table walk itself (Cerbos 0.55's semantics) is
// ruletable.ts; this module holds what an engine keeps between checks (options, the compiled set, memos of what the
// set answers for a kind, version and scope) and turns a walk into a CheckResult. The query planner uses the same core.
import type { CelRequest } from './cel/index.js';
import type { CompiledPolicySet } from './compile.js';
import { resourcePolicyKey } from './policy-keys.js';
import { checkRules, eligibleDrs, NO_DRS, resourceRows, RuleCheck, scopePerm, walkIn, withParents, type Binding, type CheckShape, type RuleTableHost } from './ruletable.js';
import type { AuxData, CheckOptions, CheckResult, Explanation, PolicySource, Principal, Resource } from './types.js';
import { PolicyLoadError } from './errors.js';
import { validateAttributes, type PolicySchemas, type SchemaEnforcement, type ValidationError } from './schema-validation.js';

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
  /**
   * Cerbos's `schema.enforcement`: validate principal and resource attributes against the JSON schemas the resource
   * policy names (`schemas.principalSchema/resourceSchema`, files of the policy directory's `_schemas/`). `none` (the
   * default, as Cerbos's): not validated. `warn`: errors reported in `validationErrors`, the decision unchanged.
   * `reject`: errors reported and every action denied. With `warn`/`reject`, every referenced schema must have been
   * loaded (else createEngine throws PolicyLoadError).
   */
  schemaEnforcement?: SchemaEnforcement;
}

/** What a resource check at (kind, version, scope) walks. */
export interface Target {
  /** The existing scopes (store-wide) on the way from the requested scope to the root; empty: the scope does not exist. */
  scopes: readonly string[];
  /** The resource policy named for decisions: (kind, version) at the first existing scope, even if that kind has no policy there. */
  policyKey: string;
  /** Some resource or role policy rule for this kind and version exists in `scopes`. */
  exists: boolean;
  /** The schemas in effect (the resource policy at the first scope, by its root-scope policy's `schemas`), if any. */
  schemas?: PolicySchemas | undefined;
}

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
/** Bound on every memo keyed by request input (kinds, versions, scopes are caller-controlled). */
const CACHE_MAX = 4096;

/** A three-level memo bounded by its total size (cleared when full). */
class Memo3<V> {
  private readonly m = new Map<string, Map<string, Map<string, V>>>();
  private size = 0;
  get(a: string, b: string, c: string): V | undefined {
    return this.m.get(a)?.get(b)?.get(c);
  }
  set(a: string, b: string, c: string, v: V): V {
    if (this.size >= CACHE_MAX) {
      this.m.clear();
      this.size = 0;
    }
    let x = this.m.get(a);
    if (!x) this.m.set(a, (x = new Map()));
    let y = x.get(b);
    if (!y) x.set(b, (y = new Map()));
    y.set(c, v);
    this.size++;
    return v;
  }
}

/** Rows of one step of a walk: queried roles -> kind -> version -> scope -> action. */
type RowMemo = Map<readonly string[], Map<string, Map<string, Map<string, Map<string, readonly Binding[]>>>>>;

export class EngineCore implements RuleTableHost {
  readonly strict: boolean;
  readonly globals: Record<string, unknown>;
  readonly defaultVersion: string;
  readonly lenientScope: boolean;
  /** validate attributes against schemas (`warn` or `reject` enforcement, and some policy has schemas) */
  readonly validating: boolean;
  readonly reject: boolean;
  private readonly targets = new Memo3<Target>();
  // What a walk asks that depends only on the set and the request's shape, once (bounded like the targets).
  private readonly queries = new Memo3<readonly string[]>();
  private readonly including = new Memo3<ReadonlySet<string>>();
  // check shapes (kind, version, scope, role), the last one asked first; the rows of each shape by action
  private shapes = new Memo3<Map<string, CheckShape>>();
  private lastShape: CheckShape | undefined;
  private shapeRowMemo = new WeakMap<CheckShape, Map<string, readonly (readonly Binding[])[]>>();
  private shapeRowCount = 0;
  private rows: RowMemo = new Map();
  private rowCount = 0;

  constructor(readonly set: CompiledPolicySet, options: EngineOptions) {
    this.strict = options.lenient !== true;
    this.globals = options.globals ?? {};
    this.defaultVersion = options.defaultPolicyVersion ?? 'default';
    this.lenientScope = options.lenientScopeSearch === true;
    const enforcement = options.schemaEnforcement ?? 'none';
    if (enforcement !== 'none' && enforcement !== 'warn' && enforcement !== 'reject') throw new PolicyLoadError([{ file: '', path: 'schemaEnforcement', message: `must be none, warn or reject (got ${JSON.stringify(enforcement)})` }]);
    this.validating = enforcement !== 'none' && set.schemaPolicies.length > 0;
    this.reject = enforcement === 'reject';
    if (this.validating) requireLoadedSchemas(set);
  }

  /** The attribute validation errors of a request, or undefined (none, not validating, or no schemas in effect). */
  validationErrors(t: Target, principalAttr: Record<string, unknown> | undefined, resourceAttr: Record<string, unknown> | undefined, actions: readonly string[], plan: boolean): ValidationError[] | undefined {
    return t.schemas === undefined ? undefined : validateAttributes(t.schemas, principalAttr, resourceAttr, actions, plan);
  }

  /** The scopes a resource check walks, the policy it names, and whether any policy for the kind is on the way. */
  target(kind: string, version: string, scope: string): Target {
    const hit = this.targets.get(kind, version, scope);
    if (hit) return hit;
    const set = this.set;
    const scopes = set.resourceScopes(scope, this.lenientScope);
    let exists = false;
    for (const s of scopes) if (set.resourcePolicy(kind, version, s) !== undefined || set.hasRoleRulesFor(kind, version, s)) exists = true;
    const policyKey = resourcePolicyKey(kind, version, scopes[0] ?? scope);
    // Cerbos: the schemas of the policy at the first scope, which are those of its scope tree's root policy
    const schemas = scopes.length > 0 && set.resourcePolicy(kind, version, scopes[0]!) !== undefined ? set.resourcePolicy(kind, version, '')?.schemas : undefined;
    return this.targets.set(kind, version, scope, { scopes, policyKey, exists, schemas });
  }

  queriedRoles(scope: string, role: string): readonly string[] {
    return this.queries.get(scope, role, '') ?? this.queries.set(scope, role, '', withParents(this, scope, [role]));
  }

  includingRoles(scope: string, roles: readonly string[]): ReadonlySet<string> {
    if (roles.length !== 1) return new Set(withParents(this, scope, roles));
    const role = roles[0]!;
    return this.including.get(scope, role, '') ?? this.including.set(scope, role, '', new Set(this.queriedRoles(scope, role)));
  }

  shape(kind: string, version: string, scope: string, roles: readonly string[]): CheckShape | undefined {
    if (roles.length !== 1 || this.set.hasPrincipalPolicies) return undefined;
    const role = roles[0]!;
    const last = this.lastShape;
    if (last && last.role === role && last.kind === kind && last.scope === scope && last.version === version) return last;
    let byRole = this.shapes.get(kind, version, scope);
    if (!byRole) byRole = this.shapes.set(kind, version, scope, new Map());
    let sh = byRole.get(role);
    if (!sh) {
      const t = this.target(kind, version, scope);
      const walks = t.exists ? [walkIn(false, t.scopes, true, t.policyKey)] : [];
      const including = this.includingRoles(scope, roles);
      const policies = t.scopes.map((s) => this.set.resourcePolicy(kind, version, s));
      sh = {
        kind, version, scope, role, walks, including, policies,
        roleQueries: [this.queriedRoles(scope, role)],
        walked: walks.length === 0 ? undefined : { list: walks, rScopes: walks[0]!.scopes },
        perms: t.scopes.map((s) => scopePerm(this.set, s)),
        eligible: policies.map((p) => eligibleDrs(p?.derivedRoles ?? NO_DRS, including)),
      };
      byRole.set(role, sh);
    }
    return (this.lastShape = sh);
  }

  shapeRows(shape: CheckShape, action: string): readonly (readonly Binding[])[] {
    let byAction = this.shapeRowMemo.get(shape);
    const hit = byAction?.get(action);
    if (hit) {
      shape.lastAction = action;
      shape.lastRows = hit;
      return hit;
    }
    if (++this.shapeRowCount > CACHE_MAX) {
      // actions are the caller's: forget every shape's rows (and the shapes) when the memo is full
      this.shapeRowMemo = new WeakMap();
      this.shapes = new Memo3();
      this.lastShape = undefined;
      this.shapeRowCount = 1;
      byAction = undefined;
    }
    if (!byAction) this.shapeRowMemo.set(shape, (byAction = new Map()));
    const rows = shape.walks.length === 0 ? [] : shape.walks[0]!.scopes.map((s) => this.rowsOf(shape.kind, shape.version, s, action, shape.roleQueries[0]!));
    byAction.set(action, rows);
    shape.lastAction = action;
    shape.lastRows = rows;
    return rows;
  }

  rowsOf(kind: string, version: string, scope: string, action: string, roles: readonly string[]): readonly Binding[] {
    const hit = this.rows.get(roles)?.get(kind)?.get(version)?.get(scope)?.get(action);
    if (hit) return hit;
    if (++this.rowCount > CACHE_MAX) {
      this.rows = new Map();
      this.rowCount = 1;
    }
    const list = resourceRows(this, kind, version, scope, action, roles);
    let a = this.rows.get(roles);
    if (!a) this.rows.set(roles, (a = new Map()));
    let b = a.get(kind);
    if (!b) a.set(kind, (b = new Map()));
    let c = b.get(version);
    if (!c) b.set(version, (c = new Map()));
    let d = c.get(scope);
    if (!d) c.set(scope, (d = new Map()));
    d.set(action, list);
    return list;
  }

  /** Some principal policy of principal `id` (rules looked up at `version`) applies at a scope of the principal walk. */
  hasPrincipalRules(id: string, version: string, scope: string): boolean {
    if (!this.set.hasPrincipalPolicies) return false;
    for (const s of this.set.principalScopes(scope, this.lenientScope)) if (this.set.principalPolicy(id, version, s) !== undefined) return true;
    return false;
  }

  run(principal: Principal, resource: Resource, actions: readonly string[], auxData: AuxData | undefined, opts: CheckOptions | undefined): CheckResult {
    return this.validating ? this.runValidated(principal, resource, actions, auxData, opts) : this.decide(principal, resource, actions, auxData, opts);
  }

  /** Schema enforcement `warn` or `reject`: the attributes validated first (Cerbos validates before it evaluates). */
  private runValidated(principal: Principal, resource: Resource, actions: readonly string[], auxData: AuxData | undefined, opts: CheckOptions | undefined): CheckResult {
    const version = resource.policyVersion || this.defaultVersion;
    const rScope = resource.scope ?? '';
    const t = this.target(resource.kind, version, rScope);
    const errors = this.validationErrors(t, principal.attr, resource.attr, actions, false);
    if (errors === undefined) return this.decide(principal, resource, actions, auxData, opts);
    if (this.reject) return this.rejected(resource, version, rScope, t.policyKey, actions, errors, opts);
    const res = this.decide(principal, resource, actions, auxData, opts);
    res.validationErrors = errors;
    return res;
  }

  private decide(principal: Principal, resource: Resource, actions: readonly string[], auxData: AuxData | undefined, opts: CheckOptions | undefined): CheckResult {
    const version = resource.policyVersion || this.defaultVersion;
    const pVersion = principal.policyVersion || this.defaultVersion;
    const pScope = principal.scope ?? '';
    const rScope = resource.scope ?? '';
    // Conditions see the versions as the request gives them ("" when absent, as in Cerbos 0.55), not the defaults.
    const request: CelRequest = {
      principal: { id: principal.id, roles: principal.roles, attr: principal.attr ?? EMPTY, policyVersion: principal.policyVersion ?? '', scope: pScope },
      resource: { kind: resource.kind, id: resource.id, attr: resource.attr ?? EMPTY, policyVersion: resource.policyVersion ?? '', scope: rScope },
      auxData: auxData?.jwt === undefined && auxData?.jwts === undefined ? undefined : auxData,
    };
    // `now()` is the instant given, or the time some condition first reads it (a check that never does makes no Date)
    const st = new RuleCheck(request, this.globals, opts?.now, opts?.explain === true, this.strict, opts?.decidingRule === true);
    const effects = checkRules(this, st, { principal, kind: resource.kind, version, principalVersion: pVersion, principalScope: pScope, resourceScope: rScope }, actions);
    const res: CheckResult = {
      resource: { kind: resource.kind, id: resource.id, policyVersion: version, scope: rScope },
      actions: effects,
      effectiveDerivedRoles: st.edr,
      outputs: st.outputs,
    };
    if (st.errors !== undefined) {
      // Cerbos reports each distinct (expression, message) once, sorted.
      res.evaluationErrors = [...st.errors.values()].sort((a, b) => (a.expression < b.expression ? -1 : a.expression > b.expression ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
    }
    if (st.x) res.explained = st.x.finish(effects);
    return res;
  }

  /** Schema enforcement `reject`: every action denied, named after the policy the check would name (as Cerbos). */
  private rejected(resource: Resource, version: string, rScope: string, policy: string, actions: readonly string[], validationErrors: ValidationError[], opts: CheckOptions | undefined): CheckResult {
    const effects: CheckResult['actions'] = {};
    for (const a of actions) effects[a] = { effect: 'EFFECT_DENY', policy, scope: '' };
    const res: CheckResult = { resource: { kind: resource.kind, id: resource.id, policyVersion: version, scope: rScope }, actions: effects, effectiveDerivedRoles: [], outputs: [], validationErrors };
    if (opts?.explain === true) {
      const explained: Explanation = { actions: {}, derivedRoles: [], lines: [] };
      for (const a of actions) {
        explained.actions[a] = { effect: 'EFFECT_DENY', policy, scope: '', reason: 'schema_validation', considered: [] };
        explained.lines.push(`${a}: EFFECT_DENY (${policy}): the request's attributes do not validate against the policy's schemas`);
      }
      res.explained = explained;
    }
    return res;
  }
}

/** `warn`/`reject` enforcement needs every referenced schema compiled: a policy set loaded without its schema files is refused. */
function requireLoadedSchemas(set: CompiledPolicySet): void {
  const issues: { file: string; path: string; message: string }[] = [];
  for (const p of set.schemaPolicies)
    for (const [k, c] of [['principalSchema', p.schemas?.principal], ['resourceSchema', p.schemas?.resource]] as const)
      if (c !== undefined && c.schema === undefined) issues.push({ file: set.sources.get(p.key) ?? '', path: `$.resourcePolicy.schemas.${k}.ref`, message: `schema enforcement needs the schema ${c.ref}: load the policies with their _schemas/ files` });
  if (issues.length > 0) throw new PolicyLoadError(issues);
}
