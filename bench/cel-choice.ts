/**
 * Measurement used to choose the CEL library for src/policy/cel (see README in that folder).
 * Run: npx tsx bench/cel-choice.ts
 * For each candidate: (1) ns/eval of a typical condition, (2) how many cel_eval conformance expressions evaluate to
 * `true` with NO Cerbos extensions registered (baseline expressiveness of the stock library), (3) eval/new Function use.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { Environment } from '@marcbachmann/cel-js';
import { run, plan, parse, celEnv } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { parse as parseYaml } from 'yaml';

const dir = new URL('../../shared/conformance/cerbos/testdata/cel_eval/', import.meta.url);
const typical = 'R.attr.owner == P.id && "support" in P.roles';
const P = { id: 'alice', roles: ['user', 'support'], attr: { department: 'x' } };
const R = { kind: 'doc', id: '1', attr: { owner: 'alice' } };

function bench(name: string, fn: () => unknown): number {
  for (let i = 0; i < 50_000; i++) fn();
  const n = 500_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name}: ${ns.toFixed(0)} ns/eval`);
  return ns;
}

// --- @marcbachmann/cel-js
const mEnv = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
const mProg = mEnv.parse(typical);
const mCtx = { P, R };
if (mProg(mCtx) !== true) throw new Error('marcbachmann wrong result');
bench('@marcbachmann/cel-js 8.0.0', () => mProg(mCtx));

// --- @bufbuild/cel
const bEnv = celEnv({ funcs: strings });
const bProg = plan(bEnv, parse(typical));
const bCtx = { P, R };
if (bProg(bCtx) !== true) throw new Error('bufbuild wrong result: ' + String(bProg(bCtx)));
bench('@bufbuild/cel 0.6.1', () => bProg(bCtx));

// --- Baton's wrapper (compileCel + activation scope cache), the path the policy evaluator uses
{
  const { compileCel } = await import('../src/policy/cel/index.js');
  const prog = compileCel(typical);
  const act = { request: { principal: { ...P }, resource: { ...R } }, now: new Date() };
  if (prog.evaluate(act) !== true) throw new Error('baton wrapper wrong result');
  bench('baton compileCel().evaluate (marcbachmann + scope cache)', () => prog.evaluate(act));
  const simple = compileCel('R.attr.owner == P.id');
  bench('baton simple comparison R.attr.owner == P.id', () => simple.evaluate(act));
}

// --- stock conformance coverage
if (existsSync(dir)) {
  let total = 0;
  const ok = { m: 0, b: 0 };
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml'))) {
    const doc = parseYaml(readFileSync(new URL(f, dir), 'utf8')) as {
      condition: Record<string, { of: { expr: string }[] }> | { expr: string };
      request: { principal: Record<string, unknown>; resource: Record<string, unknown>; auxData?: unknown };
      want: boolean;
    };
    if (doc.want !== true) continue;
    const c = doc.condition as Record<string, { of?: { expr: string }[] }>;
    const exprs = (c.all?.of ?? []).map((e) => e.expr);
    const req = { ...doc.request, aux_data: doc.request.auxData };
    const ctx = { request: req, P: { attr: {}, ...doc.request.principal }, R: { attr: {}, ...doc.request.resource } };
    for (const e of exprs) {
      total++;
      try { if (mEnv.evaluate(e, ctx) === true) ok.m++; } catch { /* counted as failure */ }
      try { if (run(e, ctx as unknown as Parameters<typeof run>[1], { funcs: strings }) === true) ok.b++; } catch { /* counted as failure */ }
    }
  }
  console.log(`stock coverage of cel_eval 'all' exprs (want true): marcbachmann ${ok.m}/${total}, bufbuild ${ok.b}/${total}`);
}

for (const [name, root] of [
  ['@marcbachmann/cel-js', '../node_modules/@marcbachmann/cel-js/lib/'],
  ['@bufbuild/cel', '../node_modules/@bufbuild/cel/dist/esm/'],
] as const) {
  const d = new URL(root, import.meta.url);
  let hits = 0;
  const walk = (u: URL) => {
    for (const e of readdirSync(u, { withFileTypes: true })) {
      if (e.isDirectory()) walk(new URL(e.name + '/', u));
      else if (e.name.endsWith('.js')) {
        const s = readFileSync(new URL(e.name, u), 'utf8');
        hits += (s.match(/new Function\s*\(|(?<![.\w])eval\s*\((?![^)]*\)\s*\{)/g) ?? []).length; // calls, not eval(ctx) { method definitions
      }
    }
  };
  walk(d);
  console.log(`${name}: eval/new Function call sites in dist: ${hits}`);
}
