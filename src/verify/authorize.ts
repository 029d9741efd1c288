import { inSpanSync, subAttribute, traceIdOf } from '../trace/index.js';
import type { AuxData, Effect, Engine, Explanation, Principal, Resource } from '../policy/index.js';
import { scopeCovers, type ScopeImplications } from '../txn/index.js';
import { decisionLog, type DecisionLog } from '../log/index.js';
import type { TxnContext } from './context.js';
import type { ServiceDecisionEntry, ServiceDecisionSink } from './decision.js';

export { scopeCovers, type ScopeImplications };

export interface AuthorizeOptions {
  /** the embedded engine, built from the same policy files as the TTS (or a compiled bundle) */
  engine: Pick<Engine, 'check'>;
  /** the token scope(s) the action needs (V-12); each must be in the token's scope (or implied by one of it) */
  scope?: string | readonly string[] | undefined;
  /** scope implications as configured at the TTS (`tickets` ⊇ `tickets:read`); none by default */
  implications?: ScopeImplications | undefined;
  /** ask the engine for a human-readable trace */
  explain?: boolean | undefined;
  auxData?: AuxData | undefined;
  /** the clock for the engine's `now()` */
  now?: Date | undefined;
  /** overrides the verifier's decision sink / hop name */
  onDecision?: ServiceDecisionSink | undefined;
  service?: string | undefined;
}

export interface AuthorizeDecision {
  allowed: boolean;
  effect: Effect;
  /** the deciding policy (e.g. `resource.ticket.vdefault`), `NO_MATCH`, `scope` (token scope did not cover) or `error` */
  policy: string;
  /** the policy scope of the deciding policy ('' = root), as the engine reports it */
  scope: string;
  /** one readable sentence: why */
  reason: string;
  /** derived roles that applied (e.g. `owner`) */
  derivedRoles: string[];
  /** with `explain: true`: the deciding rule (`policy#rule`) when a rule decided */
  rule?: string | undefined;
  /** with `explain: true`: why (which rules and derived roles applied or not), as the engine explains it */
  explanation?: Explanation | undefined;
}

/** The principal the policy engine decides for (V-12): the token's user, as `TxnContext.principal` describes it. */
export function principalOf(txn: TxnContext): Principal {
  return { id: txn.principal.id, roles: txn.principal.roles as string[], attr: txn.principal.attr as Record<string, unknown> };
}

/** The scope(s) an action needs, as given in the options. */
export function neededScopes(scope: string | readonly string[] | undefined): readonly string[] {
  return scope === undefined ? [] : typeof scope === 'string' ? [scope] : scope;
}

/** The first needed scope the token's scope does not cover (directly or through implications), if any. */
export function uncoveredScope(txn: TxnContext, needed: readonly string[], implications?: ScopeImplications): string | undefined {
  return needed.find((s) => !scopeCovers(txn.scope, s, implications));
}

/** The log a decision on `txn` goes to: its verifier's, unless the options name another sink or hop. */
export function logFor(txn: TxnContext, opts: { onDecision?: ServiceDecisionSink | undefined; service?: string | undefined }): DecisionLog<ServiceDecisionEntry> {
  if (opts.onDecision === undefined && opts.service === undefined) return txn.log;
  return decisionLog({ hop: opts.service ?? txn.log.hop, sink: opts.onDecision ?? txn.log.sink, now: txn.log.now });
}

/**
 * V-12: may the user of this transaction, through this chain of workloads, do `action` on `resource`?
 * Allowed only when every required scope is covered by the token AND the engine answers EFFECT_ALLOW for
 * principal = `txn.principal` (see TxnPrincipal). Anything else, an engine error included, denies.
 * Writes one decision entry to `txn.log` (the log of the verifier that verified `txn`), or to `opts.onDecision`.
 */
export function authorize(txn: TxnContext, resource: Resource, action: string, opts: AuthorizeOptions): AuthorizeDecision {
  // the span's attributes are built only when a span is started (an SDK registered), and set only on a recording one
  const attributes = () => ({ 'baton.txn': txn.txn, 'baton.workload': txn.actor, 'baton.action': action, 'baton.resource.kind': resource.kind, ...subAttribute(txn.sub) });
  return inSpanSync('baton.authorize', attributes, (span) => {
    const d = authorizeIn(txn, resource, action, opts, traceIdOf(span));
    if (span.isRecording()) span.setAttributes({ 'baton.decision': d.allowed ? 'allow' : 'deny', 'baton.policy': d.policy });
    return d;
  });
}

function authorizeIn(txn: TxnContext, resource: Resource, action: string, opts: AuthorizeOptions, traceId: string | undefined): AuthorizeDecision {
  const needed = neededScopes(opts.scope);
  const missing = uncoveredScope(txn, needed, opts.implications);
  const decision =
    missing !== undefined
      ? { allowed: false, effect: 'EFFECT_DENY' as const, policy: 'scope', scope: '', reason: `the token's scope does not cover ${missing}`, derivedRoles: [] }
      : decide(txn, resource, action, opts);
  logFor(txn, opts).emit({
    event: 'authorize',
    effect: decision.allowed ? 'allow' : 'deny',
    txn: txn.txn,
    sub: txn.sub,
    workload: txn.actor,
    chain: [...txn.chain],
    action,
    resource: { kind: resource.kind, id: resource.id },
    ...(missing !== undefined ? { scope: missing } : needed.length > 0 ? { scope: needed.join(' ') } : {}),
    policy: decision.policy,
    reason: decision.reason,
    ...(traceId !== undefined ? { trace_id: traceId } : {}),
  });
  return decision;
}

/** The engine's answer for the principal of `txn` (fail closed: an engine error denies). */
function decide(txn: TxnContext, resource: Resource, action: string, opts: AuthorizeOptions): AuthorizeDecision {
  try {
    const r = opts.engine.check(
      {
        principal: principalOf(txn),
        resource,
        actions: [action],
        ...(opts.auxData !== undefined ? { auxData: opts.auxData } : {}),
      },
      { ...(opts.explain === true ? { explain: true } : {}), ...(opts.now !== undefined ? { now: opts.now } : {}) },
    );
    const a = r.actions[action];
    const allowed = a?.effect === 'EFFECT_ALLOW';
    const policy = a?.policy ?? 'NO_MATCH';
    const roles = r.effectiveDerivedRoles;
    const via = roles.length > 0 ? ` (derived roles: ${roles.join(', ')})` : '';
    return {
      allowed,
      effect: allowed ? 'EFFECT_ALLOW' : 'EFFECT_DENY',
      policy,
      scope: a?.scope ?? '',
      reason: allowed ? `allowed by ${policy}${via}` : policy === 'NO_MATCH' ? `no policy allows ${action} on ${resource.kind} (default deny)` : `denied by ${policy}${via}`,
      derivedRoles: roles,
      ...(r.explained !== undefined ? { explanation: r.explained, rule: r.explained.actions[action]?.rule } : {}),
    };
  } catch {
    return { allowed: false, effect: 'EFFECT_DENY', policy: 'error', scope: '', reason: 'the policy engine could not decide (denied)', derivedRoles: [] };
  }
}

/** An authorization decision that denied (from `requireAllowed`). Maps to 403. */
export class ForbiddenError extends Error {
  readonly code = 'forbidden' as const;
  readonly status = 403 as const;
  readonly decision: AuthorizeDecision;
  constructor(decision: AuthorizeDecision) {
    super(decision.reason);
    this.name = 'ForbiddenError';
    this.decision = decision;
  }
}

/** `authorize`, throwing `ForbiddenError` (403, code `forbidden`) when denied. */
export function requireAllowed(txn: TxnContext, resource: Resource, action: string, opts: AuthorizeOptions): AuthorizeDecision {
  const d = authorize(txn, resource, action, opts);
  if (!d.allowed) throw new ForbiddenError(d);
  return d;
}
