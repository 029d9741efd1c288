/**
 * The goals of issue 13, one row each, whichever benchmark measures them. A benchmark records the rows it measured
 * (`recordGoals`): printed in its own output and, under `npm run bench` (run.ts sets $BATON_BENCH_GOALS), appended to
 * a file that run.ts prints as one table at the end, every goal with PASS/MISS (or "not run" when its benchmark was
 * not selected).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { printTable } from './table.js';

export const GOALS = [
  { id: 1, bench: 'exchange', path: 'in-process exchange, fresh subject token, vs crypto floor', before: '48%', goal: '≥ 80%' },
  { id: 2, bench: 'exchange', path: 'HTTP POST /token req/s vs in-process exchange ops/s (autocannon 10 connections)', before: '52%', goal: '≥ 75%' },
  { id: 3, bench: 'exchange', path: 'HTTP server CPU per exchange minus in-process CPU per exchange', before: '~330 µs', goal: '≤ 1.5× the hello-route CPU' },
  { id: 4, bench: 'exchange', path: 'scope policy per scope inside an exchange', before: '40 µs', goal: '≤ 3 µs' },
  { id: 5, bench: 'verify', path: 'cached verify + authorize, p50', before: '19 µs', goal: '≤ 5 µs' },
  { id: 6, bench: 'verify', path: 'fresh verify vs raw node:crypto verify (1 in flight)', before: '70%', goal: '≥ 85%' },
  { id: 7, bench: 'policy', path: 'policy check, example ticket, p50', before: '1.0 µs', goal: '≤ 0.5 µs' },
  { id: 8, bench: 'policy', path: 'policy load, generated 100 kinds / 1,000 rules', before: '170 ms (cedar-wasm 57 ms)', goal: '≤ cedar-wasm' },
] as const;

export type GoalId = (typeof GOALS)[number]['id'];

export interface GoalResult {
  id: GoalId;
  /** what was measured, with its baseline from the same run */
  measured: string;
  pass: boolean;
  /** for a MISS: why, as found (profile, measurement) */
  note?: string | undefined;
}

const header = ['#', 'path', 'issue (before)', 'goal', 'measured (this run)', 'result', 'note'];
const align = ['right', 'left', 'right', 'left', 'left', 'left', 'left'] as const;

function row(r: GoalResult | undefined, g: (typeof GOALS)[number]): string[] {
  return [String(g.id), g.path, g.before, g.goal, r?.measured ?? `not run (npm run bench -- ${g.bench})`, r === undefined ? '' : r.pass ? 'PASS' : 'MISS', r?.note ?? ''];
}

/** Prints this benchmark's goal rows and hands them to run.ts's table. */
export function recordGoals(results: readonly GoalResult[]): void {
  printTable('issue 13 goals measured here (ratios against baselines of this run)', header, results.map((r) => row(r, GOALS.find((g) => g.id === r.id)!)), [...align]);
  const file = process.env.BATON_BENCH_GOALS;
  if (file !== undefined && file !== '') for (const r of results) appendFileSync(file, `${JSON.stringify(r)}\n`);
}

/** run.ts: every goal of the issue, measured or not, from the rows the benchmarks recorded. */
export function printAllGoals(file: string): void {
  const got = new Map<number, GoalResult>();
  if (existsSync(file))
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim() !== '') {
      const r = JSON.parse(line) as GoalResult;
      got.set(r.id, r);
    }
  printTable('issue 13: every goal, this run', header, GOALS.map((g) => row(got.get(g.id), g)), [...align]);
}
