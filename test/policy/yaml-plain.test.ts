// The fast reader of plain YAML (src/policy/yaml-plain.ts) against the `yaml` package it stands in for: on every text
// it accepts it must give exactly what the `yaml` package gives (same values, same key order, -0 and NaN included),
// and the `yaml` package must read that text as one document without errors. Texts: every YAML/JSON file of the
// repository's policies and of the Cerbos conformance data (txtar archives opened), the generated benchmark set, and
// generated and mutated documents (seeded, so a failure names its seed and index).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { readPlainYaml } from '../../src/policy/yaml-plain.js';
import { generatedPolicies } from '../../bench/lib/generated-policies.js';
import { parseTxtar } from './txtar.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const conformance = fileURLToPath(new URL('../../../shared/conformance/cerbos/', import.meta.url));

/** What the `yaml` package reads (as yaml.ts calls it): the value of a single error-free document, else undefined. */
function oracle(text: string): { value: unknown } | undefined {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length !== 1 || list[0]!.errors.length > 0) return undefined;
  return { value: list[0]!.toJS() as unknown };
}

/** The value with its key order made visible (toEqual ignores key order). */
function ordered(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(ordered);
  if (typeof v === 'object' && v !== null) return Object.entries(v).map(([k, x]) => [k, ordered(x)]);
  return v;
}

/** Compares one text; returns whether the fast reader accepted it. */
function same(text: string, where: string): boolean {
  const fast = readPlainYaml(text);
  if (fast === undefined) return false;
  const want = oracle(text);
  expect(want, `${where}: the fast reader accepted a text the yaml package refuses:\n${text}`).toBeDefined();
  expect(ordered(fast.value), `${where}:\n${text}`).toEqual(ordered(want!.value));
  return true;
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (n === 'node_modules' || n.startsWith('.')) return [];
    return statSync(p).isDirectory() ? walk(p) : /\.(ya?ml|json)$/.test(n) ? [p] : [];
  });
}

/** Every text of a file: the file, or the members of a txtar archive. */
function textsOf(file: string): [string, string][] {
  const text = readFileSync(file, 'utf8');
  if (!/^-- .+ --$/m.test(text)) return [[file, text]];
  return [...parseTxtar(text)].map(([name, t]) => [`${file}:${name}`, t]);
}

describe('the plain YAML reader gives what the yaml package gives', () => {
  it('on every policy file of the repository, all read by the fast reader', () => {
    const files = [...walk(join(repo, 'policies')), ...walk(join(repo, 'examples')), ...walk(join(repo, 'test/packages/fixtures'))].filter((f) => !f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(5);
    const accepted = files.filter((f) => same(readFileSync(f, 'utf8'), f));
    expect(files.filter((f) => !accepted.includes(f))).toEqual([]);
  });

  it('on the generated benchmark set (100 kinds, 1,000 rules), all read by the fast reader', () => {
    for (const s of generatedPolicies()) expect(same(s.content, s.name), s.name).toBe(true);
  });

  it.skipIf(!existsSync(conformance))('on every YAML and JSON text of the Cerbos conformance data', () => {
    const texts = walk(conformance).flatMap(textsOf);
    let accepted = 0;
    for (const [where, text] of texts) if (same(text, where)) accepted++;
    console.log(`[yaml-plain] Cerbos conformance data: ${accepted} of ${texts.length} texts read by the fast reader, the rest by the yaml package`);
    // most policy files are plain YAML; the rest (test cases, edge cases) go to the yaml package
    expect(accepted).toBeGreaterThan(texts.length / 2);
  });

  it('on generated documents and on mutations of them (seed 20261201, 4,000 documents, 4,000 mutations)', () => {
    const rnd = mulberry32(20261201);
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      const text = render(rnd, value(rnd, 0), 0, 'top');
      if (same(text, `generated #${i}`)) accepted++;
      const m = mutate(rnd, text);
      same(m, `mutation #${i}`);
    }
    expect(accepted).toBeGreaterThan(1000);
  });

  it('refuses what it does not know, and the caller then uses the yaml package', () => {
    for (const t of ['a: &x 1\nb: *x\n', 'a:\tb\n', 'a: 1\r\n', 'a: b\n---\nc: d\n', 'a: 1\na: 2\n', 'a: |+\n  x\n\n', '', '# only\n', 'a: [1,\n  2]\n', 'a: b\n  c\n', '? a\n: b\n', 'a: !!str 1\n', '__proto__: 1\n', 'x: "unclosed\n'])
      expect(readPlainYaml(t), JSON.stringify(t)).toBeUndefined();
  });
});

// ---------------------------------------------------------------- generated documents
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const WORDS = ['a', 'rule', 'R.attr.owner == P.id', 'x y', 'true', 'False', 'TRUE', 'tRue', '~', 'null', 'Null', 'nULL', '0', '-0', '+1', '007', '0o17', '0x1F', '0X1', '1.5', '1.', '.5', '1e3', '-1E-2', '.inf', '-.Inf', '.nan', '.NaN', '12345678901234567890', 'a:b', 'a: b', 'a #b', 'a#b', '-', '- a', '-a', '?x', '? x', ':x', ': x', '#x', 'x#', '[a]', '{a}', 'a,b', 'a]', '"q"', "'s'", "it's", 'say "hi"', '', ' lead', 'trail ', '%x', '@x', '`x', '!x', '&a', '*a', '|', '>', 'é', '\u00a0x', 'x\u00a0#y', 'a\\nb', '<<', '__proto__', 'constructor', '---', '...', 'http://h:1/p', 'size(R.attr.tags) > 0', '"tag" in R.attr.tags'];
const KEYS = ['a', 'b', 'name', 'expr', 'x y', 'true', '1', 'null', '"q"', 'k:v', 'é', '-k', '?k', '<<', 'rules', 'match'];

type V = string | V[] | { [k: string]: V } | { block: string };
function value(rnd: () => number, depth: number): V {
  const r = rnd();
  if (depth > 3 || r < 0.45) return r < 0.08 ? { block: pick(rnd, ['x\ny', 'line one\n\nline two', '#not a comment\n  indented', 'x\n', '  lead', 'a: b\n- c']) } : pick(rnd, WORDS);
  if (r < 0.7) return Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => value(rnd, depth + 1));
  const o: { [k: string]: V } = {};
  for (let i = 0, n = 1 + Math.floor(rnd() * 3); i < n; i++) o[pick(rnd, KEYS)] = value(rnd, depth + 1);
  return o;
}

function scalar(rnd: () => number, s: string): string {
  const r = rnd();
  if (r < 0.2) return JSON.stringify(s);
  if (r < 0.3) return `'${s.replace(/'/g, "''")}'`;
  return s;
}
function flow(rnd: () => number, v: V): string {
  if (typeof v === 'string') return scalar(rnd, v);
  if (Array.isArray(v)) return `[${v.map((x) => flow(rnd, x)).join(pick(rnd, [', ', ',', ' , ']))}]`;
  if ('block' in v && typeof v.block === 'string') return JSON.stringify(v.block);
  return `{${pick(rnd, ['', ' '])}${Object.entries(v).map(([k, x]) => `${scalar(rnd, k)}: ${flow(rnd, x as V)}`).join(', ')}${pick(rnd, ['', ' '])}}`;
}
function comment(rnd: () => number): string {
  return rnd() < 0.1 ? pick(rnd, [' # c', '  #c', '#c', ' #']) : '';
}
function render(rnd: () => number, v: V, indent: number, role: 'top' | 'value' | 'entry'): string {
  const pad = ' '.repeat(indent);
  const step = pick(rnd, [1, 2, 2, 2, 4]);
  if (typeof v === 'string' || rnd() < 0.1) {
    const text = typeof v === 'string' ? scalar(rnd, v) : flow(rnd, v);
    return role === 'top' ? `${pad}${text}${comment(rnd)}\n` : ` ${text}${comment(rnd)}\n`;
  }
  if (!Array.isArray(v) && 'block' in v && typeof v.block === 'string') {
    const head = pick(rnd, ['|', '|-', '>', '>-', '|+', '|2']);
    const body = v.block.split('\n').map((l) => (l === '' ? '' : ' '.repeat(indent + step) + l)).join('\n');
    return role === 'top' ? `${pad}${scalar(rnd, v.block)}\n` : ` ${head}${comment(rnd)}\n${body}\n`;
  }
  const lines: string[] = [];
  const inner = role === 'top' ? indent : indent + step;
  const indentless = role === 'value' && Array.isArray(v) && rnd() < 0.5;
  const at = indentless ? indent : inner;
  if (Array.isArray(v)) {
    for (const x of v) lines.push(`${' '.repeat(at)}-${render(rnd, x, at, 'entry')}`);
  } else {
    for (const [k, x] of Object.entries(v)) lines.push(`${' '.repeat(at)}${scalar(rnd, k)}:${render(rnd, x as V, at, 'value')}`);
  }
  if (rnd() < 0.1) lines.splice(Math.floor(rnd() * lines.length), 0, pick(rnd, ['\n', `${' '.repeat(at)}# comment\n`, '# c\n', '   \n']));
  const body = lines.join('');
  if (role === 'top') return (rnd() < 0.1 ? '---\n' : '') + body;
  if (role === 'entry' && !Array.isArray(v) && rnd() < 0.6) {
    // a compact mapping on the entry's line
    return ` ${body.slice(at)}`;
  }
  return `${comment(rnd)}\n${body}`;
}

function mutate(rnd: () => number, text: string): string {
  const p = Math.floor(rnd() * (text.length + 1));
  const ins = pick(rnd, [' ', '  ', '\n', ':', '- ', '#', '"', "'", '[', ']', '{', '}', ',', '|', '>', '-', '?', '&', '*', '!', '\t', '---\n', '...\n', 'x']);
  return rnd() < 0.5 ? text.slice(0, p) + ins + text.slice(p) : text.slice(0, p) + text.slice(p + 1 + Math.floor(rnd() * 3));
}
