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
  /** false when entries go nowhere (no sink, nothing counts them): a hop may skip building them */
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
  /**
   * told of every decision as it is emitted, with the hop's name and the draft as the hop built it (before the time
   * stamp and the scrub, which a count needs neither of): the metrics' decision counters. Must only read the draft.
   */
  count?: ((hop: string, draft: DecisionDraft) => void) | undefined;
}

export function decisionLog<R extends DecisionRecord = DecisionRecord>(o: DecisionLogOptions<R>): DecisionLog<R> {
  const { hop, sink, count } = o;
  const now = o.now ?? (() => new Date());
  return {
    hop,
    sink,
    enabled: sink !== undefined || count !== undefined,
    now,
    emit(draft) {
      if (count !== undefined) {
        try {
          count(hop, draft as DecisionDraft);
        } catch {
          // a failing count never changes a decision (nor stops its line)
        }
      }
      if (sink === undefined) return;
      const later = renderedLater.get(sink);
      if (later !== undefined) {
        // a standard-output sink: stamped now, scrubbed and rendered when its batch is written (off the decision path)
        const time = now();
        later(() => stamped(time, hop, draft), time, hop, draft);
        return;
      }
      let entry: R;
      try {
        entry = scrub(stamped(now(), hop, draft)) as R;
      } catch {
        return;
      }
      deliver(sink, entry);
    },
  };
}

/** The entry a hop's draft is logged as: its time and hop first, then `event` and `effect`, then the draft's members. */
function stamped(time: Date, hop: string, draft: object): DecisionRecord {
  const d = draft as { event?: unknown; effect?: unknown };
  return { time: time.toISOString(), hop, event: d.event, effect: d.effect, ...d } as DecisionRecord;
}

/**
 * Sinks that write to standard output through `stdoutLines` and so can take an entry not scrubbed yet, to scrub and
 * render it when its batch is written: `emit` hands them a thunk of the stamped entry instead of the entry (a hop's
 * draft is a fresh object, its members copies, never changed after `emit`). Every other sink gets the scrubbed entry at
 * once, as before.
 */
const renderedLater = new WeakMap<object, RenderLater>();

/**
 * Takes a stamped entry to render later: `entry()` makes it (a fresh copy each call: `stamped`); `time`, `hop` and `draft`
 * are what it is made of, for a renderer that can render the same line from them without the copy.
 */
export type RenderLater = (entry: () => DecisionRecord, time: Date, hop: string, draft: object) => void;

/** Marks `sink` as one whose entries `emit` may hand over unscrubbed, through `later` (see `renderedLater`). */
export function renderLater<S extends object>(sink: S, later: RenderLater): S {
  renderedLater.set(sink, later);
  return sink;
}

/** The default receiver of whole entries: one line each on standard output, rendered as `baton/log` renders them. */
export const stdoutDecisions: DecisionCallback = renderLater(
  (entry: DecisionRecord) => stdoutLines.write(renderDecisionLine(entry)),
  (entry) => stdoutLines.writeLater(() => renderDecisionLine(entry())),
);
