// Differential test of query plans by meaning, against the real Cerbos 0.55 binary. For generated principals, kinds
// and actions over the example policies, Cerbos's conformance store and its query-planner policies, both engines plan
// (engine.plan and Cerbos's /api/plan/resources); for generated resources of that kind, "the plan holds for the
// resource" (planPredicate) must equal "CheckResources allows it" (the real binary, all the plan's actions). Baton's
// plans must never admit what the check denies (P-03) and may exclude what it allows only where a condition fails to
// evaluate, which no filter can express (P-04); both are counted, for Baton's plans and for Cerbos's, by class.
// Strict evaluation (Baton's default; Cerbos with engine.strictEvaluation) and lenient evaluation (Cerbos's default).
// A fresh seed per run, printed; BATON_PLAN_SEED=<n> reproduces a run, BATON_PLAN_CASES=<n> sets plans per set and mode.
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import { planPredicate } from '../../src/policy/plan/predicate.js';
import { PlanError } from '../../src/policy/plan/errors.js';
import type { PlanFilter, PlanResult } from '../../src/policy/plan/types.js';
import { CERBOS_VERSION, cerbosBinary, startCerbos, type CerbosPlan, type CerbosResource, type CerbosServer } from '../helpers/cerbos.js';
import { genAttrs, genPlanInput, type PlanInputCase, PEOPLE, prng, ruleTargets, vocabulary, type Rng, type RuleTarget, type Vocab } from '../helpers/policy-gen.js';

const isCI = process.env.CI === 'true';
const SEED = Number(process.env.BATON_PLAN_SEED ?? randomInt(1, 2 ** 31 - 1));
const PLANS = Number(process.env.BATON_PLAN_CASES ?? 60);
const RESOURCES_PER_PLAN = 20;
const MIN_PAIRS = 2000;

const binary = cerbosBinary();
if (!binary.ok) {
  console.warn(`[plan-differential] the Cerbos ${CERBOS_VERSION} binary cannot be had (${binary.reason}): ${isCI ? 'FAILING (CI=true requires it)' : 'SKIPPED'}`);
}
const shared = fileURLToPath(new URL('../../../shared/conformance/cerbos/testdata/', import.meta.url));
const sets = [
  { name: 'example policies', dir: fileURLToPath(new URL('../../policies/', import.meta.url)), present: true, globals: undefined, jwt: false },
  { name: 'conformance store', dir: `${shared}store`, present: existsSync(`${shared}store`), globals: { environment: 'test' }, jwt: true },
  { name: 'query-planner policies', dir: `${shared}query_planner/policies`, present: existsSync(`${shared}query_planner/policies`), globals: { environment: 'test' }, jwt: true },
];
for (const s of sets) if (!s.present) console.warn(`[plan-differential] ${s.dir} is absent: ${isCI ? 'FAILING (CI=true requires it)' : `the ${s.name} set is SKIPPED`}`);

// ---------------------------------------------------------------- generated plans and resources
interface PlanCase extends PlanInputCase {
  resources: CerbosResource[];
}

function genCase(rng: Rng, v: Vocab, targets: readonly RuleTarget[], jwt: boolean): PlanCase {
  const c = genPlanInput(rng, v, targets, jwt);
  const ids = [c.principal.id, ...PEOPLE, ...v.principalIds];
  const { kind } = c.resource;
  const resources: CerbosResource[] = Array.from({ length: RESOURCES_PER_PLAN }, (_, i) => {
    const r: CerbosResource = { kind, id: rng.chance(0.2) ? rng.pick(ids) : `r${i}` };
    const attr = { ...(genAttrs(rng, v, v.rAttrs, ids) ?? {}), ...(c.resource.attr ?? {}) };
    if (Object.keys(attr).length) r.attr = attr;
    if (c.resource.policyVersion !== undefined) r.policyVersion = c.resource.policyVersion;
    if (c.resource.scope !== undefined) r.scope = c.resource.scope;
    return r;
  });
  return { ...c, resources };
}

// ---------------------------------------------------------------- classification
type Verdict = 'ok' | 'admits' | 'excludes-failure' | 'excludes';
const CLASS: Record<Exclude<Verdict, 'ok'>, string> = {
  admits: 'P-03: the plan admits a resource the check denies',
  'excludes-failure': 'P-04: the plan excludes a resource the check allows, only because a condition fails to evaluate there (a filter cannot say "not true")',
  excludes: 'the plan excludes a resource the check allows (no failing condition explains it)',
};

function verdict(holds: boolean, holdsIfFailuresFalse: () => boolean, allowed: boolean): Verdict {
  if (holds === allowed) return 'ok';
  if (holds) return 'admits';
  return holdsIfFailuresFalse() ? 'excludes-failure' : 'excludes';
}

interface Example {
  plan: string;
  detail: string;
}
class Tally {
  pairs = 0;
  readonly counts = new Map<string, number>();
  readonly examples = new Map<string, Example[]>();
  add(cls: string, ex: Example): void {
    this.counts.set(cls, (this.counts.get(cls) ?? 0) + 1);
    const list = this.examples.get(cls) ?? [];
    if (list.length < 3 && !list.some((e) => e.plan === ex.plan)) list.push(ex);
    this.examples.set(cls, list);
  }
  count(cls: string): number {
    return this.counts.get(cls) ?? 0;
  }
  lines(): string[] {
    return [...this.counts].map(([c, n]) => `${n} × ${c}${(this.examples.get(c) ?? []).map((e) => `\n      e.g. ${e.plan} | ${e.detail}`).join('')}`);
  }
}

// ---------------------------------------------------------------- the test
describe.runIf((!binary.ok || sets.some((s) => !s.present)) && isCI)(`query-plan differential prerequisites under CI`, () => {
  it('the Cerbos binary and the conformance data are available (CI=true requires them)', () => {
    expect(binary.ok, binary.ok ? '' : binary.reason).toBe(true);
    expect(sets.filter((s) => !s.present).map((s) => s.dir)).toEqual([]);
  });
});

const totals = { pairs: 0 };

describe.skipIf(!binary.ok)(`query plans by meaning: Baton vs Cerbos ${CERBOS_VERSION} (seed ${SEED})`, () => {
  for (const set of sets) {
    for (const strict of [true, false]) {
      const mode = strict ? 'strict evaluation' : 'lenient evaluation';
      describe.skipIf(!set.present)(`${set.name}, ${mode}`, () => {
        let server: CerbosServer | undefined;
        let engine: Engine;
        let vocab: Vocab;
        let targets: RuleTarget[];
        beforeAll(async () => {
          const sources = readPolicies(set.dir);
          vocab = vocabulary(sources);
          targets = ruleTargets(sources);
          engine = createEngine({ policies: sources, lenient: !strict, ...(set.globals ? { globals: set.globals } : {}) });
          server = await startCerbos({ binary: binary.ok ? binary.path : '', policyDir: set.dir, strictEvaluation: strict, ...(set.globals ? { globals: set.globals } : {}) });
        });
        afterAll(async () => {
          await server?.close();
        });

        it('a plan holds for a resource exactly when CheckResources allows it', async () => {
          const rng = prng(SEED ^ [...`${set.name}/${mode}`].reduce((h, ch) => Math.imul(h, 31) + ch.charCodeAt(0), 7));
          const baton = new Tally();
          const cerbos = new Tally();
          const checks = new Tally();
          const kinds = new Tally();
          const stats = { conditional: 0, allowed: 0, bothRefused: 0 };
          /** exclusions on the pairs where the two checks agree: Baton's unavoidable ones vs all of Cerbos's */
          const comparable = { baton: 0, cerbos: 0 };
          const unplanned = new Tally();
          const work = async (c: PlanCase) => {
            const auxData = c.jwtClaims ? { jwt: c.jwtClaims } : undefined;
            const now = new Date();
            let ours: PlanResult | PlanError;
            try {
              ours = engine.plan({ principal: c.principal, resource: c.resource, actions: c.actions, ...(auxData ? { auxData } : {}) }, { now });
            } catch (e) {
              if (!(e instanceof PlanError)) throw e;
              ours = e;
            }
            let theirs: CerbosPlan | Error;
            try {
              theirs = await server!.planResources({ principal: c.principal, resource: c.resource, actions: c.actions, ...(c.jwtClaims ? { jwtClaims: c.jwtClaims } : {}) });
            } catch (e) {
              theirs = e as Error;
            }
            // what Cerbos cannot plan, Baton refuses to plan too (and the other way round)
            if (ours instanceof PlanError || theirs instanceof Error) {
              const input = JSON.stringify({ principal: c.principal, resource: c.resource, actions: c.actions });
              if (ours instanceof PlanError && theirs instanceof Error) stats.bothRefused++;
              else if (ours instanceof PlanError) unplanned.add(`Baton refused to plan (${ours.message.slice(0, 100)}), Cerbos planned`, { plan: `${c.resource.kind} ${c.actions}`, detail: input });
              else unplanned.add(`Cerbos refused to plan (${(theirs as Error).message.slice(0, 80)}), Baton planned`, { plan: `${c.resource.kind} ${c.actions}: ${(ours as PlanResult).filterDebug}`, detail: input });
              return;
            }
            const results = await server!.checkResources({ principal: c.principal, resources: c.resources.map((r) => ({ resource: r, actions: c.actions })), ...(c.jwtClaims ? { jwtClaims: c.jwtClaims } : {}) });
            if (ours.filter.kind === 'KIND_CONDITIONAL') stats.conditional++;
            if (ours.filter.kind !== theirs.filter.kind) kinds.add(`plan kind: Baton ${ours.filter.kind}, Cerbos ${theirs.filter.kind}`, { plan: `${c.resource.kind} ${c.actions}: Baton ${ours.filterDebug} | Cerbos ${theirs.meta?.filterDebug}`, detail: JSON.stringify(c.principal) });
            const opts = { principal: c.principal, now, ...(set.globals ? { globals: set.globals } : {}) };
            const holdsB = planPredicate(ours, opts);
            const holdsBf = planPredicate(ours, { ...opts, errorsAsFalse: true });
            const cPlan = { filter: theirs.filter as PlanFilter, kind: c.resource.kind, scope: c.resource.scope ?? '', policyVersion: c.resource.policyVersion ?? 'default' };
            const holdsC = planPredicate(cPlan, opts);
            const holdsCf = planPredicate(cPlan, { ...opts, errorsAsFalse: true });
            c.resources.forEach((r, i) => {
              const allowedC = c.actions.every((a) => results[i]!.actions[a] === 'EFFECT_ALLOW');
              const mine = engine.check({ principal: c.principal, resource: r, actions: c.actions, ...(auxData ? { auxData } : {}) }, { now });
              const allowedB = c.actions.every((a) => mine.actions[a]?.effect === 'EFFECT_ALLOW');
              const detail = `plan for ${JSON.stringify({ principal: c.principal, resource: c.resource, actions: c.actions })} resource ${JSON.stringify(r)}${c.jwtClaims ? ` jwt ${JSON.stringify(c.jwtClaims)}` : ''}`;
              baton.pairs++;
              cerbos.pairs++;
              if (allowedC) stats.allowed++;
              // an engine difference (test/policy/differential.test.ts), not a planning one: each plan is judged
              // against its own engine's check (P-03 is about Baton's check); where the checks agree that is CheckResources
              if (allowedB !== allowedC) checks.add(`Baton's check ${allowedB ? 'allows' : 'denies'}, Cerbos's check ${allowedC ? 'allows' : 'denies'}`, { plan: `${r.kind} ${c.actions}`, detail });
              const vb = verdict(holdsB(r), () => holdsBf(r), allowedB);
              if (vb !== 'ok') baton.add(CLASS[vb], { plan: `${c.resource.kind} ${c.actions}: ${ours.filterDebug}`, detail });
              const vc = verdict(holdsC(r), () => holdsCf(r), allowedC);
              if (vc !== 'ok') cerbos.add(CLASS[vc], { plan: `${c.resource.kind} ${c.actions}: ${theirs.meta?.filterDebug ?? ''}`, detail });
              if (allowedB === allowedC) {
                if (vb === 'excludes-failure') comparable.baton++;
                if (vc === 'excludes-failure' || vc === 'excludes') comparable.cerbos++;
              }
            });
          };
          const cases = Array.from({ length: PLANS }, () => genCase(rng, vocab, targets, set.jwt));
          for (let i = 0; i < cases.length; i += 4) await Promise.all(cases.slice(i, i + 4).map(work));
          totals.pairs += baton.pairs;
          console.log(
            `[plan-differential] ${set.name}, ${mode}: seed ${SEED}, ${PLANS} plans (${stats.conditional} conditional) x ${RESOURCES_PER_PLAN} resources = ${baton.pairs} plan/resource pairs (${stats.allowed} allowed by the check) against Cerbos ${CERBOS_VERSION}\n` +
              `  Baton's plans: ${baton.counts.size === 0 ? 'no mismatch' : baton.lines().join('\n    ')}\n` +
              `  Cerbos's plans: ${cerbos.counts.size === 0 ? 'no mismatch' : cerbos.lines().join('\n    ')}\n` +
              `  exclusions where both checks agree: Baton ${comparable.baton} (all P-04), Cerbos ${comparable.cerbos}\n` +
              (stats.bothRefused ? `  plans both refused (Cerbos answers 500, Baton throws PlanError): ${stats.bothRefused}\n` : '') +
              (unplanned.counts.size ? `  ${unplanned.lines().join('\n    ')}\n` : '') +
              (checks.counts.size ? `  the two checks disagree (an engine difference; each plan is judged against its own engine's check): ${checks.lines().join('\n    ')}\n` : '') +
              (kinds.counts.size ? `  plan kinds differ (not a mismatch by itself): ${kinds.lines().join('\n    ')}` : ''),
          );
          expect(baton.count(CLASS.admits), baton.lines().join('\n')).toBe(0);
          expect(baton.count(CLASS.excludes), baton.lines().join('\n')).toBe(0);
          expect(unplanned.lines()).toEqual([]);
          // P-04: exclusions that a filter cannot avoid, never more frequent than in Cerbos's own plans
          expect(comparable.baton, `P-04 exclusions where both checks agree: Baton ${comparable.baton}, Cerbos ${comparable.cerbos}`).toBeLessThanOrEqual(comparable.cerbos);
        });
      });
    }
  }
  it(`compares at least ${MIN_PAIRS} plan/resource pairs in one run`, () => {
    console.log(`[plan-differential] seed ${SEED}: ${totals.pairs} plan/resource pairs in total (reproduce with BATON_PLAN_SEED=${SEED})`);
    expect(totals.pairs).toBeGreaterThanOrEqual(MIN_PAIRS);
  });
});
