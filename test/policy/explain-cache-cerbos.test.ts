// The requests of explain-cache.test.ts asked of the Cerbos binary (lenient evaluation): the per-check condition cache
// decides which outputs are emitted (a rule row cached as false is a condition not met for the next action it serves),
// and explaining changes none of it. Kept apart so that the mutation run's engine tests start no binary.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import { CERBOS_VERSION, cerbosBinary, startCerbos, type CerbosServer } from '../helpers/cerbos.js';
import { CASES, doc, principal, summary, summaryOf, writePolicies } from './explain-cache.fixture.js';

const dir = writePolicies();
const engine = createEngine({ policies: readPolicies(dir), lenient: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const isCI = process.env.CI === 'true';
const binary = cerbosBinary();
if (!binary.ok && !isCI) console.warn(`[explain-cache] the Cerbos ${CERBOS_VERSION} binary cannot be had (${binary.reason}): the oracle check is SKIPPED`);
describe.runIf(binary.ok || isCI)(`the same requests asked of Cerbos ${CERBOS_VERSION} (lenient evaluation)`, () => {
  let server: CerbosServer | undefined;
  beforeAll(async () => {
    if (!binary.ok) throw new Error(`CI=true requires the Cerbos binary: ${binary.reason}`);
    server = await startCerbos({ binary: binary.path, policyDir: dir, strictEvaluation: false });
  });
  afterAll(async () => server?.close());
  it(`answers all ${CASES.length} cases (decisions, policies, outputs in order) as Baton does with explain on`, async () => {
    for (const { attr, actions } of CASES) {
      const [c] = await server!.checkResources({ principal, resources: [{ resource: doc(attr), actions }] });
      expect(summaryOf(c!), JSON.stringify({ attr, actions })).toEqual(summary(engine.check({ principal, resource: doc(attr), actions }, { explain: true })));
    }
  });
});
