// The rule table's rows: for one step of a walk (a scope, an action, the queried roles), the rows the compiled set
// gives, in Cerbos's order (role-policy rows first, then the resource policy's rows, one per action pattern and role;
// principal policies have their own). Built once per step shape and memoised by the engine (evaluate.ts rowsOf);
// ruletable.ts walks them.
import type { CompiledCondition } from './cel/index.js';
import type {
  CompiledDerivedRole,
  CompiledOutput,
  CompiledPolicySet,
  CompiledResourceRule,
  CompiledRolePolicy,
  ParamSet,
  ScopePerm,
} from './compile.js';
import { compileGlob, type Matcher } from './glob.js';
import type { Effect } from './types.js';

/** One rule-table row as the evaluator sees it. */
export interface Binding {
  /** Condition cache key (Cerbos's evaluation key: one per rule, per derived role of a rule, per role-policy rule). */
  key: string;
  src: string;
  /** The key of the rule's own policy (named when strict evaluation denies, and by role-policy DENYs). */
  origin: string;
  effect: Effect | undefined;
  cond: CompiledCondition | undefined;
  condSrc: string | undefined;
  /** The row's condition is `none(cond)` (consent scopes, role-policy conditions). */
  negate: boolean;
  dr: CompiledDerivedRole | undefined;
  params: ParamSet | undefined;
  out: CompiledOutput | undefined;
  fromRole: boolean;
}

interface Rows {
  rule: WeakMap<object, Binding>;
  dr: WeakMap<object, Map<CompiledDerivedRole, Binding>>;
  actions: WeakMap<object, Matcher[]>;
}
const rowsOf = new WeakMap<CompiledPolicySet, Rows>();
function rows(set: CompiledPolicySet): Rows {
  let r = rowsOf.get(set);
  if (!r) rowsOf.set(set, (r = { rule: new WeakMap(), dr: new WeakMap(), actions: new WeakMap() }));
  return r;
}

function consent(perm: ScopePerm, effect: Effect, cond: CompiledCondition | undefined): boolean {
  return perm === 'CONSENT' && effect === 'EFFECT_ALLOW' && cond !== undefined;
}

function resourceBinding(origin: string, perm: ScopePerm, params: ParamSet, rule: CompiledResourceRule, dr: CompiledDerivedRole | undefined): Binding {
  const negate = consent(perm, rule.effect, rule.condition);
  return {
    key: dr ? `D\u0000${origin}\u0000${dr.name}#${rule.name}` : `R\u0000${origin}#${rule.name}`,
    src: rule.src,
    origin,
    effect: negate ? 'EFFECT_DENY' : rule.effect,
    cond: rule.condition,
    condSrc: rule.conditionSource,
    negate,
    dr,
    params,
    out: rule.output,
    fromRole: false,
  };
}

/** The rows of role policies at a scope for the queried roles: DENYs for what they do not allow (Cerbos index.go). */
function roleRows(rp: CompiledRolePolicy, kind: string, action: string, out: Binding[]): void {
  const forKind = rp.rules.filter((r) => r.matchResource(kind));
  const deny: Binding = { key: 'NOEVAL', src: `${rp.key}#`, origin: rp.key, effect: 'EFFECT_DENY', cond: undefined, condSrc: undefined, negate: false, dr: undefined, params: undefined, out: undefined, fromRole: true };
  const matched = forKind.filter((r) => r.matchAction(action));
  if (matched.length === 0) {
    out.push(deny);
    return;
  }
  for (const r of matched) {
    // Cerbos keys the condition cache of role-policy rules by their index among the rules for the same resource.
    const idx = rp.rules.filter((x, i) => x.resource === r.resource && i < rp.rules.indexOf(r)).length;
    const key = `O\u0000${rp.role}\u0000${rp.version}\u0000${rp.scope}\u0000${idx}`;
    if (!r.condition) {
      if (r.output) out.push({ ...deny, key, src: r.src, effect: undefined, params: rp.params, out: r.output });
      continue;
    }
    const swapped: CompiledOutput | undefined = r.output
      ? { ...(r.output.conditionNotMet ? { ruleActivated: r.output.conditionNotMet } : {}), ...(r.output.ruleActivated ? { conditionNotMet: r.output.ruleActivated } : {}) }
      : undefined;
    out.push({ ...deny, key, src: r.src, cond: r.condition, condSrc: r.conditionSource, negate: true, params: rp.params, out: swapped });
  }
}

export function resourceRows(host: { readonly set: CompiledPolicySet }, kind: string, version: string, scope: string, action: string, roles: readonly string[]): Binding[] {
  const set = host.set;
  const R = rows(set);
  const out: Binding[] = [];
  const p = set.resourcePolicy(kind, version, scope);
  const has = (r: string) => r === '*' || roles.includes(r);
  // Cerbos synthesises role-policy DENYs only when some row at this scope is for the kind and a queried role (a
  // resource rule of the role or of a derived role it is parent of, or a role-policy rule for the kind).
  if (p?.rules.some((r) => [...r.roles].some(has) || r.derivedRoles.some((d) => [...d.parentRoles].some(has))) || roles.some((r) => set.rolePolicy(r, version, scope)?.rules.some((x) => x.matchResource(kind)))) {
    for (const role of roles) {
      const rp = set.rolePolicy(role, version, scope);
      if (rp && rp.rules.length > 0) roleRows(rp, kind, action, out);
    }
  }
  if (!p) return out;
  for (const rule of p.rules) {
    if (!rule.matchAction(action)) continue;
    let ms = R.actions.get(rule);
    if (!ms) R.actions.set(rule, (ms = rule.actions.map(compileGlob)));
    const nActions = ms.filter((m) => m(action)).length;
    let b = R.rule.get(rule);
    if (!b) R.rule.set(rule, (b = resourceBinding(p.key, p.perm, p.params, rule, undefined)));
    let nRoles = 0;
    for (const r of rule.roles) if (has(r)) nRoles++;
    for (let i = 0; i < nActions * nRoles; i++) out.push(b);
    for (const dr of new Set(rule.derivedRoles)) {
      let nParents = 0;
      for (const r of dr.parentRoles) if (has(r)) nParents++;
      if (nParents === 0) continue;
      let byDr = R.dr.get(rule);
      if (!byDr) R.dr.set(rule, (byDr = new Map()));
      let d = byDr.get(dr);
      if (!d) byDr.set(dr, (d = resourceBinding(p.key, p.perm, p.params, rule, dr)));
      for (let i = 0; i < nActions * nParents; i++) out.push(d);
    }
  }
  return out;
}

export function principalRows(set: CompiledPolicySet, id: string, kind: string, version: string, scope: string, action: string): Binding[] {
  const pp = set.principalPolicy(id, version, scope);
  if (!pp) return [];
  const R = rows(set);
  const out: Binding[] = [];
  for (const rule of pp.rules) {
    if (!rule.matchResource(kind) || !rule.matchAction(action)) continue;
    let b = R.rule.get(rule);
    if (!b) {
      const negate = consent(pp.perm, rule.effect, rule.condition);
      b = { key: `P\u0000${pp.key}#${rule.name}`, src: rule.src, origin: pp.key, effect: negate ? 'EFFECT_DENY' : rule.effect, cond: rule.condition, condSrc: rule.conditionSource, negate, dr: undefined, params: pp.params, out: rule.output, fromRole: false };
      R.rule.set(rule, b);
    }
    out.push(b);
  }
  return out;
}
