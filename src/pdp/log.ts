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
      if (log.enabled) log.emit(checkDraft(txn, principal, req, results, denied, api));
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

/** The entry of a check, member by member in the order the spread-built entry had (no spreads, no Set: issue 14). */
function checkDraft(txn: TxnContext | undefined, principal: Principal, req: CheckRequest, results: readonly CheckResult[], denied: readonly ReadonlySet<string>[], api: PdpDecisionEntry['api']): Omit<PdpDecisionEntry, 'time' | 'hop'> {
  let allowed = 0;
  let total = 0;
  const resources: Record<string, unknown>[] = new Array(results.length);
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    const d = denied[i]!;
    const allow: string[] = [];
    const deny: string[] = [];
    const policies: string[] = [];
    for (const a in r.actions) {
      const e = r.actions[a]!;
      if (e.effect === 'EFFECT_ALLOW' && !d.has(a)) allow.push(a);
      else deny.push(a);
      if (!policies.includes(e.policy)) policies.push(e.policy);
    }
    allowed += allow.length;
    total += allow.length + deny.length;
    const entry: Record<string, unknown> = { kind: r.resource.kind, id: r.resource.id, allow, deny, policy: policies.join(' ') };
    if (d.size > 0) entry.scope_denied = [...d];
    resources[i] = entry;
  }
  const draft: Omit<PdpDecisionEntry, 'time' | 'hop'> = { event: 'check', api, effect: allowed === 0 ? 'deny' : allowed === total ? 'allow' : 'partial' };
  if (txn === undefined) draft.sub = principal.id;
  else {
    draft.txn = txn.txn;
    draft.sub = txn.sub;
    draft.workload = txn.actor;
    draft.chain = [...txn.chain];
  }
  if (req.requestId !== '') draft.request_id = req.requestId;
  draft.roles = principal.roles;
  if (resources.length === 1) draft.resource = { kind: resources[0]!.kind as string, id: resources[0]!.id as string };
  draft.resources = resources;
  return draft;
}
