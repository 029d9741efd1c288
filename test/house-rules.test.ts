// The rules of the house (ARCHITECTURE.md), checked on the source:
// - code that must run on Cloudflare Workers uses no Node-only API;
// - each room imports only the rooms below it (the table in ARCHITECTURE.md), so the entry points downstream services
//   install (verify, client) never pull in the server, and nothing in src/ imports in a cycle;
// - no file over 500 lines and no function over 60 lines in src/, except where a comment says why.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { importsOf } from './helpers/import-graph.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

const files = walk(src);
const rel = (f: string): string => relative(src, f);

/** Source files a file imports (relative imports that resolve to a file of src/). */
function localImports(file: string): string[] {
  return importsOf(file)
    .filter((i) => i.startsWith('.'))
    .map((i) => resolve(dirname(file), i.replace(/\.js$/, '.ts')))
    .filter((t) => t.startsWith(src + '/') && !t.endsWith('.json'));
}

const NODE_ALLOWED = (r: string) => r === 'node.ts' || r.startsWith('cli/') || r === 'store/redis.ts' || r.endsWith('.node.ts');
const NODE_ONLY = /^(node:|fs$|path$|net$|os$|child_process$|ioredis$|@hono\/node-server)/;

/** A room: a folder of src/ (`verify/`) or a file at its top (`node.ts`). */
const roomOf = (r: string): string => (r.includes('/') ? `${r.split('/')[0]}/` : r);

/**
 * What each room may import (ARCHITECTURE.md, "Rooms"). Lower rooms first: txn/, log/, store/, policy/ and config/
 * import nothing of Baton; the entries at the top (node.ts, worker.ts, cli/) wire the rest.
 */
const ROOMS: Record<string, readonly string[]> = {
  'txn/': [],
  'log/': [],
  'store/': [],
  'policy/': [],
  'config/': [],
  'trace/': [],
  'ops/': ['store/'],
  'jose/': ['txn/'],
  'policy-bundle/': ['policy/'],
  'client/': ['txn/', 'trace/'],
  'verify/': ['txn/', 'jose/', 'log/', 'store/', 'policy/', 'trace/'],
  'mcp/': ['txn/', 'jose/', 'log/', 'client/'],
  'pdp/': ['txn/', 'jose/', 'log/', 'policy/', 'verify/'],
  'exchange/': ['txn/', 'jose/', 'log/', 'store/', 'policy/', 'config/', 'trace/'],
  'server/': ['txn/', 'jose/', 'store/', 'config/', 'exchange/', 'ops/'],
  'dev-idp.ts': ['config/'],
  'compose.ts': ['config/', 'dev-idp.ts', 'exchange/', 'jose/', 'log/', 'ops/', 'pdp/', 'policy/', 'server/', 'store/', 'trace/', 'verify/'],
  'node.ts': ['cli/', 'compose.ts', 'config/', 'exchange/', 'jose/', 'log/', 'ops/', 'pdp/', 'policy/', 'server/', 'store/'],
  'worker.ts': ['compose.ts', 'config/', 'exchange/', 'jose/', 'log/', 'policy-bundle/', 'store/'],
  'cli/': ['txn/', 'jose/', 'log/', 'policy/', 'policy-bundle/', 'config/', 'exchange/', 'server/', 'dev-idp.ts', 'node.ts'],
};

/** Files over 500 lines allowed, and why (none today: keep it that way). */
const LONG_FILES: Record<string, string> = {};

/** Import cycles allowed, and why (none today: keep it that way). */
const KNOWN_CYCLES: Record<string, string> = {};

/**
 * Functions over 60 lines allowed without a comment at the function, and why (none today). A function over 60 lines
 * needs a comment `long function: <why>` before it.
 */
const LONG_FUNCTIONS: Record<string, string> = {};
const MAX_FILE_LINES = 500;
const MAX_FUNCTION_LINES = 60;

interface FunctionSize {
  file: string;
  name: string;
  line: number;
  lines: number;
  excused: boolean;
}

/** Every function (declaration, method, arrow, expression, accessor, constructor) of a file with its length in lines. */
function functionSizes(file: string, text = readFileSync(file, 'utf8')): FunctionSize[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: FunctionSize[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body !== undefined) {
      const start = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      const name = n.name !== undefined && ts.isIdentifier(n.name) ? n.name.text : ts.isVariableDeclaration(n.parent) && ts.isIdentifier(n.parent.name) ? n.parent.name.text : '(anonymous)';
      // the comments before the function, or before the statement it is the value of
      let holder: ts.Node = n;
      while (holder.parent !== undefined && !ts.isSourceFile(holder.parent) && !ts.isBlock(holder.parent) && !ts.isClassLike(holder.parent)) holder = holder.parent;
      const comments = text.slice(holder.getFullStart(), holder.getStart(sf));
      out.push({ file: rel(file), name, line: start + 1, lines: end - start + 1, excused: /long function:\s*\S/.test(comments) });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Strongly connected components of more than one file: the import cycles (type-only imports count). */
function importCycles(): string[][] {
  const graph = new Map(files.map((f) => [f, localImports(f)]));
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const cycles: string[][] = [];
  const connect = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(rel(w));
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) connect(f);
  return cycles;
}

describe('house rules', () => {
  it('only node.ts, cli/, the Redis backend and *.node.ts use Node-only modules or globals', () => {
    const offenders: string[] = [];
    for (const f of files) {
      const r = rel(f);
      if (NODE_ALLOWED(r)) continue;
      for (const i of importsOf(f)) if (NODE_ONLY.test(i)) offenders.push(`${r} imports ${i}`);
      const text = readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
      if (/\bprocess\.(env|argv|exit|on)\b/.test(text)) offenders.push(`${r} uses process`);
      if (/\bBuffer\./.test(text)) offenders.push(`${r} uses Buffer`);
      for (const i of importsOf(f)) if (i.startsWith('.') && /\.node\.js$|\/node\.js$|\/cli\//.test(i)) offenders.push(`${r} imports Node-only ${i}`);
    }
    expect(offenders).toEqual([]);
  });

  it('each room imports only the rooms below it (ARCHITECTURE.md): verify/ and client/ never reach the server', () => {
    const offenders: string[] = [];
    for (const f of files) {
      const from = roomOf(rel(f));
      const allowed = ROOMS[from];
      if (allowed === undefined) {
        offenders.push(`${rel(f)}: the room ${from} is not in the table (ARCHITECTURE.md and ROOMS here)`);
        continue;
      }
      for (const t of localImports(f)) {
        const to = roomOf(rel(t));
        if (to !== from && !allowed.includes(to)) offenders.push(`${rel(f)} -> ${rel(t)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('verify/ and client/ never reach server/, exchange/, cli/, node.ts or a Node-only file through their imports', () => {
    for (const entry of ['verify/index.ts', 'client/index.ts']) {
      const seen = new Set<string>();
      const stack = [join(src, entry)];
      while (stack.length > 0) {
        const f = stack.pop()!;
        if (seen.has(f)) continue;
        seen.add(f);
        const r = rel(f);
        expect(/^(server|exchange|cli)\//.test(r) || r === 'node.ts' || r === 'compose.ts' || r === 'config/load.node.ts', `${entry} reaches ${r}`).toBe(false);
        stack.push(...localImports(f));
      }
    }
  });

  it('no import cycle in src/ (type-only imports count), except those listed with the reason', () => {
    expect(importCycles().filter((c) => KNOWN_CYCLES[c.join(' ')] === undefined)).toEqual([]);
  });

  it(`no file over ${MAX_FILE_LINES} lines in src/ (except those listed with the reason)`, () => {
    const long = files.map((f) => ({ r: rel(f), lines: readFileSync(f, 'utf8').split('\n').length })).filter((x) => x.lines > MAX_FILE_LINES && LONG_FILES[x.r] === undefined);
    expect(long.map((x) => `${x.r}: ${x.lines} lines`)).toEqual([]);
  });

  it(`no function over ${MAX_FUNCTION_LINES} lines in src/ except where a comment says why (\`long function: ...\`)`, () => {
    const long = files.flatMap((f) => functionSizes(f)).filter((s) => s.lines > MAX_FUNCTION_LINES && !s.excused && LONG_FUNCTIONS[`${s.file}:${s.name}`] === undefined);
    expect(long.map((s) => `${s.file}:${s.line} ${s.name}: ${s.lines} lines`)).toEqual([]);
  });

  it('the size rule can fail: it measures every kind of function and sees an excuse only where one is written', () => {
    const body = Array.from({ length: 61 }, (_, i) => `  x += ${i};`).join('\n');
    const text = [
      `export function plain(): number {\n  let x = 0;\n${body}\n  return x;\n}`,
      `// long function: one table, read top to bottom\nexport function excused(): number {\n  let x = 0;\n${body}\n  return x;\n}`,
      `export const arrow = (): number => {\n  let x = 0;\n${body}\n  return x;\n};`,
      `class K {\n  method(): number {\n    let x = 0;\n${body}\n    return x;\n  }\n}`,
    ].join('\n');
    const sizes = functionSizes(join(src, 'example.ts'), text).map((f) => [f.name, f.lines > MAX_FUNCTION_LINES, f.excused]);
    expect(sizes).toEqual([['plain', true, false], ['excused', true, true], ['arrow', true, false], ['method', true, false]]);
  });
});
