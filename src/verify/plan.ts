import type { AuxData, Engine, PlanFilterKind, PlanInput, PlanResult } from '../policy/index.js';
import { logFor, neededScopes, principalOf, uncoveredScope, type ScopeImplications } from './authorize.js';
import type { TxnContext } from './context.js';
import type { ServiceDecisionSink } from './decision.js';

export interface PlanForOptions {
  /** the embedded engine, built from the same policy files as the TTS (or a compiled bundle) */
  engine: Pick<Engine, 'plan'>;
  /** the token scope(s) the action needs (V-12); when the token does not cover them the plan is ALWAYS_DENIED */
  scope?: string | readonly string[] | undefined;
  /** scope implications as configured at the TTS; none by default */
  implications?: ScopeImplications | undefined;
  /** what every resource of the query shares (its policy version, scope, attributes known in advance) */
  resource?: Omit<PlanInput['resource'], 'kind'> | undefined;
  auxData?: AuxData | undefined;
  /** the clock for the engine's `now()` */
  now?: Date | undefined;
  /** overrides the verifier's decision sink / hop name */
  onDecision?: ServiceDecisionSink | undefined;
  service?: string | undefined;
}

/** A plan for the token's user: the engine's plan, or ALWAYS_DENIED with the reason when the token cannot ask. */
export interface TxnPlan extends PlanResult {
  /** why: `scope` (the token does not cover the action's scope), `error` (the engine could not plan), or `policy` */
  basis: 'policy' | 'scope' | 'error';
  /** one readable sentence */
  reason: string;
}

/**
 * Query planning for the user of this transaction (V-12 for lists): which resources of `kind` may this user, through
 * this chain of workloads, `action`? The principal is the one `authorize` uses (`principalOf`); when the token's scope
 * does not cover `opts.scope` the plan is ALWAYS_DENIED without asking the engine, and an engine that cannot plan
 * (PlanError, or a malformed input) also gives ALWAYS_DENIED: a service then lists nothing. Writes one decision entry
 * (`event: "plan"`, the plan's kind, filter and the rules behind it) to the log of the verifier that verified `txn`.
 */
export function planFor(txn: TxnContext, kind: string, action: string, opts: PlanForOptions): TxnPlan {
  const needed = neededScopes(opts.scope);
  const missing = uncoveredScope(txn, needed, opts.implications);
  const denied = (basis: TxnPlan['basis'], reason: string): TxnPlan => ({
    kind,
    policyVersion: opts.resource?.policyVersion ?? '',
    scope: opts.resource?.scope ?? '',
    actions: [action],
    filter: { kind: 'KIND_ALWAYS_DENIED' },
    filterDebug: '(false)',
    matchedScopes: {},
    rules: [],
    validationErrors: [],
    basis,
    reason,
  });
  let plan: TxnPlan;
  if (missing !== undefined) plan = denied('scope', `the token's scope does not cover ${missing}`);
  else {
    try {
      const r = opts.engine.plan(
        { principal: principalOf(txn), resource: { ...opts.resource, kind }, action, ...(opts.auxData !== undefined ? { auxData: opts.auxData } : {}) },
        opts.now !== undefined ? { now: opts.now } : {},
      );
      // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
      const built = { __proto__: Object.prototype, ...r, basis: 'policy' as const, reason: reasonOf(r.filter.kind, r.filterDebug, action, kind) };
      plan = built;
    } catch (e) {
      // PlanError (code plan_failed): what Cerbos's planner cannot plan either; anything else: a malformed input
      const failed = typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'plan_failed';
      plan = denied('error', failed ? `the policy engine could not plan (${(e as Error).message})` : 'the policy engine could not plan (denied)');
    }
  }
  logFor(txn, opts).emit({
    event: 'plan',
    effect: effectOf(plan.filter.kind),
    txn: txn.txn,
    sub: txn.sub,
    workload: txn.actor,
    chain: [...txn.chain],
    action,
    resource: { kind },
    ...(missing !== undefined ? { scope: missing } : needed.length > 0 ? { scope: needed.join(' ') } : {}),
    policy: plan.basis === 'policy' ? plan.filterDebug === 'NO_MATCH' ? 'NO_MATCH' : 'plan' : plan.basis,
    plan: { kind: plan.filter.kind, filter: plan.filterDebug, rules: plan.rules.map((r) => r.rule) },
    reason: plan.reason,
  });
  return plan;
}

function effectOf(k: PlanFilterKind): 'allow' | 'deny' | 'conditional' {
  return k === 'KIND_ALWAYS_ALLOWED' ? 'allow' : k === 'KIND_ALWAYS_DENIED' ? 'deny' : 'conditional';
}

function reasonOf(k: PlanFilterKind, debug: string, action: string, kind: string): string {
  if (k === 'KIND_ALWAYS_ALLOWED') return `every ${kind} allows ${action}`;
  if (debug === 'NO_MATCH') return `no policy allows ${action} on ${kind} (default deny)`;
  if (k === 'KIND_ALWAYS_DENIED') return `no ${kind} allows ${action}`;
  return `the ${kind} records where ${debug} hold`;
}
