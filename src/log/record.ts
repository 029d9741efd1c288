/**
 * The one record type of the decision log: every hop's entry (the TTS's, a verifier's, the MCP helper's) is a
 * `DecisionRecord`, narrowed by the hop to its own events and words.
 */

/** One decision, whoever made it. Known members are typed; hops may add their own (kept, after scrubbing). */
export interface DecisionRecord {
  time: string;
  /** which hop decided: `tts`, `mcp`, a service name */
  hop: string;
  /** what was decided: `exchange`, `replace`, `revoke`, `tool_call`, `verify`, `authorize`, ... */
  event: string;
  /** `grant`/`allow` or `deny` (the hop's own words are kept) */
  effect: string;
  txn?: string | undefined;
  sub?: string | undefined;
  /** the current requesting workload (req_wl) */
  workload?: string | undefined;
  /** workloads of the transaction, outermost (current) first */
  chain?: readonly string[] | undefined;
  action?: string | undefined;
  requested?: readonly string[] | undefined;
  granted?: readonly string[] | undefined;
  resource?: { kind: string; id?: string | undefined } | undefined;
  /** the deciding policy (e.g. `resource.ticket.vdefault`) and rule, when known */
  policy?: string | undefined;
  rule?: string | undefined;
  /** the OAuth or verification error code on a denial (what the caller was told) */
  error?: string | undefined;
  /** one readable sentence: why */
  reason?: string | undefined;
  /**
   * why, as a stable code (e.g. `client.assertion.bad_algorithm`, `header.bearer`): which check decided. Written only
   * to the log and the error value, never into an HTTP answer (see SECURITY.md, "reason codes").
   */
  reason_code?: string | undefined;
  /** the request's `X-Request-Id` (accepted or created by the server that decided) */
  request_id?: string | undefined;
  /** the OpenTelemetry trace the decision was made in (when the application registered an SDK) */
  trace_id?: string | undefined;
  [extra: string]: unknown;
}

/** What a hop hands to the log: everything but the time and the hop's name, which the log stamps. */
export type DecisionDraft<R extends DecisionRecord = DecisionRecord> = Omit<R, 'time' | 'hop'>;

/** A receiver of whole entries (`onDecision` of the TTS, a verifier, the MCP helper). */
export type DecisionCallback<R extends DecisionRecord = DecisionRecord> = (entry: R) => void;
