// The values of JSON Schema validation worded as Cerbos words them: its validator (santhosh-tekuri/jsonschema v5, Go)
// prints values with Go's fmt (`%v`, `%#v`, `%q`) and escapes pointer tokens with url.PathEscape; numbers are compared
// as exact decimals (big.Rat there); the formats it asserts. Used by jsonschema.ts.
import { parseIPv6 } from './cel/network.js';

type Json = unknown;
type Obj = Record<string, Json>;

export const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isNonNegInt = (v: Json): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

export function jsonType(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'object' ? 'object' : t === 'number' ? 'number' : t === 'boolean' ? 'boolean' : t === 'string' ? 'string' : 'invalid';
}

export function jsonEquals(a: Json, b: Json): boolean {
  if (a === b) return true;
  const t = jsonType(a);
  if (t !== jsonType(b)) return false;
  if (t === 'array') {
    const x = a as Json[];
    const y = b as Json[];
    return x.length === y.length && x.every((e, i) => jsonEquals(e, y[i]));
  }
  if (t === 'object') {
    const x = a as Obj;
    const y = b as Obj;
    const kx = Object.keys(x);
    return kx.length === Object.keys(y).length && kx.every((k) => Object.prototype.hasOwnProperty.call(y, k) && jsonEquals(x[k], y[k]));
  }
  return false;
}

// ------------------------------------------------------------------------------------------ Go's wording of values

/** Go's strconv.Quote of a string (double quotes). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if ((c >= 0x80 && c < 0xa0) || c === 0xad || c === 0x2028 || c === 0x2029 || c === 0xfeff) out += c > 0xff ? '\\u' + c.toString(16).padStart(4, '0') : '\\u00' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

/** The library's quote(): Go-quoted, in single quotes. */
export function sq(s: string): string {
  return "'" + goQuote(s).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'") + "'";
}

/** Go's `%v` of a float64 (strconv 'g', shortest digits): exponent form below 1e-4 and from 1e6 (`1e+06`). */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mant, e] = n.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  // plain notation with the shortest digits
  const digits = mant.replace('.', '').replace('-', '');
  const neg = n < 0 ? '-' : '';
  if (exp >= digits.length - 1) return neg + digits + '0'.repeat(exp - digits.length + 1);
  if (exp >= 0) return neg + digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  return neg + '0.' + '0'.repeat(-exp - 1) + digits;
}

/** Go's `%#v` of a schema literal as the library holds it (numbers are json.Number: a quoted string). */
export function goLiteral(v: Json): string {
  if (v === null) return '<nil>';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number') return goQuote(String(v));
  return String(v);
}

/** Go's `%v` of an instance value (structpb gives float64 for numbers). */
export function goValue(v: Json): string {
  return typeof v === 'number' ? goFloat(v) : String(v);
}

/** A JSON pointer token as the library writes it: `~`/`/` escaped, then Go's url.PathEscape. */
export function pointerToken(s: string): string {
  const t = s.replace(/~/g, '~0').replace(/\//g, '~1');
  if (/^[A-Za-z0-9\-_.~$&+:=@]*$/.test(t)) return t;
  let out = '';
  for (const b of new TextEncoder().encode(t)) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && /[A-Za-z0-9\-_.~$&+:=@]/.test(ch) ? ch : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// ------------------------------------------------------------------------------------------ exact decimal arithmetic

/** A finite double as mantissa × 10^exp, from its shortest decimal text (what Go's big.Rat reads from %v). */
function decimal(n: number): { m: bigint; e: number } {
  const [mant, e] = n.toExponential().split('e') as [string, string];
  const frac = mant.split('.')[1] ?? '';
  return { m: BigInt(mant.replace('.', '')), e: Number(e) - frac.length };
}

function scaled(a: { m: bigint; e: number }, e: number): bigint {
  return a.m * 10n ** BigInt(a.e - e);
}

export function isMultiple(v: number, of: number): boolean {
  const a = decimal(v);
  const b = decimal(of);
  const e = Math.min(a.e, b.e);
  return scaled(a, e) % scaled(b, e) === 0n;
}

// ------------------------------------------------------------------------------------------ formats

/** Go's strconv.Atoi of a short field (an optional sign, then digits), or undefined. */
function atoi(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
}
const inRange = (s: string, lo: number, hi: number): number | undefined => {
  const n = atoi(s);
  return n !== undefined && n >= lo && n <= hi ? n : undefined;
};

function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
  return d <= days;
}

/** RFC 3339 full-time, as the library reads it (fields through Atoi, a leap second only at 23:59 UTC). */
function isTime(str: string): boolean {
  if (str.length < 9 || str[2] !== ':' || str[5] !== ':') return false;
  let h = inRange(str.slice(0, 2), 0, 23);
  let mi = inRange(str.slice(3, 5), 0, 59);
  const s = inRange(str.slice(6, 8), 0, 60);
  if (h === undefined || mi === undefined || s === undefined) return false;
  let rest = str.slice(8);
  if (rest[0] === '.') {
    const m = /^\.(\d+)/.exec(rest);
    if (!m) return false;
    rest = rest.slice(m[0].length);
  }
  if (rest === '') return false;
  if (rest[0] === 'z' || rest[0] === 'Z') {
    if (rest.length !== 1) return false;
  } else {
    if (rest.length !== 6 || rest[3] !== ':' || (rest[0] !== '+' && rest[0] !== '-')) return false;
    const zh = inRange(rest.slice(1, 3), 0, 23);
    const zm = inRange(rest.slice(4, 6), 0, 59);
    if (zh === undefined || zm === undefined) return false;
    let hm = h * 60 + mi + (rest[0] === '+' ? -1 : 1) * (zh * 60 + zm);
    if (hm < 0) hm += 24 * 60;
    h = Math.floor(hm / 60);
    mi = hm % 60;
  }
  return s !== 60 || (h === 23 && mi === 59);
}

/** ISO 8601 duration (RFC 3339 appendix A), as the library reads it. */
function isDuration(str: string): boolean {
  if (str[0] !== 'P') return false;
  let s = str.slice(1);
  const units = (): string | undefined => {
    let u = '';
    while (s.length > 0 && s[0] !== 'T') {
      const m = /^\d+/.exec(s);
      if (!m || s.length === m[0].length) return undefined;
      u += s[m[0].length];
      s = s.slice(m[0].length + 1);
    }
    return u;
  };
  const date = units();
  if (date === undefined) return false;
  if (date === 'W') return s.length === 0;
  if (date.length > 0) {
    if (!'YMD'.includes(date)) return false;
    if (s.length === 0) return true;
  }
  if (s[0] !== 'T') return false;
  s = s.slice(1);
  const time = units();
  return time !== undefined && s.length === 0 && time.length > 0 && 'HMS'.includes(time);
}

/** RFC 1123 host name, as the library checks it (only the name's first character may not be a hyphen). */
function isHostname(str: string): boolean {
  const s = str.endsWith('.') ? str.slice(0, -1) : str;
  if (s.length > 253 || s[0] === '-') return false;
  return s.split('.').every((l) => l.length >= 1 && l.length <= 63 && /^[A-Za-z0-9-]+$/.test(l) && !l.endsWith('-'));
}

/** Dotted quad through Atoi: 0-255, no leading zero on a non-zero field. */
function isIPv4(s: string): boolean {
  const groups = s.split('.');
  return (
    groups.length === 4 &&
    groups.every((g) => {
      const n = atoi(g);
      return n !== undefined && n >= 0 && n <= 255 && !(n !== 0 && g[0] === '0');
    })
  );
}

/** IPv6 as Go's net.ParseIP reads it (hex groups, one `::`, an IPv4 tail; no zone): the CEL library's reader. */
function isIPv6(s: string): boolean {
  return s.includes(':') && parseIPv6(s) !== undefined;
}

/**
 * An addr-spec (RFC 5322 3.4.1): a dot-atom or quoted local part of at most 64 bytes, and a host name or a bracketed
 * IP. The library also runs Go's mail.ParseAddress, which accepts comments and folding white space around the parts:
 * such addresses are refused here.
 */
function isEmail(s: string): boolean {
  if (new TextEncoder().encode(s).length > 254) return false;
  const at = s.lastIndexOf('@');
  if (at < 0) return false;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (new TextEncoder().encode(local).length > 64) return false;
  if (domain.length >= 2 && domain[0] === '[' && domain[domain.length - 1] === ']') {
    const ip = domain.slice(1, -1);
    if (!(ip.startsWith('IPv6:') ? isIPv6(ip.slice(5)) : isIPv4(ip))) return false;
  } else if (!isHostname(domain)) return false;
  const atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u0080-\\uffff]+";
  return new RegExp(`^${atext}(\\.${atext})*$`).test(local) || /^"([^"\\\r\n]|\\[\x20-\x7e])*"$/.test(local);
}

export const FORMATS: Record<string, (s: string) => boolean> = {
  date: isDate,
  time: isTime,
  'date-time': (s) => s.length >= 20 && (s[10] === 'T' || s[10] === 't') && isDate(s.slice(0, 10)) && isTime(s.slice(11)),
  duration: isDuration,
  uuid: (s) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s),
  ipv4: isIPv4,
  'ip-address': isIPv4,
  ipv6: isIPv6,
  hostname: isHostname,
  email: isEmail,
};
/** Formats Cerbos asserts that this validator does not: refused at load. Any other name is not asserted (as in Cerbos). */
export const UNSUPPORTED_FORMATS = new Set(['period', 'idn-email', 'uri', 'iri', 'uri-reference', 'uriref', 'iri-reference', 'uri-template', 'regex', 'json-pointer', 'relative-json-pointer']);
