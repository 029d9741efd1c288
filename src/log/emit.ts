/**
 * The one emitter of decision lines. A hop (the TTS, a verifier, the MCP helper) builds a draft; `decisionLog` stamps
 * the time and the hop's name, scrubs and bounds it (`scrub`), and hands it to the hop's sink, guarded: a failing sink
 * never changes a decision.
 */
import type { DecisionCallback, DecisionDraft, DecisionRecord } from './record.js';
import { renderDecisionLine, scrub } from './scrub.js';
import { deliver, stdoutLines } from './sink.js';

export interface DecisionLog<R extends DecisionRecord = DecisionRecord> {
  /** this hop's name in every entry */
  readonly hop: string;
  /** where entries go (undefined: nowhere) */
  readonly sink: DecisionCallback<R> | undefined;
  /** false when entries go nowhere: a hop may skip building them */
  readonly enabled: boolean;
  /** the clock that stamps entries */
  now(): Date;
  emit(draft: DecisionDraft<R>): void;
}

export interface DecisionLogOptions<R extends DecisionRecord> {
  hop: string;
  /** where entries go; undefined: nowhere */
  sink: DecisionCallback<R> | undefined;
  now?: (() => Date) | undefined;
}

export function decisionLog<R extends DecisionRecord = DecisionRecord>(o: DecisionLogOptions<R>): DecisionLog<R> {
  const { hop, sink } = o;
  const now = o.now ?? (() => new Date());
  return {
    hop,
    sink,
    enabled: sink !== undefined,
    now,
    emit(draft) {
      if (sink === undefined) return;
      let entry: R;
      try {
        entry = scrub({ time: now().toISOString(), hop, event: draft.event, effect: draft.effect, ...draft }) as R;
      } catch {
        return;
      }
      deliver(sink, entry);
    },
  };
}

/** The default receiver of whole entries: one line each on standard output, rendered as `baton/log` renders them. */
export const stdoutDecisions: DecisionCallback = (entry) => stdoutLines.write(renderDecisionLine(entry));
