// Decision explanations, collected only when a check asks for them (`explain: true`): the engine calls these hooks
// behind `if (ev.x)` so the normal path does no work for them.
import type { CompiledDerivedRole } from './compiled.js';
import type {
  ActionEffect,
  ActionExplanation,
  ConsideredRule,
  DerivedRoleExplanation,
  Explanation,
} from './types.js';

type Reason = ActionExplanation['reason'];

/** Why the rule table's per-check condition cache holds false for a key (explanations only). */
export interface CachedFalse {
  /** where evaluating it failed (lenient evaluation took the failure as false), if it did */
  readonly failedIn: 'dr' | 'rule' | undefined;
  readonly error: string | undefined;
  /** the row's derived role did not hold (the rule's own condition was not evaluated) */
  readonly drNotHeld: boolean;
}

const NOT_MET: CachedFalse = Object.freeze({ failedIn: undefined, error: undefined, drNotHeld: false });
const DR_NOT_HELD: CachedFalse = Object.freeze({ failedIn: undefined, error: undefined, drNotHeld: true });

export class Explainer {
  /** The message of the last condition that failed to evaluate (read right after a condition returned an error). */
  lastError: string | undefined;
  /** The rule table's: why each condition it cached as false was false, by cache key (rememberFalse/recallFalse). */
  readonly cachedFalse = new Map<string, CachedFalse>();
  /** The rule table's: the false just answered from its cache was a derived role that did not hold (read once). */
  fromDrNotHeld = false;
  /**
   * The rule table's, explain only (P-05: every action a cached condition serves is explained alike): a condition was
   * just cached as false; note why (where it failed, lenient evaluation taking the failure as false, and its message;
   * or a derived role that did not hold). The plain check keeps the boolean cache alone: nothing here runs or is
   * allocated without `explain`.
   */
  rememberFalse(key: string, failedIn: 'dr' | 'rule' | undefined, drNotHeld: boolean): void {
    this.cachedFalse.set(key, failedIn === undefined ? (drNotHeld ? DR_NOT_HELD : NOT_MET) : { failedIn, error: this.lastError, drNotHeld });
  }

  /** A false from the rule table's cache, explained as when it was computed: where it failed (its message restored). */
  recallFalse(key: string): 'dr' | 'rule' | undefined {
    const w = this.cachedFalse.get(key);
    this.fromDrNotHeld = w?.drNotHeld === true;
    if (w?.failedIn === undefined) return undefined;
    this.lastError = w.error;
    return w.failedIn;
  }

  private readonly considered = new Map<string, ConsideredRule[]>();
  private readonly drs = new Map<object, DerivedRoleExplanation>();
  private readonly why = new WeakMap<ActionEffect, { rule?: string; reason: Reason }>();

  consider(action: string, c: ConsideredRule): void {
    let list = this.considered.get(action);
    if (!list) this.considered.set(action, (list = []));
    list.push(c);
  }
  has(action: string, rule: string): boolean {
    return this.considered.get(action)?.some((c) => c.rule === rule) ?? false;
  }
  derivedRole(key: object, e: DerivedRoleExplanation): void {
    if (!this.drs.has(key)) this.drs.set(key, e);
  }
  derivedRoleOf(key: object): DerivedRoleExplanation | undefined {
    return this.drs.get(key);
  }
  /** Remember why `effect` (a fresh object the engine may report) was decided; returns it. */
  decided<T extends ActionEffect>(effect: T, reason: Reason, rule?: string): T {
    this.why.set(effect, rule === undefined ? { reason } : { reason, rule });
    return effect;
  }

  finish(actions: Record<string, ActionEffect>): Explanation {
    const out: Record<string, ActionExplanation> = {};
    const lines: string[] = [];
    const derivedRoles = [...this.drs.values()];
    for (const [action, e] of Object.entries(actions)) {
      const w = this.why.get(e);
      const reason: Reason = w?.reason ?? (e.policy === 'NO_MATCH' ? 'no_policy' : 'default_deny');
      const a: ActionExplanation = { effect: e.effect, policy: e.policy, scope: e.scope, reason, considered: this.considered.get(action) ?? [] };
      if (w?.rule !== undefined) a.rule = w.rule;
      out[action] = a;
      lines.push(actionLine(action, a, derivedRoles));
    }
    for (const d of derivedRoles) lines.push(derivedRoleLine(d));
    return { actions: out, derivedRoles, lines };
  }
}

const short = (e: string) => (e === 'EFFECT_ALLOW' ? 'ALLOW' : 'DENY');

/** `policy#rule` shortened to `rule` when it belongs to `policy`. */
function ruleName(rule: string, policy: string): string {
  return rule.startsWith(`${policy}#`) ? rule.slice(policy.length + 1) : rule;
}

function actionLine(action: string, a: ActionExplanation, drs: readonly DerivedRoleExplanation[]): string {
  let head = `${action}: ${short(a.effect)} by ${a.rule ?? a.policy}`;
  if (a.reason === 'default_deny') head += ' (default deny)';
  else if (a.reason === 'no_policy') head += ' (no policy applies)';
  else if (a.reason === 'condition_error') head += ' (condition error; strict evaluation denies)';
  else if (a.reason === 'role_policy') head += ' (the role policy does not permit it)';
  if (a.rule !== undefined) {
    const d = a.considered.find((c) => c.rule === a.rule && (c.outcome === 'matched' || c.outcome === 'error'));
    if (d?.outcome === 'error') return `${head}: ${describe(d, a.policy, drs)}`;
    if (d?.role !== undefined) head += ` (role ${d.role}${d.derivedRoles ? `, derived role ${d.derivedRoles.join(', ')}` : ''})`;
    return head;
  }
  const why = a.considered.filter((c) => c.outcome !== 'matched').map((c) => describe(c, a.policy, drs));
  return why.length > 0 ? `${head}: ${why.join('; ')}` : head;
}

function describe(c: ConsideredRule, policy: string, drs: readonly DerivedRoleExplanation[]): string {
  const n = ruleName(c.rule, policy);
  switch (c.outcome) {
    case 'matched':
      return `${n} matched`;
    case 'condition_not_met':
      return `${n}: ${c.condition ?? 'condition'} is false`;
    case 'error':
      return c.derivedRoles
        ? `${n} needs derived role ${c.derivedRoles.join(' or ')}, whose condition ${c.condition ?? ''} failed: ${first(c.error)}`
        : `${n}: ${c.condition ?? 'condition'} failed: ${first(c.error)}`;
    case 'derived_role_not_activated': {
      const parts = (c.derivedRoles ?? []).map((name) => {
        const d = drs.find((x) => x.name === name);
        if (d?.outcome === 'condition_not_met') return `${name}, not activated: ${d.condition ?? 'condition'} is false`;
        if (d?.outcome === 'parent_role_not_matched') return `${name}, which needs one of roles ${d.parentRoles.join(', ')}`;
        if (d?.outcome === 'error') return `${name}, not activated: ${d.condition ?? 'condition'} failed: ${first(d.error)}`;
        return `${name}, not activated`;
      });
      return `${n} needs derived role ${parts.join(' or ')}`;
    }
    case 'role_not_matched': {
      const who = [
        ...(c.roles && c.roles.length > 0 ? [`roles ${c.roles.join(', ')}`] : []),
        ...(c.derivedRoles && c.derivedRoles.length > 0 ? [`derived roles ${c.derivedRoles.join(', ')}`] : []),
      ];
      return `${n} is for ${who.join(' or ') || 'other roles'}`;
    }
    case 'not_reached':
      return `${n} not reached (decided before it)`;
  }
}

/** Error messages may carry a source excerpt with a caret on later lines; a line keeps the first. */
const first = (e: string | undefined) => (e ?? 'error').split('\n')[0]!.trim();

function derivedRoleLine(d: DerivedRoleExplanation): string {
  const head = `derived role ${d.name} (parent roles ${d.parentRoles.join(', ')})`;
  switch (d.outcome) {
    case 'activated':
      return `${head}: activated${d.condition !== undefined ? ` (${d.condition})` : ''}`;
    case 'condition_not_met':
      return `${head}: not activated: ${d.condition ?? 'condition'} is false`;
    case 'parent_role_not_matched':
      return `${head}: not activated: the principal has none of its parent roles`;
    case 'error':
      return `${head}: not activated: ${d.condition ?? 'condition'} failed: ${first(d.error)}`;
  }
}

type MatchTree = { expr?: unknown; all?: { of?: unknown }; any?: { of?: unknown }; none?: { of?: unknown } };
/** A condition source as the compiler keeps it (CEL, or the JSON of an all/any/none tree) made readable. */
export function readableCondition(src: string | undefined): string | undefined {
  if (src === undefined || !src.startsWith('{')) return src;
  try {
    return render(JSON.parse(src) as MatchTree);
  } catch {
    return src;
  }
}
function render(n: MatchTree): string {
  if (typeof n.expr === 'string') return n.expr;
  for (const k of ['all', 'any', 'none'] as const) {
    const of = n[k]?.of;
    if (Array.isArray(of)) return `${k}(${of.map((x) => render(x as MatchTree)).join(', ')})`;
  }
  return JSON.stringify(n);
}

/** How a derived role fared (explain only). */
export function drExplanation(dr: CompiledDerivedRole, outcome: DerivedRoleExplanation['outcome'], error?: string): DerivedRoleExplanation {
  const e: DerivedRoleExplanation = { name: dr.name, parentRoles: [...dr.parentRoles], activated: outcome === 'activated', outcome };
  const c = readableCondition(dr.conditionSource);
  if (c !== undefined) e.condition = c;
  if (error !== undefined) e.error = error;
  return e;
}
