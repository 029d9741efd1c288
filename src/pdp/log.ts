/**
 * The decision point's decision log: one entry per call (a check of several resources is one entry naming each
 * resource's allowed and denied actions), written through src/log's one emitter. When a Txn-Token was the principal
 * the entry carries its `txn`, `sub`, workload and chain, so it joins the TTS's and the services' lines on `txn`.
 */
import { decisionLog, type DecisionCallback, type DecisionLog, type DecisionRecord } from '../log/index.js';
import type { CheckResult, PlanResult, Principal } from '../policy/index.js';
import type { CheckRequest } from './cerbos-request.js';
import type { TxnContext } from '../verify/context.js';

export interface PdpDecisionEntry extends DecisionRecord {
  /** `check`, `plan`, `evaluation`, `evaluations`, `search`, `forward_auth` */
  event: string;
  effect: 'allow' | 'deny' | 'partial' | 'conditional';
  /** the API the call came through */
  api: 'cerbos' | 'authzen' | 'forward_auth';
}

export interface PdpLog {
  readonly enabled: boolean;
  check(txn: TxnContext | undefined, principal: Principal, req: CheckRequest, results: readonly CheckResult[], denied: readonly ReadonlySet<string>[], api?: PdpDecisionEntry['api']): void;
  plan(txn: TxnContext | undefined, principal: Principal, kind: string, actions: readonly string[], plan: PlanResult, uncovered: ReadonlySet<string>, api?: PdpDecisionEntry['api']): void;
  failure(event: string, txn: TxnContext | undefined, principal: Principal, e: unknown): void;
  emit(draft: Omit<PdpDecisionEntry, 'time' | 'hop'>): void;
}

/** Who the decision was for: the token's transaction when there was one, else the principal sent. */
export function callerFields(txn: TxnContext | undefined, principal: Principal): Record<string, unknown> {
  if (txn === undefined) return { sub: principal.id };
  return { txn: txn.txn, sub: txn.sub, workload: txn.actor, chain: [...txn.chain] };
}

export function pdpLog(hop: string, sink: DecisionCallback<PdpDecisionEntry> | undefined, now?: () => Date): PdpLog {
  const log: DecisionLog<PdpDecisionEntry> = decisionLog<PdpDecisionEntry>({ hop, sink, now });
  return {
    enabled: log.enabled,
    emit: (d) => log.emit(d),
    check(txn, principal, req, results, denied, api = 'cerbos') {
      if (!log.enabled) return;
      let allowed = 0;
      let total = 0;
      const resources = results.map((r, i) => {
        const allow: string[] = [];
        const deny: string[] = [];
        for (const a in r.actions) {
          if (r.actions[a]!.effect === 'EFFECT_ALLOW' && !denied[i]!.has(a)) allow.push(a);
          else deny.push(a);
        }
        allowed += allow.length;
        total += allow.length + deny.length;
        const policies = [...new Set(Object.values(r.actions).map((e) => e.policy))];
        return { kind: r.resource.kind, id: r.resource.id, allow, deny, policy: policies.join(' '), ...(denied[i]!.size > 0 ? { scope_denied: [...denied[i]!] } : {}) };
      });
      log.emit({
        event: 'check',
        api,
        effect: allowed === 0 ? 'deny' : allowed === total ? 'allow' : 'partial',
        ...callerFields(txn, principal),
        ...(req.requestId !== '' ? { request_id: req.requestId } : {}),
        roles: principal.roles,
        ...(resources.length === 1 ? { resource: { kind: resources[0]!.kind, id: resources[0]!.id } } : {}),
        resources,
      });
    },
    plan(txn, principal, kind, actions, plan, uncovered, api = 'cerbos') {
      if (!log.enabled) return;
      const k = plan.filter.kind;
      log.emit({
        event: 'plan',
        api,
        effect: k === 'KIND_ALWAYS_ALLOWED' ? 'allow' : k === 'KIND_ALWAYS_DENIED' ? 'deny' : 'conditional',
        ...callerFields(txn, principal),
        action: actions.join(' '),
        resource: { kind },
        ...(uncovered.size > 0 ? { policy: 'scope', reason: `the token's scope does not cover ${[...uncovered].join(' ')}` } : {}),
        plan: { kind: k, filter: plan.filterDebug, rules: plan.rules.map((r) => r.rule) },
      });
    },
    failure(event, txn, principal, e) {
      log.emit({ event, api: 'cerbos', effect: 'deny', ...callerFields(txn, principal), policy: 'error', reason: `the policy engine could not decide: ${(e as Error)?.message ?? 'error'}`, reason_code: 'engine.failed' });
    },
  };
}
