/**
 * The CEL environment shared by every compiled Cerbos expression: the stock @marcbachmann/cel-js library plus the
 * Cerbos function library (hierarchy, set and list helpers, IP/CIDR, timestamps with time zones, now(), ...) and the
 * cel-go extensions the Cerbos conformance data uses (strings, lists, sets, regex, base64, json, two-variable
 * comprehensions, transformList/transformMap/transformMapEntry, sortBy).
 *
 * Pure ECMAScript: no Node APIs, no eval/new Function (runs on Cloudflare Workers).
 */
import { Environment, Optional } from '@marcbachmann/cel-js';
import { Duration } from '@marcbachmann/cel-js/evaluator';
import { registerNetwork } from './network.js';
import { registerMacros } from './macros.js';
import { clock } from './clock.js';

type Fn = (...args: never[]) => unknown;

/** Raised by library functions; index.ts converts every evaluation failure to CelEvalError. */
export class CelLibError extends Error {}

const isList = (v: unknown): v is unknown[] => Array.isArray(v);

/** CEL equality for the values our functions compare (numbers of either kind, strings, lists, maps, dates). */
export function celEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ta = typeof a;
  const tb = typeof b;
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) {
    return Number(a) === Number(b);
  }
  if (a === null || b === null || ta !== 'object' || tb !== 'object') return false;
  if (isList(a)) {
    if (!isList(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!celEquals(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (a instanceof Duration) return b instanceof Duration && a.seconds === b.seconds && a.nanos === b.nanos;
  const ea = entries(a as object);
  const eb = entries(b as object);
  if (ea.length !== eb.length) return false;
  for (const [k, v] of ea) {
    const other = eb.find(([k2]) => celEquals(k, k2));
    if (!other || !celEquals(v, other[1])) return false;
  }
  return true;
}

function entries(m: object): [unknown, unknown][] {
  if (m instanceof Map) return [...m.entries()];
  return Object.entries(m);
}

function includes(list: readonly unknown[], v: unknown): boolean {
  for (const x of list) if (celEquals(x, v)) return true;
  return false;
}

/** Go RE2 syntax -> JS RegExp (the common subset; named groups `(?P<n>` become `(?<n>`). */
export function toRegExp(pattern: string, flags = ''): RegExp {
  let p = pattern.replace(/\(\?P</g, '(?<');
  let f = flags;
  const m = /^\(\?([imsU]+)\)/.exec(p);
  if (m && m[1]) {
    p = p.slice(m[0].length);
    for (const c of m[1]) if (c !== 'U' && !f.includes(c)) f += c;
  }
  try {
    return new RegExp(p, f + 'u');
  } catch {
    try {
      return new RegExp(p, f);
    } catch (e) {
      throw new CelLibError(`invalid regular expression ${JSON.stringify(pattern)}: ${(e as Error).message}`);
    }
  }
}

const regexCache = new Map<string, RegExp>();
function cachedRegExp(pattern: string, flags: string): RegExp {
  const key = flags + '\u0000' + pattern;
  let r = regexCache.get(key);
  if (!r) {
    r = toRegExp(pattern, flags);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(key, r);
  }
  r.lastIndex = 0;
  return r;
}

// ---------------------------------------------------------------- time zones
const OFFSET_RE = /^([+-])(\d{2}):?(\d{2})$/;
const dtfCache = new Map<string, Intl.DateTimeFormat>();

interface Parts { year: number; month: number; day: number; hour: number; minute: number; second: number; ms: number; dow: number }

/** Wall-clock fields of `d` in the time zone `tz` (IANA name, "UTC", or a fixed offset "+05:30"/"-0500"). */
export function zonedParts(d: Date, tz?: string): Parts {
  let t = d.getTime();
  if (tz === undefined || tz === 'UTC' || tz === 'Z') return utcParts(t);
  const off = OFFSET_RE.exec(tz);
  if (off) {
    const mins = Number(off[2]) * 60 + Number(off[3]);
    t += (off[1] === '-' ? -mins : mins) * 60_000;
    return utcParts(t);
  }
  let fmt = dtfCache.get(tz);
  if (!fmt) {
    try {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
        hour: 'numeric', minute: 'numeric', second: 'numeric',
      });
    } catch {
      throw new CelLibError(`unknown time zone ${JSON.stringify(tz)}`);
    }
    dtfCache.set(tz, fmt);
  }
  const p: Record<string, number> = {};
  for (const part of fmt.formatToParts(d)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const wall = Date.UTC(p.year ?? 0, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0, ((t % 1000) + 1000) % 1000);
  return utcParts(wall);
}

function utcParts(t: number): Parts {
  const u = new Date(t);
  return {
    year: u.getUTCFullYear(), month: u.getUTCMonth(), day: u.getUTCDate(), hour: u.getUTCHours(),
    minute: u.getUTCMinutes(), second: u.getUTCSeconds(), ms: u.getUTCMilliseconds(), dow: u.getUTCDay(),
  };
}

function dayOfYear(p: Parts): number {
  return Math.round((Date.UTC(p.year, p.month, p.day) - Date.UTC(p.year, 0, 1)) / 86_400_000);
}

// ---------------------------------------------------------------- hierarchy
function hierarchyOf(v: unknown, sep = '.'): string[] {
  if (typeof v === 'string') return v === '' ? [] : v.split(sep);
  if (isList(v) && v.every((x) => typeof x === 'string')) return [...(v as string[])];
  throw new CelLibError('hierarchy() requires a string or a list of strings');
}
function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
const asStrings = (v: unknown): string[] => {
  if (!isList(v)) throw new CelLibError('expected a hierarchy');
  return v as string[];
};

// ---------------------------------------------------------------- base64
function b64encode(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}
function b64decode(s: string): Uint8Array {
  let t = s.replace(/-/g, '+').replace(/_/g, '/');
  while (t.length % 4) t += '=';
  let bin: string;
  try {
    bin = atob(t);
  } catch {
    throw new CelLibError('base64.decode: invalid base64 input');
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** JSON text of a CEL value (ints are emitted as numbers, bytes as base64, timestamps/durations as strings). */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return Number(x);
    if (x instanceof Uint8Array) return b64encode(x);
    if (x instanceof Duration) return `${Number(x.seconds) + x.nanos / 1e9}s`;
    if (x instanceof Map) return Object.fromEntries(x);
    if (x instanceof Optional) return x.hasValue() ? x.value() : null;
    return x;
  });
}

function compareValues(a: unknown, b: unknown): number {
  const ta = typeof a;
  if ((ta === 'number' || ta === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return Number(a) < Number(b) ? -1 : Number(a) > Number(b) ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (ta === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (a instanceof Duration && b instanceof Duration) return a.valueOf() - b.valueOf();
  throw new CelLibError('sort: list elements must be of one comparable type');
}

function flatten(list: readonly unknown[], depth: number): unknown[] {
  const out: unknown[] = [];
  for (const x of list) {
    if (isList(x) && depth > 0) out.push(...flatten(x, depth - 1));
    else out.push(x);
  }
  return out;
}

function toIndex(v: bigint | number, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CelLibError(`${what} must be an integer`);
  return n;
}

// long function: one table of the CEL functions Cerbos provides, one registration each, read top to bottom
function buildEnvironment(): Environment {
  const env = new Environment({
    unlistedVariablesAreDyn: false,
    homogeneousAggregateLiterals: false,
    enableOptionalTypes: true,
    limits: { maxAstNodes: 10_000, maxDepth: 128, maxListElements: 1_000, maxMapEntries: 1_000, maxCallArguments: 32 },
  });
  for (const v of ['request', 'P', 'R', 'V', 'variables', 'C', 'constants', 'G', 'globals', 'runtime']) {
    env.registerVariable(v, 'dyn');
  }
  const fn = (sig: string, h: Fn): void => {
    env.registerFunction(sig, h as (...args: unknown[]) => unknown);
  };

  // ---- namespaces used as receivers: base64.encode(...), sets.contains(...), ...
  class CelNs {
    constructor(readonly name: string) {}
  }
  const ns = (name: string, type: string): void => {
    class T extends CelNs {}
    Object.defineProperty(T, 'name', { value: type });
    env.registerType(type, T);
    env.registerConstant(name, type, new T(name));
  };
  ns('base64', 'Base64Namespace');
  ns('json', 'JsonNamespace');
  ns('regex', 'RegexNamespace');
  ns('sets', 'SetsNamespace');
  ns('lists', 'ListsNamespace');
  ns('math', 'MathNamespace');
  ns('strings', 'StringsNamespace');

  // ---- now(): the frozen instant of the activation being evaluated
  fn('now(): google.protobuf.Timestamp', () => clock.now());
  fn('google.protobuf.Timestamp.timeSince(): google.protobuf.Duration', (t: Date) =>
    Duration.fromMilliseconds(clock.now().getTime() - t.getTime()));

  // ---- timestamps with time zones (override the stock getters: they drop milliseconds and misread offsets)
  const TS = 'google.protobuf.Timestamp';
  const getters: [string, (p: Parts) => number][] = [
    ['getFullYear', (p) => p.year],
    ['getMonth', (p) => p.month],
    ['getDate', (p) => p.day],
    ['getDayOfMonth', (p) => p.day - 1],
    ['getDayOfWeek', (p) => p.dow],
    ['getDayOfYear', (p) => dayOfYear(p)],
    ['getHours', (p) => p.hour],
    ['getMinutes', (p) => p.minute],
    ['getSeconds', (p) => p.second],
    ['getMilliseconds', (p) => p.ms],
  ];
  for (const [name, get] of getters) {
    // the stock getters drop milliseconds and reject fixed offsets: compileCel renames `t.getX(tz)` calls to these
    fn(`google.protobuf.Timestamp.${TZ_PREFIX}${name}(string): int`, (d: Date, tz: string) => BigInt(get(zonedParts(d, tz))));
  }
  tryOp(env, 'optional<dyn> == optional<dyn>', (a: Optional, b: Optional) =>
    a.hasValue() === b.hasValue() && (!a.hasValue() || celEquals(a.value(), b.value())));
  tryOp(env, 'optional<dyn> != optional<dyn>', (a: Optional, b: Optional) =>
    !(a.hasValue() === b.hasValue() && (!a.hasValue() || celEquals(a.value(), b.value()))));

  // ---- strings
  fn('string.charAt(int): string', (s: string, i: bigint) => {
    const n = toIndex(i, 'charAt index');
    const cps = [...s];
    if (n < 0 || n > cps.length) throw new CelLibError(`charAt: index ${n} out of range`);
    return cps[n] ?? '';
  });
  fn('string.replace(string, string): string', (s: string, a: string, b: string) => s.split(a).join(b));
  fn('string.replace(string, string, int): string', (s: string, a: string, b: string, n: bigint) => {
    let limit = Number(n);
    if (limit < 0) return s.split(a).join(b);
    let out = '';
    let rest = s;
    while (limit-- > 0) {
      const i = rest.indexOf(a);
      if (i < 0) break;
      out += rest.slice(0, i) + b;
      rest = rest.slice(i + a.length);
    }
    return out + rest;
  });
  fn('list.join(string): string', (l: unknown[], sep: string) => l.map(String).join(sep));
  fn('string.reverse(): string', (s: string) => [...s].reverse().join(''));
  fn('StringsNamespace.quote(string): string', (_n: CelNs, s: string) => JSON.stringify(s));
  fn('string.format(list): string', (s: string, args: unknown[]) => {
    let i = 0;
    return s.replace(/%[sdfv%]/g, (m) => (m === '%%' ? '%' : String(args[i++])));
  });

  // ---- base64, json
  fn('Base64Namespace.encode(bytes): string', (_n: CelNs, b: Uint8Array) => b64encode(b));
  fn('Base64Namespace.decode(string): bytes', (_n: CelNs, s: string) => b64decode(s));
  fn('JsonNamespace.encode(dyn): string', (_n: CelNs, v: unknown) => toJson(v));

  // ---- regex extension
  fn('RegexNamespace.replace(string, string, string): string', (_n: CelNs, s: string, re: string, repl: string) =>
    s.replace(cachedRegExp(re, 'g'), goRepl(repl)));
  fn('RegexNamespace.replace(string, string, string, int): string',
    (_n: CelNs, s: string, re: string, repl: string, count: bigint) => {
      let left = Number(count);
      if (left < 0) return s.replace(cachedRegExp(re, 'g'), goRepl(repl));
      const r = cachedRegExp(re, 'g');
      return s.replace(r, (...m: unknown[]) => {
        if (left <= 0) return m[0] as string;
        left--;
        return expandRepl(repl, m);
      });
    });
  fn('RegexNamespace.extract(string, string): optional<string>', (_n: CelNs, s: string, re: string) => {
    const m = cachedRegExp(re, '').exec(s);
    if (!m) return Optional.none();
    return Optional.of(m.length > 1 ? (m[1] ?? '') : m[0]);
  });
  fn('RegexNamespace.extractAll(string, string): list<string>', (_n: CelNs, s: string, re: string) => {
    const out: string[] = [];
    for (const m of s.matchAll(cachedRegExp(re, 'g'))) out.push(m.length > 1 ? (m[1] ?? '') : m[0]);
    return out;
  });

  // ---- Cerbos list helpers
  const hasIntersection = (a: unknown[], b: unknown[]): boolean => a.some((x) => includes(b, x));
  const intersect = (a: unknown[], b: unknown[]): unknown[] => a.filter((x) => includes(b, x));
  const isSubset = (a: unknown[], b: unknown[]): boolean => a.every((x) => includes(b, x));
  const except = (a: unknown[], b: unknown[]): unknown[] => a.filter((x) => !includes(b, x));
  // Cerbos declares each of these both as a global function and as a list method.
  for (const [name, impl, ret] of [
    ['hasIntersection', hasIntersection, 'bool'],
    ['has_intersection', hasIntersection, 'bool'],
    ['intersect', intersect, 'list'],
    ['except', except, 'list'],
    ['isSubset', isSubset, 'bool'],
    ['is_subset', isSubset, 'bool'],
  ] as const) {
    fn(`${name}(list, list): ${ret}`, impl);
    fn(`list.${name}(list): ${ret}`, impl);
  }

  // ---- sets extension
  fn('SetsNamespace.contains(list, list): bool', (_n: CelNs, a: unknown[], b: unknown[]) => isSubset(b, a));
  fn('SetsNamespace.equivalent(list, list): bool', (_n: CelNs, a: unknown[], b: unknown[]) =>
    isSubset(a, b) && isSubset(b, a));
  fn('SetsNamespace.intersects(list, list): bool', (_n: CelNs, a: unknown[], b: unknown[]) => hasIntersection(a, b));

  // ---- lists extension
  fn('ListsNamespace.range(int): list<int>', (_n: CelNs, n: bigint) => {
    const out: bigint[] = [];
    for (let i = 0n; i < n; i++) out.push(i);
    return out;
  });
  fn('list.sort(): list', (l: unknown[]) => [...l].sort(compareValues));
  fn('list.reverse(): list', (l: unknown[]) => [...l].reverse());
  fn('list.distinct(): list', (l: unknown[]) => {
    const out: unknown[] = [];
    for (const x of l) if (!includes(out, x)) out.push(x);
    return out;
  });
  fn('list.slice(int, int): list', (l: unknown[], a: bigint, b: bigint) => {
    const s = toIndex(a, 'slice start');
    const e = toIndex(b, 'slice end');
    if (s < 0 || e < s || e > l.length) throw new CelLibError(`slice(${s}, ${e}) out of range for list of size ${l.length}`);
    return l.slice(s, e);
  });
  fn('list.flatten(): list', (l: unknown[]) => flatten(l, 1));
  fn('list.flatten(int): list', (l: unknown[], d: bigint) => flatten(l, Number(d)));
  fn('list.first(): optional<dyn>', (l: unknown[]) => (l.length ? Optional.of(l[0]) : Optional.none()));
  fn('list.last(): optional<dyn>', (l: unknown[]) => (l.length ? Optional.of(l[l.length - 1]) : Optional.none()));

  // ---- math extension (the common part)
  const nums = (args: unknown[]): (bigint | number)[] => {
    const flat = args.length === 1 && isList(args[0]) ? args[0] : args;
    if (!flat.length) throw new CelLibError('math.greatest/least: no arguments');
    return flat as (bigint | number)[];
  };
  const pick = (xs: (bigint | number)[], greater: boolean): bigint | number =>
    xs.reduce((m, x) => ((greater ? Number(x) > Number(m) : Number(x) < Number(m)) ? x : m));
  for (const arity of [1, 2, 3]) {
    const params = Array(arity).fill('dyn').join(', ');
    fn(`MathNamespace.greatest(${params}): dyn`, (_n: CelNs, ...a: unknown[]) => pick(nums(a), true));
    fn(`MathNamespace.least(${params}): dyn`, (_n: CelNs, ...a: unknown[]) => pick(nums(a), false));
  }
  fn('MathNamespace.abs(dyn): dyn', (_n: CelNs, x: unknown) =>
    typeof x === 'bigint' ? (x < 0n ? -x : x) : Math.abs(Number(x)));
  fn('MathNamespace.ceil(double): double', (_n: CelNs, x: number) => Math.ceil(x));
  fn('MathNamespace.floor(double): double', (_n: CelNs, x: number) => Math.floor(x));
  fn('MathNamespace.round(double): double', (_n: CelNs, x: number) => Math.sign(x) * Math.round(Math.abs(x)));

  // ---- hierarchy (represented at runtime as a list of path segments)
  fn('hierarchy(string): list<string>', (s: string) => hierarchyOf(s));
  fn('hierarchy(string, string): list<string>', (s: string, sep: string) => hierarchyOf(s, sep));
  fn('hierarchy(list): list<string>', (l: unknown[]) => hierarchyOf(l));
  const hfn = (name: string, impl: (a: string[], b: string[]) => unknown, ret = 'bool'): void =>
    fn(`list.${name}(list): ${ret}`, (a: unknown, b: unknown) => impl(asStrings(a), asStrings(b)));
  hfn('ancestorOf', (a, b) => a.length < b.length && isPrefix(a, b));
  hfn('descendentOf', (a, b) => b.length < a.length && isPrefix(b, a));
  hfn('immediateChildOf', (a, b) => a.length === b.length + 1 && isPrefix(b, a));
  hfn('immediateParentOf', (a, b) => b.length === a.length + 1 && isPrefix(a, b));
  hfn('overlaps', (a, b) => isPrefix(a, b) || isPrefix(b, a));
  hfn('siblingOf', (a, b) =>
    a.length === b.length && a.length > 0 && isPrefix(a.slice(0, -1), b) && a[a.length - 1] !== b[b.length - 1]);
  hfn('commonAncestors', (a, b) => {
    const out: string[] = [];
    // the shared prefix; of two equal hierarchies, the common ancestors exclude the node itself
    const n = a.length === b.length ? a.length - 1 : Math.min(a.length, b.length);
    for (let i = 0; i < n && a[i] === b[i]; i++) out.push(a[i] as string);
    return out;
  }, 'list<string>');

  // ---- heterogeneous numeric comparisons of literals (cel-go semantics: 1 == 1.0)
  for (const op of ['==', '!=', '<', '<=', '>', '>=']) {
    const cmp = numericCmp(op);
    tryOp(env, `int ${op} double`, (a: bigint, b: number) => cmp(Number(a), b));
    tryOp(env, `double ${op} int`, (a: number, b: bigint) => cmp(a, Number(b)));
  }

  registerNetwork(env, fn, CelLibError);
  registerMacros(env, CelLibError);
  return env;
}

function numericCmp(op: string): (a: number, b: number) => boolean {
  switch (op) {
    case '==': return (a, b) => a === b;
    case '!=': return (a, b) => a !== b;
    case '<': return (a, b) => a < b;
    case '<=': return (a, b) => a <= b;
    case '>': return (a, b) => a > b;
    default: return (a, b) => a >= b;
  }
}

function tryFn(env: Environment, sig: string, h: Fn): void {
  try {
    env.registerFunction(sig, h as (...args: unknown[]) => unknown);
  } catch {
    /* already provided by the stock library with the same semantics */
  }
}
function tryOp(env: Environment, sig: string, h: (a: never, b: never) => unknown): void {
  try {
    env.registerOperator(sig, h as (a: unknown, b: unknown) => unknown);
  } catch {
    /* stock library already defines it */
  }
}

/** Go regexp replacement template (`\1`, `$1`, `${name}`) -> a function for String.prototype.replace. */
function goRepl(repl: string): (...m: unknown[]) => string {
  return (...m: unknown[]) => expandRepl(repl, m);
}
function expandRepl(repl: string, m: unknown[]): string {
  const last = m[m.length - 1];
  const groups = typeof last === 'object' && last !== null ? (last as Record<string, string | undefined>) : undefined;
  return repl.replace(/\\(\d)|\$(\d+)|\$\{(\w+)\}|\\\\/g, (tok, a: string | undefined, b: string | undefined, c: string | undefined) => {
    if (tok === '\\\\') return '\\';
    const g = a ?? b;
    if (g !== undefined) return (m[Number(g)] as string | undefined) ?? '';
    if (c !== undefined) return groups?.[c] ?? '';
    return tok;
  });
}

/** Prefix of the internal names that `t.getHours(tz)` & co. are rewritten to at compile time. */
export const TZ_PREFIX = '__baton_tz_';
export const TZ_GETTERS: ReadonlySet<string> = new Set([
  'getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear',
  'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds',
]);

let shared: Environment | undefined;
export function celEnvironment(): Environment {
  return (shared ??= buildEnvironment());
}
