/**
 * The decision log: one structured JSON line per decision, from every hop (TTS, MCP server, downstream services).
 * Lines of one transaction join on `txn`. A raw token never reaches a sink (V-11): members that hold credentials are
 * dropped and any string shaped like a JWT is replaced by a short SHA-256 fingerprint.
 * Runs on Node and Workers (the default sink is `console.log`, i.e. stdout on Node).
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
  /** the OAuth or verification error code on a denial */
  error?: string | undefined;
  reason?: string | undefined;
  [extra: string]: unknown;
}

/** Receives each rendered line and the scrubbed record it was rendered from. */
export type DecisionLogSink = (line: string, record: Readonly<DecisionRecord>) => void;

export interface DecisionLoggerOptions {
  /** default: `console.log` of the line (stdout on Node) */
  sink?: DecisionLogSink;
  /** fills `hop` when an entry has none */
  hop?: string;
  now?: () => Date;
}

const CREDENTIAL_KEYS = new Set([
  'token', 'access_token', 'subject_token', 'actor_token', 'refresh_token', 'id_token', 'client_secret',
  'client_assertion', 'authorization', 'txn-token', 'txn_token', 'password', 'secret', 'assertion', 'cookie',
]);
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const EMBEDDED_JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

function scrubString(s: string): string {
  if (JWT_SHAPE.test(s)) return '[redacted jwt]';
  return s.replace(EMBEDDED_JWT, '[redacted jwt]').replace(BEARER, '$1 [redacted]');
}

/** Deep copy without credentials: credential-named members are dropped, JWT-shaped strings redacted. */
export function scrub(value: unknown, depth = 0): unknown {
  if (depth > 12) return '[truncated]';
  if (typeof value === 'string') return scrubString(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (CREDENTIAL_KEYS.has(k.toLowerCase())) continue;
      if (v === undefined || typeof v === 'function') continue;
      out[k] = scrub(v, depth + 1);
    }
    return out;
  }
  return value;
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

  constructor(o: DecisionLoggerOptions = {}) {
    this.#sink = o.sink ?? ((line) => console.log(line));
    this.#hop = o.hop;
    this.#now = o.now ?? (() => new Date());
  }

  /** Normalizes, scrubs and writes one entry. A failing sink never throws into the caller's decision path. */
  log(entry: DecisionInput): void {
    let record: DecisionRecord;
    try {
      record = this.normalize(entry);
    } catch {
      return;
    }
    try {
      this.#sink(JSON.stringify(record), record);
    } catch {
      /* a failing log sink never changes a decision */
    }
  }

  /** The same logger as a plain callback: pass it as `onDecision` to `startNode`, `createVerifier`, the MCP helper. */
  get sink(): (entry: DecisionInput) => void {
    return (entry) => this.log(entry);
  }

  /** A callback that stamps `hop` on entries that lack one (e.g. a verifier created without `service`). */
  for(hop: string): (entry: DecisionInput) => void {
    return (entry) => this.log((entry as { hop?: unknown }).hop === undefined ? { ...entry, hop } : entry);
  }

  normalize(entry: DecisionInput): DecisionRecord {
    const clean = scrub(entry) as Record<string, unknown>;
    const effectRaw = str(clean.effect) ?? (clean.allowed === true ? 'allow' : clean.allowed === false ? 'deny' : 'deny');
    const effect = effectRaw === 'EFFECT_ALLOW' ? 'allow' : effectRaw === 'EFFECT_DENY' ? 'deny' : effectRaw;
    const out: DecisionRecord = {
      time: str(clean.time) ?? this.#now().toISOString(),
      hop: str(clean.hop) ?? str(clean.service) ?? this.#hop ?? 'unknown',
      event: str(clean.event) ?? 'decision',
      effect,
    };
    for (const [k, v] of Object.entries(clean)) if (!(k in out) && k !== 'allowed') out[k] = v;
    // a verifier's entry may name the actor `actor`; the log calls it `workload` everywhere
    if (out.workload === undefined && typeof clean.actor === 'string') out.workload = clean.actor;
    return out;
  }
}

export function createDecisionLogger(o: DecisionLoggerOptions = {}): DecisionLogger {
  return new DecisionLogger(o);
}

/** An in-memory sink that keeps every record (tests, the demo's trace). */
export function memorySink(): DecisionLogSink & { records: DecisionRecord[]; lines: string[] } {
  const records: DecisionRecord[] = [];
  const lines: string[] = [];
  const sink = (line: string, record: Readonly<DecisionRecord>) => {
    lines.push(line);
    records.push(record as DecisionRecord);
  };
  return Object.assign(sink, { records, lines });
}

/** Fans a line out to several sinks (e.g. stdout and memory). */
export function teeSink(...sinks: DecisionLogSink[]): DecisionLogSink {
  return (line, record) => {
    for (const s of sinks) {
      try {
        s(line, record);
      } catch {
        /* one failing sink does not silence the others */
      }
    }
  };
}
