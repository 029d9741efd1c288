import { expandScopes, type ScopeImplications, type TxnPrincipal } from '../txn/index.js';
import { OAuthError } from './errors.js';

export { expandScopes, type ScopeImplications };


/** T-14: nothing can be granted. Carries why each scope was dropped, for the decision log (never sent to the caller). */
export class NoScopeGranted extends OAuthError {
  readonly dropped: ScopeDecision['dropped'];
  constructor(dropped: ScopeDecision['dropped']) {
    super('invalid_scope', 'none of the requested scopes can be granted', { reason: 'scope.none_granted' });
    this.dropped = dropped;
  }
}

/** What policy sees when it decides scopes (the policy-engine wiring builds a Cerbos check from it). */
export interface ScopePolicyInput {
  /** the user, with `attr.workload` and `attr.chain` as every service sees them (`principalFrom`, src/txn/principal.ts) */
  principal: TxnPrincipal;
  /** the authenticated requesting workload (`req_wl`) */
  workload: string;
  /** the workloads the request already passed through, outermost (most recent) first, not counting `workload` */
  chain: readonly string[];
  audience: string;
  requestDetails: Record<string, unknown> | undefined;
  requestContext: Record<string, unknown> | undefined;
}

/** Decides which of `candidates` policy allows. Synchronous: the embedded engine answers in microseconds. */
export interface ScopePolicy {
  allowedScopes(input: ScopePolicyInput, candidates: readonly string[]): { allowed: string[]; denied: Array<{ scope: string; policy?: string; rule?: string }> };
}

export interface ScopeDecision {
  granted: string[];
  /** requested scopes left out, with the reason, for the decision log */
  /** (`policy` drops: the deciding policy, and the deciding rule `policy#rule` when a rule decided rather than default deny) */
  dropped: Array<{ scope: string; reason: 'subject' | 'ceiling' | 'policy'; policy?: string; rule?: string }>;
}

/**
 * T-12: granted = requested ∩ subject scope (with implications) ∩ the workload's ceiling (with implications) ∩ policy.
 * T-14: nothing granted is `invalid_scope`. The order of the request is kept.
 */
export function decideScope(args: {
  requested: readonly string[];
  subjectScopes: Iterable<string>;
  ceiling: Iterable<string>;
  implications: ScopeImplications;
  policy?: ScopePolicy | undefined;
  policyInput?: ScopePolicyInput | undefined;
}): ScopeDecision {
  const subject = expandScopes(args.subjectScopes, args.implications);
  const ceiling = expandScopes(args.ceiling, args.implications);
  const dropped: ScopeDecision['dropped'] = [];
  let candidates: string[] = [];
  for (const s of args.requested) {
    if (!subject.has(s)) dropped.push({ scope: s, reason: 'subject' });
    else if (!ceiling.has(s)) dropped.push({ scope: s, reason: 'ceiling' });
    else candidates.push(s);
  }
  if (candidates.length > 0 && args.policy !== undefined) {
    if (args.policyInput === undefined) throw new Error('policy input missing');
    const r = args.policy.allowedScopes(args.policyInput, candidates);
    const allowed = new Set(r.allowed);
    for (const d of r.denied) {
      const e: ScopeDecision['dropped'][number] = { scope: d.scope, reason: 'policy', ...(d.policy !== undefined ? { policy: d.policy } : {}) };
      dropped.push(withRule(e, d));
    }
    candidates = candidates.filter((s) => allowed.has(s));
  }
  if (candidates.length === 0) throw new NoScopeGranted(dropped);
  return { granted: candidates, dropped };
}

/** `rule` of a policy's denial, kept as the policy gave it: a value, or a getter that names it when first read (the log). */
function withRule<T extends { rule?: string }>(to: T, from: { rule?: string }): T {
  const desc = Object.getOwnPropertyDescriptor(from, 'rule');
  if (desc?.get !== undefined) Object.defineProperty(to, 'rule', { enumerable: true, configurable: true, get: desc.get });
  else if (from.rule !== undefined) to.rule = from.rule;
  return to;
}
