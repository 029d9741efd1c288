/**
 * The scrubber every decision line goes through before any sink sees it (V-11): members that hold credentials are
 * dropped, anything shaped like a JWS/JWE is redacted, strings are bounded, and a line is always one line.
 */
const CREDENTIAL_KEYS = new Set([
  'token', 'access_token', 'subject_token', 'actor_token', 'refresh_token', 'id_token', 'client_secret',
  'client_assertion', 'authorization', 'txn-token', 'txn_token', 'password', 'secret', 'assertion', 'cookie',
]);
const BEARER = /\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
/**
 * A run of base64url characters and dots with at least one dot: a compact JWS/JWE candidate (confirmed by its first
 * segment below), taken whole, however many segments (a token cut short is still redacted). Linear: a candidate only
 * starts where a run starts (the lookbehind), so no input makes the engine backtrack quadratically.
 */
const JOSE_RUN = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_.-]*/g;
/**
 * The base64url characters that can start the encoding of `{` or of a whitespace character (\t \n \v \f \r, space,
 * U+00A0): `{` is 0x7B → `e`; 0x09..0x0B → `C`; 0x0C, 0x0D → `D`; 0x20 → `I`; 0xA0 → `o`. Any other first character
 * decodes to a first byte that is neither, so the candidate is not a JOSE header and need not be decoded.
 */
const JSON_START_CHARS = 'eCDIo';
/**
 * Where a JOSE_RUN candidate that `isCompactJose` can confirm starts: at the start of a run, with a character of
 * JSON_START_CHARS, then a dot after at least one more base64url character. A string without one (a timestamp, a host
 * name, a dotted policy name) has nothing to redact, and is not given to the replacement.
 */
const JOSE_START = new RegExp(`(?<![A-Za-z0-9_-])[${JSON_START_CHARS}][A-Za-z0-9_-]+\\.`);
/** No dot and no whitespace: neither a token nor a scheme-prefixed credential can be in it. */
const SIMPLE = /^[^.\s]*$/;

/** Output of `scrub`, frozen: scrubbing it again is a no-op, so a logger fed by a hop that already scrubbed (the TTS,
 * the verifier, the MCP helper) does not pay twice, and nothing can be slipped into it in between. */
const scrubbed = new WeakSet<object>();
/** A member name as logged, with what rendering it needs, worked out once per name (see `memberName`). */
interface MemberName {
  /** the name, scrubbed like a value */
  readonly name: string;
  /** `,"name":`, what a rendered member starts with */
  readonly prefix: string;
  /** a name JSON.stringify would move to the front: a canonical array index */
  readonly indexLike: boolean;
}
/** Member names seen before (a small vocabulary: the entries' own fields): null = a credential, dropped. */
const memberNames = new Map<string, MemberName | null>();
/** A member name as logged: null for a credential member (dropped), else the name, scrubbed like a value. */
function memberName(k: string): MemberName | null {
  const known = memberNames.get(k);
  if (known !== undefined) return known;
  let m: MemberName | null = null;
  if (!CREDENTIAL_KEYS.has(k.toLowerCase())) {
    const name = scrubString(k);
    m = { name, prefix: `,${JSON.stringify(name)}:`, indexLike: INDEX_LIKE.test(name) };
  }
  if (k.length <= 64 && memberNames.size < 4096) memberNames.set(k, m);
  return m;
}

/** Longest string kept in a log entry (longer ones are cut, with the number of characters cut). */
export const MAX_LOG_STRING = 512;
/** Most members of one array or object kept in a log entry. */
export const MAX_LOG_MEMBERS = 64;
const MAX_LOG_DEPTH = 12;
/** Only this much of a string is ever looked at (the cut to MAX_LOG_STRING comes after redaction). */
const MAX_SCANNED = 8192;

const b64urlChars = /^[A-Za-z0-9_-]+$/;
function b64urlDecodeStart(seg: string): string {
  // the first 12 characters decode to 9 bytes: enough to see where a JSON header starts
  const part = seg.slice(0, 12);
  if (!b64urlChars.test(part)) return '';
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  try {
    return atob(b64.slice(0, b64.length - (b64.length % 4)));
  } catch {
    return '';
  }
}

/** JSON_START_CHARS, for a lookup by character. */
const JSON_START = new Set(JSON_START_CHARS);

/** A compact JWS/JWE: its first segment is base64url of a JSON object (whatever its whitespace or member order). */
function isCompactJose(candidate: string): boolean {
  if (!JSON_START.has(candidate[0]!)) return false;
  return /^\s*\{/.test(b64urlDecodeStart(candidate.slice(0, candidate.indexOf('.'))));
}

function scrubString(s: string): string {
  if (s.length <= MAX_LOG_STRING && SIMPLE.test(s)) return s;
  const scanned = s.length > MAX_SCANNED ? s.slice(0, MAX_SCANNED) : s;
  let clean = scanned;
  if (clean.includes('.') && JOSE_START.test(clean)) clean = clean.replace(JOSE_RUN, (m) => (isCompactJose(m) ? '[redacted jwt]' : m));
  if (clean.includes(' ') || clean.includes('\t')) clean = clean.replace(BEARER, '$1 [redacted]');
  if (clean.length <= MAX_LOG_STRING && scanned.length === s.length) return clean;
  const kept = clean.slice(0, MAX_LOG_STRING);
  return `${kept}…[${s.length - scanned.length + clean.length - kept.length} more characters]`;
}

/**
 * Sets own data member `name` of `out`. A member named `__proto__` (an own member of anything JSON.parse made, so of
 * anything a caller sent) is defined as an own member, as JSON.stringify names it: assigned, it would set `out`'s
 * prototype instead (input choosing a prototype; a frozen one made later assignments throw).
 */
export function putMember(out: Record<string, unknown>, name: string, v: unknown): void {
  if (name === '__proto__') Object.defineProperty(out, name, { value: v, enumerable: true, writable: true, configurable: true });
  else out[name] = v;
}

/**
 * Deep copy without credentials, bounded: credential-named members are dropped, JWT-shaped strings (anything whose
 * first dot-separated segment is base64url of a JSON object) redacted, `Bearer`/`Basic` credentials cut, strings cut
 * at MAX_LOG_STRING characters, arrays and objects at MAX_LOG_MEMBERS members, nesting at 12 levels. What a caller
 * sent therefore reaches a log only bounded, whether or not it authenticated.
 */
export function scrub(value: unknown, depth = 0): unknown {
  return scrubCopy(value, depth, true);
}

/**
 * What `scrub` returns, frozen and remembered as scrubbed when `keep`; else a copy only rendered and dropped (a
 * decision line): the freezing and remembering of each of its objects were a third of a line's cost (issue 14).
 */
function scrubCopy(value: unknown, depth: number, keep: boolean): unknown {
  if (depth > MAX_LOG_DEPTH) return '[truncated]';
  if (typeof value === 'string') return scrubString(value);
  if (value !== null && typeof value === 'object' && scrubbed.has(value)) return value;
  if (Array.isArray(value)) {
    const out = value.slice(0, MAX_LOG_MEMBERS).map((v) => scrubCopy(v, depth + 1, keep));
    if (value.length > MAX_LOG_MEMBERS) out.push(`[${value.length - MAX_LOG_MEMBERS} more]`);
    if (keep) scrubbed.add(Object.freeze(out));
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    let n = 0;
    for (const k in value) {
      if (!Object.hasOwn(value, k)) continue;
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined || typeof v === 'function') continue;
      const m = memberName(k);
      if (m === null) continue;
      const name = m.name;
      if (n++ >= MAX_LOG_MEMBERS) {
        out['…'] = 'more members cut';
        break;
      }
      putMember(out, name, scrubCopy(v, depth + 1, keep));
    }
    if (keep) scrubbed.add(Object.freeze(out));
    return out;
  }
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value);
  return value;
}

/**
 * Characters a line-based reader may take for a line break or that reorder what a terminal shows: JSON.stringify
 * escapes U+0000..U+001F itself but leaves these raw (JSON allows them), so one entry could look like several lines.
 * DEL and the C1 controls (U+0085 NEL among them), U+2028/U+2029, zero-width and bidirectional controls, the BOM,
 * interlinear annotation marks.
 */
const UNSAFE_IN_LINE = /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
/** Whether a text has one of UNSAFE_IN_LINE (not global: no state; a test is much cheaper than a replace that finds none). */
const HAS_UNSAFE_IN_LINE = new RegExp(UNSAFE_IN_LINE.source);

/** JSON text of `value` on exactly one line: the characters above become `\uXXXX` escapes (the same JSON value). */
export function toJsonLine(value: unknown): string {
  return oneLine(JSON.stringify(value));
}

/** JSON text on one line (see `toJsonLine`). */
export function oneLine(json: string): string {
  if (!HAS_UNSAFE_IN_LINE.test(json)) return json;
  return json.replace(UNSAFE_IN_LINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * One decision entry as one log line: scrubbed and bounded (`scrub`), then rendered by `toJsonLine`. The scrubbed copy
 * is only rendered, so it is neither frozen nor remembered as scrubbed.
 */
export function renderDecisionLine(entry: object): string {
  return toJsonLine(scrubCopy(entry, 0, false));
}

/** A member name JSON.stringify would move to the front (a canonical array index), or one a plain object inherits. */
const INDEX_LIKE = /^(?:0|[1-9]\d*)$/;

/** The last second `isoTime` rendered: its epoch second and its ISO text up to the milliseconds (`…T23:04:45.`). */
let isoSecond = Number.NaN;
let isoPrefix = '';

/**
 * `time.toISOString()`, the text of a second made once: the entries of a batch are stamped within a few seconds, and
 * toISOString (a call into the runtime) was a tenth of a line's rendering. An invalid date throws, as toISOString does.
 */
export function isoTime(time: Date): string {
  const t = time.getTime();
  if (Number.isNaN(t)) return time.toISOString();
  const second = Math.floor(t / 1000);
  const ms = t - second * 1000;
  if (second !== isoSecond) {
    const iso = new Date(second * 1000).toISOString(); // …:SS.000Z (a year past 9999 as +YYYYYY: the tail is the same)
    isoPrefix = iso.slice(0, -4);
    isoSecond = second;
  }
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

/** A member's value as scrubCopy has it at the top (a string scrubbed, a bigint or symbol as its string), else itself. */
export function leadValue(v: unknown): unknown {
  return typeof v === 'string' ? scrubString(v) : typeof v === 'bigint' || typeof v === 'symbol' ? String(v) : v;
}

/** What `renderMembers` reads of the members a decision line puts first or derives (see DecisionLogger.line). */
export interface LeadMembers {
  /** scrubbed when strings (bigints and symbols as strings, as scrub has them); other values as the entry holds them */
  time?: unknown;
  hop?: unknown;
  service?: unknown;
  event?: unknown;
  effect?: unknown;
  allowed?: unknown;
  actor?: unknown;
  /** whether a `workload` member is rendered */
  workload?: boolean;
}

/**
 * The members of `entry` as `scrub` keeps them, rendered in `scrub`'s order as one JSON text of `,"name":value`
 * members, without the scrubbed copy of the entry (no copy, no freeze, no JSON.stringify of the whole) nor any list of
 * its members: the hot part of a decision line. `time`, `hop`, `event`, `effect` and `allowed` are not rendered: they
 * are recorded in `lead`, with `service`, `actor` and whether a `workload` member is rendered. Nested members are
 * copied for rendering only (neither frozen nor remembered as scrubbed, as in renderDecisionLine). Undefined when a
 * member needs `scrub`'s general path to come out the same (the entry was scrubbed already, a name JSON would reorder
 * or a plain object inherits, a name the scrub changes, more than MAX_LOG_MEMBERS members): the caller then renders
 * through `scrub`. `counted`: members rendered before the entry's own (towards MAX_LOG_MEMBERS).
 */
export function renderMembers(entry: object, lead: LeadMembers, counted = 0): string | undefined {
  if (scrubbed.has(entry) || Array.isArray(entry)) return undefined;
  let n = counted;
  let json = '';
  for (const k in entry) {
    if (!Object.hasOwn(entry, k)) continue;
    const v = (entry as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function') continue;
    const m = memberName(k);
    if (m === null) continue;
    const name = m.name;
    if (n >= MAX_LOG_MEMBERS || name !== k || m.indexLike || name in Object.prototype) return undefined;
    n++;
    const clean = leadValue(v);
    switch (name) {
      case 'time':
        lead.time = clean;
        continue;
      case 'hop':
        lead.hop = clean;
        continue;
      case 'event':
        lead.event = clean;
        continue;
      case 'effect':
        lead.effect = clean;
        continue;
      case 'allowed':
        lead.allowed = clean;
        continue;
      case 'service':
        lead.service = clean;
        break;
      case 'actor':
        lead.actor = clean;
        break;
      case 'workload':
        lead.workload = true;
        break;
    }
    json += m.prefix;
    // a nested value (scopes, chains, `dropped`) rendered without a copy when valueJson can, else through the copy
    if (typeof clean === 'string') json += JSON.stringify(clean);
    else json += valueJson(v, 1) ?? JSON.stringify(scrubCopy(v, 1, false));
  }
  return json;
}

/**
 * `JSON.stringify(scrubCopy(v, depth, false))` for a nested value of plain data (strings, numbers, booleans, null,
 * arrays and objects of them, as a decision's `dropped` or `resource`), rendered without the copy; undefined when a
 * part needs `scrubCopy` (the caller then renders the copy): a name the scrub changes or JSON would reorder, a cut
 * (members, depth), an array with holes or not an Array, anything else (undefined, functions, bigints, symbols).
 */
function valueJson(v: unknown, depth: number): string | undefined {
  if (depth > MAX_LOG_DEPTH) return undefined;
  if (typeof v === 'string') return JSON.stringify(scrubString(v));
  if (typeof v === 'number') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null) return 'null';
  if (typeof v !== 'object' || scrubbed.has(v)) return undefined;
  if (Array.isArray(v)) {
    if (v.length > MAX_LOG_MEMBERS || Object.getPrototypeOf(v) !== Array.prototype) return undefined;
    let json = '[';
    for (let i = 0; i < v.length; i++) {
      const e = valueJson(v[i], depth + 1);
      if (e === undefined) return undefined;
      json += i === 0 ? e : `,${e}`;
    }
    return `${json}]`;
  }
  let json = '';
  let n = 0;
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined || typeof x === 'function') continue;
    const m = memberName(k);
    if (m === null) continue;
    if (n >= MAX_LOG_MEMBERS || m.name !== k || m.indexLike || k === '__proto__') return undefined;
    const e = valueJson(x, depth + 1);
    if (e === undefined) return undefined;
    json += n++ === 0 ? `{${m.prefix.slice(1)}${e}` : `${m.prefix}${e}`;
  }
  return n === 0 ? '{}' : `${json}}`;
}
