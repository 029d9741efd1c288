// `npm run bench -- plan`: query-plan latency of the embedded engine (engine.plan, in process) beside Cerbos 0.55's
// `POST /api/plan/resources` round trip (the real binary on loopback, keep-alive HTTP, JSON both ways), on the same
// inputs, in one run: (a) the example policies (a user's tickets: the `owner` derived role) and (b) the generated set of
// 100 kinds / 1,000 rules (derived roles with CEL conditions and rule conditions). 1,000 distinct principals per
// scenario, cycled. Both engines run with strict evaluation (Baton's default). Goal: in-process plan ≥ 100× faster than
// the Cerbos round trip (p50).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, type Engine } from '../src/policy/index.js';
import { readPolicies } from '../src/policy/fs.node.js';
import type { PlanInput } from '../src/policy/plan/types.js';
import { cerbosBinary, CERBOS_VERSION, startCerbos, type CerbosServer } from '../test/helpers/cerbos.js';
import { generatedPolicies, kind, KINDS } from './lib/generated-policies.js';
import { fmt, machineLine, passMiss, printTable } from './lib/table.js';
import { measureAsync, measureSync, settle, type Measurement } from './lib/timing.js';

const POOL = 1000;
const examplesDir = fileURLToPath(new URL('../policies/', import.meta.url));

interface Scenario {
  name: string;
  engine: Engine;
  dir: string;
  inputs: PlanInput[];
}

function exampleScenario(): Scenario {
  const engine = createEngine({ policies: readPolicies(examplesDir) });
  const inputs: PlanInput[] = Array.from({ length: POOL }, (_, i) => ({
    principal: { id: `user${i}`, roles: ['user'], attr: { workload: 'web-portal' } },
    resource: { kind: 'ticket' },
    actions: ['read'],
  }));
  return { name: "(a) example: a user's tickets (owner derived role)", engine, dir: examplesDir, inputs };
}

function generatedScenario(dir: string): Scenario {
  const sources = generatedPolicies();
  for (const s of sources) {
    mkdirSync(dirname(join(dir, s.name)), { recursive: true });
    writeFileSync(join(dir, s.name), s.content);
  }
  const engine = createEngine({ policies: sources });
  let seed = 42;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  // act_2 (owner derived role + a rule condition), act_3 (same_dept), act_4 (approver: all.of, a resource condition)
  const inputs: PlanInput[] = Array.from({ length: POOL }, (_, i) => ({
    principal: { id: `u${i}`, roles: ['member', 'manager'], attr: { department: `d${i % 5}`, level: 4 } },
    resource: { kind: kind(rnd(KINDS)) },
    actions: [`act_${2 + (i % 3)}`],
  }));
  return { name: '(b) generated: 100 kinds / 1,000 rules', engine, dir, inputs };
}

/** Operands of and/or/eq/ne in a stable order (the two planners may order them differently). */
function stable(o: unknown): unknown {
  if (!o || typeof o !== 'object' || !('expression' in o)) return o;
  const e = (o as { expression: { operator: string; operands?: unknown[] } }).expression;
  const operands = (e.operands ?? []).map(stable);
  if (['and', 'or', 'eq', 'ne'].includes(e.operator)) operands.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return { expression: { operator: e.operator, operands } };
}

async function run(sc: Scenario, cerbos: CerbosServer): Promise<{ ours: Measurement; theirs: Measurement; example: string }> {
  // the two must plan the same thing before their speed means anything: same kind and same filter on 100 inputs
  for (let i = 0; i < 100; i++) {
    const mine = sc.engine.plan(sc.inputs[i]!);
    const theirs = await cerbos.planResources({ principal: sc.inputs[i]!.principal, resource: sc.inputs[i]!.resource, actions: sc.inputs[i]!.actions! });
    const same = mine.filter.kind === theirs.filter.kind && JSON.stringify(stable(mine.filter.condition)) === JSON.stringify(stable(theirs.filter.condition));
    if (!same) throw new Error(`${sc.name}: plans differ on input ${i}: Baton ${mine.filterDebug} | Cerbos ${theirs.meta?.filterDebug}`);
  }
  settle();
  const ours = measureSync('baton engine.plan', (i) => sc.engine.plan(sc.inputs[i % POOL]!), { perOp: true, durationMs: 3000 });
  settle();
  const theirs = await measureAsync(
    `cerbos ${CERBOS_VERSION} /api/plan/resources`,
    (i) => {
      const input = sc.inputs[i % POOL]!;
      return cerbos.planResources({ principal: input.principal, resource: input.resource, actions: input.actions! });
    },
    { perOp: true, durationMs: 3000, warmupMs: 500 },
  );
  return { ours, theirs, example: sc.engine.plan(sc.inputs[0]!).filterDebug };
}

const binary = cerbosBinary();
if (!binary.ok) {
  console.log(`plan bench: the Cerbos ${CERBOS_VERSION} binary cannot be had (${binary.reason}); nothing to compare with`);
  process.exit(1);
}
console.log(`plan bench: ${POOL} distinct plan requests per scenario, cycled; strict evaluation on both sides`);
console.log(machineLine());
const genDir = mkdtempSync(join(tmpdir(), 'baton-plan-bench-'));
const rows: (string | number)[][] = [];
const goals: string[] = [];
let missed = 0;
try {
  for (const sc of [exampleScenario(), generatedScenario(genDir)]) {
    const cerbos = await startCerbos({ binary: binary.path, policyDir: sc.dir, strictEvaluation: true });
    try {
      const r = await run(sc, cerbos);
      const ratio = r.theirs.p50Us! / r.ours.p50Us!;
      rows.push([sc.name, r.ours.name, fmt(r.ours.p50Us, 2), fmt(r.ours.p99Us, 2), fmt(r.ours.opsPerSec)]);
      rows.push([sc.name, r.theirs.name, fmt(r.theirs.p50Us, 1), fmt(r.theirs.p99Us, 1), fmt(r.theirs.opsPerSec)]);
      const ok = ratio >= 100;
      if (!ok) missed++;
      goals.push(`  ${passMiss(ok)}  ${sc.name}: in-process plan ${fmt(ratio, 0)}× faster than the Cerbos round trip at p50 (goal ≥ 100×); first plan: ${r.example}`);
    } finally {
      await cerbos.close();
    }
  }
} finally {
  rmSync(genDir, { recursive: true, force: true });
}
printTable('query plans', ['scenario', 'implementation', 'p50 µs', 'p99 µs', 'plans/s'], rows, ['left', 'left', 'right', 'right', 'right']);
console.log('\ngoals:');
for (const g of goals) console.log(g);
console.log(missed === 0 ? '\nall goals met' : `\n${missed} goal(s) missed`);
