// A fast reader for the plain YAML policy files are written in (block mappings and sequences, one-line scalars, flow
// collections on one line, `|`/`>` block scalars). Loading policies spent most of its time in the general YAML parser
// (bench/policy.bench.ts, profiled with --cpu-prof: 77% of a load of the generated set); this reader does the common
// case in one pass over the lines. It accepts a strict subset of YAML and on that subset gives what the `yaml` package
// gives (YAML 1.2, core schema, `toJS()`); on anything else (tabs, anchors, tags, multi-line plain or quoted scalars,
// several documents, duplicate keys, anything it is unsure of) it answers `undefined` and the caller parses the text
// with the `yaml` package, which also words the errors. test/policy/yaml-plain.test.ts checks the equivalence on
// every policy file of the repository and of the Cerbos conformance data, and on generated and mutated documents.

/** Thrown (never escapes this module) when the text leaves the subset: the caller uses the full parser. */
const OUTSIDE = Object.freeze({ outside: true });
function outside(): never {
  throw OUTSIDE;
}

// Characters the subset allows: printable ASCII, newline, and non-ASCII other than line/paragraph separators, the
// byte-order mark and non-BMP characters. Tabs and carriage returns are left to the full parser.
const UNSAFE = /[^\n\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;
const SP = 32;

function indentOf(line: string): number {
  let i = 0;
  while (line.charCodeAt(i) === SP) i++;
  return i;
}
function skipSpaces(line: string, p: number): number {
  while (line.charCodeAt(p) === SP) p++;
  return p;
}
/** `-` followed by a space or the end of the line at `col`: a block sequence entry. */
function isDash(line: string, col: number): boolean {
  return line.charCodeAt(col) === 45 && (col + 1 === line.length || line.charCodeAt(col + 1) === SP);
}
/** Nothing but spaces and a comment (`#` after a space) from `p` to the end of the line. */
function restIsEmpty(line: string, p: number): void {
  const q = skipSpaces(line, p);
  if (q < line.length && !(line.charCodeAt(q) === 35 && q > p)) outside();
}
function trimSpacesEnd(s: string): string {
  let e = s.length;
  while (e > 0 && s.charCodeAt(e - 1) === SP) e--;
  return e === s.length ? s : s.slice(0, e);
}

const NULL = /^(?:~|[Nn]ull|NULL)$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;
/** Characters that may start a plain scalar only in other roles (indicators), or not at all. */
const INDICATOR_START = /^[,[\]{}#&*!|>'"%@`]|^[-?:](?: |$)/;

/** A plain scalar as the YAML 1.2 core schema resolves it (the tag tests of the `yaml` package, in its order). */
function resolvePlain(s: string): unknown {
  const c = s.charCodeAt(0);
  // most policy text: a word that cannot be null, a boolean or a number
  if (c >= 0x80 || c === 0x5f || (c >= 0x61 && c <= 0x7a && c !== 0x6e && c !== 0x74 && c !== 0x66) || (c >= 0x41 && c <= 0x5a && c !== 0x4e && c !== 0x54 && c !== 0x46)) return s;
  if (NULL.test(s)) return null;
  if (BOOL.test(s)) return c === 0x74 || c === 0x54;
  if (INT_OCT.test(s)) return parseInt(s.substring(2), 8);
  if (INT.test(s)) return parseInt(s, 10);
  if (INT_HEX.test(s)) return parseInt(s.substring(2), 16);
  if (FLOAT_NAN.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity;
  if (FLOAT_EXP.test(s) || FLOAT.test(s)) return parseFloat(s);
  return s;
}

/** A plain scalar used as a mapping key: only keys that resolve to strings (the rest are left to the full parser). */
function plainKey(s: string): string {
  if (s.length === 0 || s.length > 1000 || INDICATOR_START.test(s)) outside();
  const k = resolvePlain(s);
  if (typeof k !== 'string') outside();
  return k;
}
function setMember(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__' || key === '<<' || Object.prototype.hasOwnProperty.call(out, key)) outside();
  out[key] = value;
}

const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', '/': '/', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '0': '\0' };
const HEX = /^[0-9a-fA-F]+$/;

/** A quoted scalar that ends on its line: its value and the position after the closing quote. */
function quoted(line: string, col: number): [string, number] {
  const q = line.charCodeAt(col);
  let out = '';
  let seg = col + 1;
  let p = seg;
  while (p < line.length) {
    const c = line.charCodeAt(p);
    if (q === 39 && c === 39) {
      if (line.charCodeAt(p + 1) === 39) {
        out += line.slice(seg, p + 1);
        seg = p += 2;
        continue;
      }
      return [out + line.slice(seg, p), p + 1];
    }
    if (q === 34 && c === 34) return [out + line.slice(seg, p), p + 1];
    if (q === 34 && c === 92) {
      out += line.slice(seg, p);
      const e = line[p + 1] ?? '';
      const n = e === 'u' ? 4 : e === 'x' ? 2 : 0;
      if (n > 0) {
        const h = line.slice(p + 2, p + 2 + n);
        const code = h.length === n && HEX.test(h) ? parseInt(h, 16) : -1;
        if (code < 0 || (code >= 0xd800 && code <= 0xdfff)) outside();
        out += String.fromCharCode(code);
      } else {
        const r = ESCAPES[e];
        if (r === undefined) outside();
        out += r;
      }
      seg = p += 2 + n;
      continue;
    }
    p++;
  }
  return outside();
}

/** One flow node (`[...]`, `{...}`, a quoted or plain scalar) that ends on its line; value and position after it. */
function flowNode(line: string, p: number): [unknown, number] {
  p = skipSpaces(line, p);
  const c = line.charCodeAt(p);
  if (c === 91) return flowSeq(line, p + 1);
  if (c === 123) return flowMap(line, p + 1);
  if (c === 34 || c === 39) return quoted(line, p);
  const [s, end] = flowPlain(line, p);
  return [resolvePlain(s), end];
}
function flowPlain(line: string, p: number): [string, number] {
  let q = p;
  for (; q < line.length; q++) {
    const c = line.charCodeAt(q);
    if (c === 44 || c === 91 || c === 93 || c === 123 || c === 125) break;
    if (c === 35 && line.charCodeAt(q - 1) === SP) break;
    if (c === 58) {
      const n = line.charCodeAt(q + 1);
      if (q + 1 === line.length || n === SP || n === 44 || n === 93 || n === 125) break;
    }
  }
  const s = trimSpacesEnd(line.slice(p, q));
  if (s.length === 0 || INDICATOR_START.test(s)) outside();
  return [s, q];
}
function flowSeq(line: string, p: number): [unknown[], number] {
  const out: unknown[] = [];
  p = skipSpaces(line, p);
  if (line.charCodeAt(p) === 93) return [out, p + 1];
  for (;;) {
    const [v, end] = flowNode(line, p);
    out.push(v);
    p = skipSpaces(line, end);
    const c = line.charCodeAt(p);
    if (c === 93) return [out, p + 1];
    if (c !== 44) outside();
    p = skipSpaces(line, p + 1);
    if (line.charCodeAt(p) === 93) outside(); // a trailing comma
  }
}
function flowMap(line: string, p: number): [Record<string, unknown>, number] {
  const out: Record<string, unknown> = {};
  p = skipSpaces(line, p);
  if (line.charCodeAt(p) === 125) return [out, p + 1];
  for (;;) {
    let key: string;
    const c = line.charCodeAt(p);
    if (c === 34 || c === 39) [key, p] = quoted(line, p);
    else {
      let s: string;
      [s, p] = flowPlain(line, p);
      key = plainKey(s);
    }
    p = skipSpaces(line, p);
    if (line.charCodeAt(p) !== 58 || line.charCodeAt(p + 1) !== SP) outside();
    p = skipSpaces(line, p + 2);
    const n = line.charCodeAt(p);
    if (n === 44 || n === 125 || p >= line.length) outside(); // an empty value
    let v: unknown;
    [v, p] = flowNode(line, p);
    setMember(out, key, v);
    p = skipSpaces(line, p);
    const e = line.charCodeAt(p);
    if (e === 125) return [out, p + 1];
    if (e !== 44) outside();
    p = skipSpaces(line, p + 1);
    if (line.charCodeAt(p) === 125) outside(); // a trailing comma
  }
}

/** A plain scalar in block context that ends on its line (the caller checks that no continuation line follows). */
function blockPlain(line: string, col: number): unknown {
  const hash = line.indexOf(' #', col);
  const s = trimSpacesEnd(line.slice(col, hash < 0 ? line.length : hash));
  if (s.length === 0 || INDICATOR_START.test(s) || s.includes(': ') || s.endsWith(':')) outside();
  return resolvePlain(s);
}

/** `key:` at `col`: the key and where its value starts; undefined when the line holds no key there. */
function splitKey(line: string, col: number): { key: string; vcol: number } | undefined {
  const ch = line.charCodeAt(col);
  if (ch === 34 || ch === 39) {
    const [key, end] = quoted(line, col);
    const p = skipSpaces(line, end);
    if (line.charCodeAt(p) !== 58) return undefined;
    if (p + 1 < line.length && line.charCodeAt(p + 1) !== SP) outside();
    if (key.length > 1000) outside();
    return { key, vcol: skipSpaces(line, p + 1) };
  }
  if (ch === 91 || ch === 123) return undefined;
  const hash = line.indexOf(' #', col);
  let p = col;
  for (;;) {
    const q = line.indexOf(':', p);
    if (q < 0 || (hash >= 0 && hash < q)) return undefined;
    if (q + 1 === line.length || line.charCodeAt(q + 1) === SP) {
      return { key: plainKey(trimSpacesEnd(line.slice(col, q))), vcol: skipSpaces(line, q + 1) };
    }
    p = q + 1;
  }
}

class Reader {
  readonly lines: string[];
  i = 0;
  constructor(text: string) {
    this.lines = text.split('\n');
  }

  /** The index of the next line with content (not blank, not only a comment) from the current one; -1 at the end. */
  peek(): number {
    const lines = this.lines;
    for (let k = this.i; k < lines.length; k++) {
      const l = lines[k]!;
      const ind = indentOf(l);
      if (ind < l.length && l.charCodeAt(ind) !== 35) return k;
    }
    return -1;
  }

  /** The block node whose first line is the current one, indented by `m`. */
  blockAt(m: number): unknown {
    const line = this.lines[this.i]!;
    if (isDash(line, m)) return this.seq(m);
    if (splitKey(line, m) !== undefined) return this.map(m);
    const c = line.charCodeAt(m);
    if (c === 124 || c === 62) outside(); // a block scalar on a line of its own
    return this.inline(line, m, -1);
  }

  /** The value that starts at `col` of the current line (the node's parent is indented by `parent`). */
  inline(line: string, col: number, parent: number): unknown {
    const c = line.charCodeAt(col);
    if (c === 124 || c === 62) return this.blockScalar(line, col, parent);
    this.i++;
    if (c === 34 || c === 39) {
      const [v, end] = quoted(line, col);
      restIsEmpty(line, end);
      return v;
    }
    if (c === 91 || c === 123) {
      const [v, end] = flowNode(line, col);
      restIsEmpty(line, end);
      return v;
    }
    return blockPlain(line, col);
  }

  /** The value of a key or entry whose line ends after its indicator: a nested node, an indentless sequence, or null. */
  nested(m: number, allowIndentless: boolean): unknown {
    this.i++;
    const k = this.peek();
    if (k < 0) return null;
    const line = this.lines[k]!;
    const ind = indentOf(line);
    if (ind > m) {
      this.i = k;
      return this.blockAt(ind);
    }
    if (allowIndentless && ind === m && isDash(line, m)) {
      this.i = k;
      return this.seq(m);
    }
    return null;
  }

  map(m: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (;;) {
      const k = this.peek();
      if (k < 0) return out;
      const line = this.lines[k]!;
      const ind = indentOf(line);
      if (ind < m) return out;
      if (ind > m) outside();
      const kv = splitKey(line, m);
      if (kv === undefined) outside();
      this.i = k;
      const value = kv.vcol >= line.length || line.charCodeAt(kv.vcol) === 35 ? this.nested(m, true) : this.inline(line, kv.vcol, m);
      setMember(out, kv.key, value);
    }
  }

  seq(m: number): unknown[] {
    const out: unknown[] = [];
    for (;;) {
      const k = this.peek();
      if (k < 0) return out;
      const line = this.lines[k]!;
      const ind = indentOf(line);
      if (ind < m) return out;
      if (ind > m) outside();
      if (!isDash(line, m)) return out;
      this.i = k;
      const c = skipSpaces(line, m + 1);
      if (c >= line.length || line.charCodeAt(c) === 35) out.push(this.nested(m, false));
      else if (isDash(line, c)) outside(); // a sequence nested on the same line
      else if (splitKey(line, c) !== undefined) {
        // a mapping that starts on the entry's line: the same as if its first key were indented to its column
        this.lines[k] = ' '.repeat(c) + line.slice(c);
        out.push(this.map(c));
      } else out.push(this.inline(line, c, m));
    }
  }

  /** `|` or `>` (with `-` to strip the final line break); its lines are those indented more than the parent. */
  blockScalar(line: string, col: number, parent: number): string {
    let p = col + 1;
    const chomp = line.charCodeAt(p);
    if (chomp === 45) p++;
    else if (chomp === 43) outside(); // keep: trailing blank lines count, left to the full parser
    restIsEmpty(line, p);
    const lines = this.lines;
    let j = this.i + 1;
    let n = -1;
    for (let k = j; k < lines.length; k++) {
      const ind = indentOf(lines[k]!);
      if (ind < lines[k]!.length) {
        n = ind;
        break;
      }
    }
    if (n <= parent || n < 0) outside(); // an empty block scalar
    const body: string[] = [];
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      const ind = indentOf(l);
      if (ind === l.length) {
        if (l.length > n) outside(); // a line of spaces only, longer than the indentation
        body.push('');
        continue;
      }
      if (ind < n) break;
        body.push(l.slice(n));
    }
    this.i = j;
    let end = body.length;
    while (end > 0 && body[end - 1] === '') end--;
    const text = line.charCodeAt(col) === 124 ? body.slice(0, end).join('\n') : folded(body, end);
    return chomp === 45 ? text : `${text}\n`;
  }
}

/** Folded lines: a single line break becomes a space, n blank lines n line breaks (more-indented lines: full parser). */
function folded(body: readonly string[], end: number): string {
  if (body[0] === '') outside();
  let out = '';
  let blanks = 0;
  for (let i = 0; i < end; i++) {
    const l = body[i]!;
    if (l === '') {
      blanks++;
      continue;
    }
    if (l.charCodeAt(0) === SP) outside();
    if (i > 0) out += blanks > 0 ? '\n'.repeat(blanks) : ' ';
    blanks = 0;
    out += l;
  }
  return out;
}

/**
 * The value of a YAML text holding one document written in the plain subset this reader knows, as the `yaml` package
 * would give it; undefined when the text is outside the subset (then parse it with the `yaml` package).
 */
export function readPlainYaml(text: string): { value: unknown } | undefined {
  if (UNSAFE.test(text)) return undefined;
  const r = new Reader(text);
  try {
    let k = r.peek();
    if (k < 0) return undefined;
    const lines = r.lines;
    for (let j = 0; j < lines.length; j++) {
      const l = lines[j]!;
      const marker = (l.startsWith('---') || l.startsWith('...')) && (l.length === 3 || l.charCodeAt(3) === SP);
      if (l.startsWith('%') || (marker && !(j === k && /^--- *$/.test(l)))) return undefined;
    }
    if (/^--- *$/.test(lines[k]!)) {
      r.i = k + 1;
      k = r.peek();
      if (k < 0) return undefined;
    }
    r.i = k;
    const value = r.blockAt(indentOf(lines[k]!));
    return r.peek() < 0 ? { value } : undefined;
  } catch (e) {
    if (e === OUTSIDE) return undefined;
    throw e;
  }
}
