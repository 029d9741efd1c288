/**
 * `createDecisionLogger`: one logger for entries of any hop (a sink for `startNode`, `createVerifier`, the MCP helper):
 * normalizes them to a `DecisionRecord`, scrubs them, renders one line each and hands line and record to a line sink.
 */
import type { DecisionRecord } from './record.js';
import { isoTime, leadValue, oneLine, putMember, renderMembers, scrub, toJsonLine, type LeadMembers } from './scrub.js';
import { renderLater } from './emit.js';
import { deliver, stdoutLines, type DecisionLogSink } from './sink.js';

export interface DecisionLoggerOptions {
  /** default: standard output (`stdoutLines`) */
  sink?: DecisionLogSink;
  /** fills `hop` when an entry has none */
  hop?: string;
  now?: () => Date;
}

/** Anything a hop emits: the TTS's `DecisionEntry`, a verifier's entry, or a `DecisionRecord`. */
export type DecisionInput = object;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export class DecisionLogger {
  readonly #sink: DecisionLogSink;
  readonly #hop: string | undefined;
  readonly #now: () => Date;
  /** writes to standard output (the default sink): entries from `decisionLog` are scrubbed and rendered when written */
  readonly #stdout: boolean;

  constructor(o: DecisionLoggerOptions = {}) {
    this.#stdout = o.sink === undefined;
    this.#sink = o.sink ?? ((line) => stdoutLines.write(line));
    this.#hop = o.hop;
    this.#now = o.now ?? (() => new Date());
  }

  /** Normalizes, scrubs and writes one entry. A failing sink never throws into the caller's decision path. */
  log(entry: DecisionInput): void {
    let record: DecisionRecord;
    let line: string;
    try {
      record = this.normalize(entry);
      line = toJsonLine(record);
    } catch {
      return; // an entry that cannot be rendered loses its line, never the decision
    }
    deliver(this.#sink, line, record);
  }

  /** The same logger as a plain callback: pass it as `onDecision` to `startNode`, `createVerifier`, the MCP helper. */
  get sink(): (entry: DecisionInput) => void {
    const sink = (entry: DecisionInput): void => this.log(entry);
    if (!this.#stdout) return sink;
    return renderLater(sink, (entry, time, hop, draft) => stdoutLines.writeLater(() => this.stampedLine(entry, time, hop, draft)));
  }

  /** A callback that stamps `hop` on entries that lack one (e.g. a verifier created without `service`). */
  for(hop: string): (entry: DecisionInput) => void {
    // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
    return (entry) => this.log((entry as { hop?: unknown }).hop === undefined ? { __proto__: Object.prototype, ...entry, hop } : entry);
  }

  /**
   * The line of one entry: the same text as `toJsonLine(this.normalize(entry))`, rendered member by member from the
   * entry (`renderMembers`), without the scrubbed and the normalized copies (what a decision line cost the most).
   */
  line(entry: DecisionInput): string {
    const lead: LeadMembers = {};
    const members = renderMembers(entry, lead);
    if (members === undefined) return toJsonLine(this.normalize(entry));
    return this.#joined(lead, members);
  }

  /**
   * `this.line(entry())` of an entry `emit` stamped (see `RenderLater`), rendered from its draft without the stamped
   * copy when the copy's line is the draft's with `time` and `hop` led: the draft has its own `event` and `effect`
   * (the copy's values) and no `time` or `hop` (which would replace the stamp). The two stamped members count towards
   * MAX_LOG_MEMBERS as in the copy. Anything else renders the copy.
   */
  stampedLine(entry: () => DecisionInput, time: Date, hop: string, draft: object): string {
    if (Object.hasOwn(draft, 'event') && Object.hasOwn(draft, 'effect') && !Object.hasOwn(draft, 'time') && !Object.hasOwn(draft, 'hop')) {
      const lead: LeadMembers = {};
      const members = renderMembers(draft, lead, 2);
      if (members !== undefined) {
        lead.time = leadValue(isoTime(time));
        lead.hop = leadValue(hop);
        return this.#joined(lead, members);
      }
    }
    return this.line(entry());
  }

  /** The line of `renderMembers`' members and what it recorded in `lead`. */
  #joined(lead: LeadMembers, members: string): string {
    const effectRaw = str(lead.effect) ?? (lead.allowed === true ? 'allow' : 'deny');
    const effect = effectRaw === 'EFFECT_ALLOW' ? 'allow' : effectRaw === 'EFFECT_DENY' ? 'deny' : effectRaw;
    const time = str(lead.time) ?? this.#now().toISOString();
    const hop = str(lead.hop) ?? str(lead.service) ?? this.#hop ?? 'unknown';
    const event = str(lead.event) ?? 'decision';
    let json = `{"time":${JSON.stringify(time)},"hop":${JSON.stringify(hop)},"event":${JSON.stringify(event)},"effect":${JSON.stringify(effect)}${members}`;
    if (!lead.workload && typeof lead.actor === 'string') json += `,"workload":${JSON.stringify(lead.actor)}`;
    return oneLine(`${json}}`);
  }

  normalize(entry: DecisionInput): DecisionRecord {
    const clean = scrub(entry) as Record<string, unknown>;
    const effectRaw = str(clean.effect) ?? (clean.allowed === true ? 'allow' : 'deny');
    const effect = effectRaw === 'EFFECT_ALLOW' ? 'allow' : effectRaw === 'EFFECT_DENY' ? 'deny' : effectRaw;
    const out: DecisionRecord = {
      time: str(clean.time) ?? this.#now().toISOString(),
      hop: str(clean.hop) ?? str(clean.service) ?? this.#hop ?? 'unknown',
      event: str(clean.event) ?? 'decision',
      effect,
    };
    // own members only: `constructor` or `__proto__` are members like any other (an inherited name is not a member)
    for (const [k, v] of Object.entries(clean)) if (!Object.hasOwn(out, k) && k !== 'allowed') putMember(out, k, v);
    // a verifier's entry may name the actor `actor`; the log calls it `workload` everywhere
    if (out.workload === undefined && typeof clean.actor === 'string') out.workload = clean.actor;
    return out;
  }
}

export function createDecisionLogger(o: DecisionLoggerOptions = {}): DecisionLogger {
  return new DecisionLogger(o);
}
