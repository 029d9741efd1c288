import { decisionLog, stdoutDecisions, type DecisionCallback, type DecisionLog, type DecisionRecord } from '../log/index.js';

/** One structured line per decision at a receiving service; never a raw token (V-11). A narrowing of the log's record. */
export interface ServiceDecisionEntry extends DecisionRecord {
  /** the service's name (`service` option) */
  hop: string;
  event: 'verify' | 'authorize' | 'plan';
  /** `conditional` for a plan that allows the resources matching a filter */
  effect: 'allow' | 'deny' | 'conditional';
  /** outermost first, the current actor included */
  chain?: string[] | undefined;
  resource?: { kind: string; id?: string | undefined } | undefined;
  /** the scope the action needs, when one was required */
  scope?: string | undefined;
  /** the deciding policy (`scope` when the token's scope did not cover the action) */
  policy?: string | undefined;
  /** a TxnTokenError code for refused tokens */
  error?: string | undefined;
  /** `planFor`: the plan's kind, its filter (Cerbos's filterDebug) and the rules behind it */
  plan?: { kind: string; filter: string; rules: string[] } | undefined;
}
export type ServiceDecisionSink = DecisionCallback<ServiceDecisionEntry>;

/** A service's decision log: `onDecision` (default one line on stdout; `null`: none), stamped with its name and clock. */
export function serviceLog(o: { onDecision?: ServiceDecisionSink | null | undefined; service?: string | undefined; now: () => number }): DecisionLog<ServiceDecisionEntry> {
  const sink = o.onDecision === undefined ? (stdoutDecisions as ServiceDecisionSink) : (o.onDecision ?? undefined);
  return decisionLog<ServiceDecisionEntry>({ hop: o.service ?? 'service', sink, now: () => new Date(o.now()) });
}
