// The check's decision (ruletable.ts: Cerbos 0.55's rule-table walk) as a plan: the same rows, scopes and roles, with
// every condition replaced by its outcome over the unknown resource (`t`: true, `f`: false, both evaluated without
// failure; anything else fails, which under strict evaluation denies the action outright). A plan built this way
// admits a resource only where the check allows it (P-03).
import type { CompiledPolicySet } from '../compile.js';
import type { RuleTableHost, Binding, RuleCheckInput } from '../ruletable.js';
import { principalRows, resourceRows, scopePerm, walks, withParents } from '../ruletable.js';
import { sAnd, sNot, sOr, type Outcome } from './conditions.js';
import { qFalse, qTrue, type QNode } from './filter.js';

/** How a walk (one role up the resource scopes, or the principal up its scopes) ends: ALLOW, DENY, no decision. */
interface End {
  allow: QNode;
  deny: QNode;
  none: QNode;
}
const NONE: End = { allow: qFalse(), deny: qFalse(), none: qTrue() };

export interface WalkPlanner {
  /** The outcome of a row's condition over the unknown resource (cached by the caller). */
  outcome(b: Binding, scope: string): Outcome;
  /** The outcome of a derived role's condition. */
  drOutcome(b: Binding, scope: string): Outcome;
  /** A row was met (for the plan's `rules` list). */
  note(b: Binding, action: string, matched: QNode): void;
}

/** A row: matched (its condition, and its derived role's, hold) or not matched, without failure. */
function row(p: WalkPlanner, b: Binding, scope: string): { m: QNode; nm: QNode } {
  const c = b.cond ? p.outcome(b, scope) : { t: qTrue(), f: qFalse() };
  let m = b.negate ? c.f : c.t;
  let nm = b.negate ? c.t : c.f;
  if (b.dr?.condition) {
    const d = p.drOutcome(b, scope);
    m = sAnd([d.t, m]);
    nm = sOr([d.f, sAnd([d.t, nm])]);
  }
  return { m, nm };
}

const bindingsDenied = (ms: readonly QNode[]): QNode[] => [...new Set(ms)];

interface Step {
  scope: string;
  /** every row passed without failure and without a matched DENY */
  clean: QNode;
  /** a matched DENY ended the walk here */
  deny: QNode;
  /** clean, and some ALLOW matched */
  allowed: QNode;
  /** clean, and no ALLOW matched */
  notAllowed: QNode;
}

function step(p: WalkPlanner, scope: string, bindings: readonly Binding[], action: string, lenient: boolean): Step {
  let pass: QNode = qTrue();
  const denies: QNode[] = [];
  const allows: QNode[] = [];
  const noAllows: QNode[] = [];
  for (const b of bindings) {
    const { m, nm } = row(p, b, scope);
    p.note(b, action, m);
    if (b.effect === 'EFFECT_DENY') {
      denies.push(lenient ? m : sAnd([pass, m]));
      pass = sAnd([pass, nm]);
    } else {
      if (b.effect === 'EFFECT_ALLOW') {
        allows.push(m);
        noAllows.push(nm);
      }
      // lenient evaluation never fails: a row that is not a DENY always lets the walk pass (no negation in the filter)
      if (!lenient) pass = sAnd([pass, sOr([m, nm])]);
    }
  }
  if (lenient) {
    // nothing fails and row order does not matter: Cerbos's shape, `not(or(denies))` and `or(allows)`; "not allowed
    // here" is only ever used as "allowed here, or clean and the rest allows", so clean will do
    const deny = sOr(denies.length > 0 ? bindingsDenied(denies) : []);
    const clean = sNot(deny);
    return { scope, clean, deny, allowed: sAnd([clean, sOr(allows)]), notAllowed: clean };
  }
  return { scope, clean: pass, deny: sOr(denies), allowed: sAnd([pass, sOr(allows)]), notAllowed: sAnd([pass, ...noAllows]) };
}

/** Scopes from the last back: how the walk from scope k on ends, without (`h0`) and with (`h1`) an ALLOW carried. */
function ends(set: CompiledPolicySet, steps: readonly Step[]): End {
  let h0: End = NONE;
  let h1: End = NONE;
  for (let k = steps.length - 1; k >= 0; k--) {
    const s = steps[k]!;
    const perm = scopePerm(set, s.scope);
    const next0 = h0;
    const next1 = h1;
    const go = (n: End, when: QNode): End => ({ allow: sAnd([when, n.allow]), deny: sAnd([when, n.deny]), none: sAnd([when, n.none]) });
    const or = (a: End, b: End, deny: QNode): End => ({ allow: sOr([a.allow, b.allow]), deny: sOr([deny, a.deny, b.deny]), none: sOr([a.none, b.none]) });
    if (perm === 'OVERRIDE') {
      h0 = or({ allow: s.allowed, deny: qFalse(), none: qFalse() }, go(next0, s.notAllowed), s.deny);
      h1 = { allow: s.clean, deny: s.deny, none: qFalse() };
    } else if (perm === 'CONSENT') {
      h0 = h1 = or(go(next0, s.clean), NONE_FALSE, s.deny);
    } else {
      h0 = or(go(next1, s.allowed), go(next0, s.notAllowed), s.deny);
      h1 = or(go(next1, s.clean), NONE_FALSE, s.deny);
    }
  }
  return h0;
}
/** `n` is the negation of `d` (the node built for it). */
const sameNot = (n: QNode, d: QNode): boolean => 'lo' in n && n.lo === 'not' && n.nodes[0] === d;
const NONE_FALSE: End = { allow: qFalse(), deny: qFalse(), none: qFalse() };

/** Where the check allows `action`: the principal walk allows, or decides nothing and the first resource role to allow comes before any failure. */
export function planAction(host: RuleTableHost, p: WalkPlanner, q: RuleCheckInput, action: string, lenient: boolean): { allow: QNode; rows: number; scope: string } {
  const w = walks(host, q);
  if ((w.pScopes.length === 0 && w.rScopes.length === 0) || (!w.pExists && !w.rExists)) return { allow: qFalse(), rows: 0, scope: '' };
  let rows = 0;
  // the plan's matched scope: the least specific OVERRIDE scope with a row for the action (as the planner reported it)
  let scope = '';
  const seen = (s: string, n: number) => {
    rows += n;
    if (n > 0 && scopePerm(host.set, s) === 'OVERRIDE') scope = s;
  };
  const principalSteps = w.pScopes.map((s) => {
    const bs = principalRows(host.set, q.principal.id, q.kind, q.version, s, action);
    seen(s, bs.length);
    return step(p, s, bs, action, lenient);
  });
  const principal = ends(host.set, principalSteps);
  const roles = q.principal.roles.map((r) => {
    const queried = withParents(host, q.resourceScope, [r]);
    const steps = w.rScopes.map((s) => {
      const bs = resourceRows(host, q.kind, q.version, s, action, queried);
      seen(s, bs.length);
      return step(p, s, bs, action, lenient);
    });
    return ends(host.set, steps);
  });
  // the first role that allows decides, provided every role before it ended cleanly (DENY or no decision)
  if (lenient) {
    // nothing fails: any role's ALLOW decides; the principal walk passes on where it does not deny
    // Cerbos's shape: and(not(principal denies), or(principal allows, resource allows))
    const notDeny = sNot(principal.deny);
    const pAllow = principal.allow;
    const stripped = 'lo' in pAllow && pAllow.lo === 'and' && pAllow.nodes.length > 1 && sameNot(pAllow.nodes[0]!, principal.deny) ? sAnd(pAllow.nodes.slice(1)) : undefined;
    const resource = sOr(roles.map((r) => r.allow));
    return { allow: stripped ? sAnd([notDeny, sOr([stripped, resource])]) : sOr([pAllow, sAnd([notDeny, resource])]), rows, scope };
  }
  const resource = sOr(roles.map((r, i) => sAnd([...roles.slice(0, i).map((x) => sOr([x.deny, x.none])), r.allow])));
  return { allow: sOr([principal.allow, sAnd([principal.none, resource])]), rows, scope };
}
