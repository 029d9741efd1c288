// The Cerbos engine cases' inputs (testdata/engine*/case_*.yaml) asked of the Cerbos 0.55 binary as well, in both
// of its evaluation modes: Baton lenient against `engine.strictEvaluation: false` and Baton strict (P-01) against
// `engine.strictEvaluation: true`, every field the API returns (effect, deciding policy and scope, effective derived
// roles, outputs) and the evaluationErrors the binary writes to its decision log. This backs conformance-engine.test.ts's strict gap list: where Baton's strict answer differs from
// the cases' (lenient) expectation, it is Cerbos's own strict answer.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { CheckResult } from '../../src/policy/types.js';
import { canonical, CERBOS_VERSION, cerbosBinary, startCerbos, type CerbosResult, type CerbosServer, type EngineCaseInput } from '../helpers/cerbos.js';

const root = fileURLToPath(new URL('../../../shared/conformance/cerbos/', import.meta.url));
const present = existsSync(root);
const isCI = process.env.CI === 'true';
const binary = cerbosBinary();
if (!binary.ok && !isCI) console.warn(`[conformance-binary] the Cerbos ${CERBOS_VERSION} binary cannot be had (${binary.reason}): SKIPPED`);

/** The case folders by the scope search their engine uses (one Cerbos server each, per evaluation mode). */
const sets = [
  { dirs: ['engine', 'engine_strict_scope_search'], lenientScopeSearch: false },
  { dirs: ['engine_lenient_scope_search'], lenientScopeSearch: true },
];

const outputs = (os: { src: string; action: string; val?: unknown }[] | undefined) =>
  (os ?? []).map((o) => JSON.stringify(canonical({ src: o.src, action: o.action, val: o.val ?? null }))).sort();

type EvalError = { expression: string; message: string };
/** evaluationErrors by call id from a decision log (the file backend writes one JSON entry a line, asynchronously). */
async function decisionLogErrors(path: string, callIds: string[]): Promise<Map<string, EvalError[]>> {
  const m = new Map<string, EvalError[]>();
  for (let tries = 0; tries < 100 && !callIds.every((id) => m.has(id)); tries++) {
    if (tries > 0) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let entry: { callId?: string; checkResources?: { outputs?: { evaluationErrors?: { celError: EvalError }[] }[] } };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue; // a line still being written
      }
      const out = entry.checkResources?.outputs?.[0];
      if (entry.callId && out) m.set(entry.callId, (out.evaluationErrors ?? []).map((e) => ({ expression: e.celError.expression, message: e.celError.message })));
    }
  }
  return m;
}

function fromCerbos(c: CerbosResult, actions: string[]) {
  return {
    actions: Object.fromEntries(actions.map((a) => [a, { effect: c.actions[a], policy: c.meta?.actions?.[a]?.matchedPolicy || 'NO_MATCH', scope: c.meta?.actions?.[a]?.matchedScope ?? '' }])),
    effectiveDerivedRoles: [...(c.meta?.effectiveDerivedRoles ?? [])].sort(),
    outputs: outputs(c.outputs),
  };
}
function fromBaton(r: CheckResult, actions: string[]) {
  return {
    actions: Object.fromEntries(actions.map((a) => [a, { effect: r.actions[a]!.effect, policy: r.actions[a]!.policy, scope: r.actions[a]!.scope }])),
    effectiveDerivedRoles: [...r.effectiveDerivedRoles].sort(),
    outputs: outputs(r.outputs),
  };
}

describe.skipIf(!present || (!binary.ok && !isCI))(`Cerbos engine cases: Baton vs the Cerbos ${CERBOS_VERSION} binary, both evaluation modes`, () => {
  const servers: CerbosServer[] = [];
  const logDir = mkdtempSync(join(tmpdir(), 'baton-conformance-'));
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(logDir, { recursive: true, force: true });
  });
  const policies = present ? readPolicies(`${root}testdata/store`) : [];
  for (const strict of [false, true]) {
    for (const { dirs, lenientScopeSearch } of sets) {
      it(`${dirs.join(' + ')}, ${strict ? 'strict' : 'lenient'} evaluation: every input answered alike`, async () => {
        expect(binary.ok, binary.ok ? '' : binary.reason).toBe(true);
        if (!binary.ok) return;
        const decisionLogPath = join(logDir, `${strict}-${lenientScopeSearch}.log`);
        const server = await startCerbos({ binary: binary.path, policyDir: `${root}testdata/store`, strictEvaluation: strict, lenientScopeSearch, globals: { environment: 'test' }, decisionLogPath });
        servers.push(server);
        const engine = createEngine({ policies, lenient: !strict, lenientScopeSearch, globals: { environment: 'test' } });
        let n = 0;
        const errorsWanted: { input: string; callId: string; baton: EvalError[] }[] = [];
        const files = dirs.flatMap((dir) => readdirSync(`${root}testdata/${dir}`).filter((x) => x.endsWith('.yaml')).sort().map((f) => `${dir}/${f}`));
        for (const file of files) {
          const tc = parse(readFileSync(`${root}testdata/${file}`, 'utf8')) as { inputs: EngineCaseInput[] };
          for (const [i, input] of tc.inputs.entries()) {
            const jwt = input.auxData?.jwt;
            const { results: [c], callId } = await server.checkResourcesCall({ principal: input.principal, resources: [{ resource: input.resource, actions: input.actions }], ...(jwt ? { jwtClaims: jwt } : {}) });
            const o = engine.check({ principal: input.principal, resource: input.resource, actions: input.actions, ...(jwt ? { auxData: { jwt } } : {}) });
            expect({ input: `${file}#${i}`, ...fromBaton(o, input.actions) }).toEqual({ input: `${file}#${i}`, ...fromCerbos(c!, input.actions) });
            errorsWanted.push({ input: `${file}#${i}`, callId, baton: o.evaluationErrors ?? [] });
            n++;
          }
        }
        const logged = await decisionLogErrors(decisionLogPath, errorsWanted.map((e) => e.callId));
        let withErrors = 0;
        for (const e of errorsWanted) {
          expect({ input: e.input, evaluationErrors: e.baton }).toEqual({ input: e.input, evaluationErrors: logged.get(e.callId) });
          if (e.baton.length > 0) withErrors++;
        }
        console.log(`[conformance-binary] ${dirs.join(' + ')}, ${strict ? 'strict' : 'lenient'}: ${n} inputs, all equal to Cerbos ${CERBOS_VERSION}'s answers (${withErrors} with evaluationErrors, equal to its decision log's)`);
      }, 60_000);
    }
  }
});
