// The policy bundle inside workerd: the committed bundle is what `baton policy build policies` makes today, it loads in
// the Workers runtime, and the bundled engine decides exactly as the Node engine does on the example policies; a
// bundle with JSON schemas validates attributes inside workerd.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import committed from '../../policies.bundle.json';
import { buildPolicyBundle, canonicalJson, loadPolicyBundle, PolicyBundleError, type PolicyBundle } from '../../src/policy-bundle/index.js';
import { createEngine, type CheckInput, type CheckResult, type PolicySource } from '../../src/policy/index.js';
import { runTestSuites, type TestResults } from '../../src/policy/testrunner.js';

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return `sha256:${[...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

describe('the committed bundle', () => {
  it('is up to date with policies/ (else run: npm run build:worker)', () => {
    expect(committed).toEqual(JSON.parse(env.TEST_FRESH_BUNDLE));
  });

  it('loads in workerd with its hash and policy count', async () => {
    const b = await loadPolicyBundle(committed);
    expect(b.hash).toBe((committed as PolicyBundle).hash);
    expect(b.policyCount).toBe(3);
    expect(b.source).toBe('policies');
  });
});

describe('same decisions as the Node engine', () => {
  it('for every principal x resource x action of the example testdata', async () => {
    const { engine } = await loadPolicyBundle(committed);
    const cases = JSON.parse(env.TEST_CASES) as CheckInput[];
    const node = JSON.parse(env.TEST_NODE_DECISIONS) as CheckResult[];
    expect(cases.length).toBeGreaterThan(20);
    const now = new Date(env.TEST_DECISION_NOW);
    const worker = cases.map((c) => JSON.parse(JSON.stringify(engine.check(c, { now }))) as CheckResult);
    expect(worker).toEqual(node);
    // not a vacuous comparison: both effects occur
    const effects = new Set(worker.flatMap((r) => Object.values(r.actions).map((a) => a.effect)));
    expect([...effects].sort()).toEqual(['EFFECT_ALLOW', 'EFFECT_DENY']);
  });

  it('passes the example *_test.yaml suites with the same results as on Node', async () => {
    const { sources } = await loadPolicyBundle(committed);
    const { suites, testdata } = JSON.parse(env.TEST_POLICY_SUITES) as { suites: PolicySource[]; testdata: [string, string][] };
    const results: TestResults = runTestSuites({ policies: sources, suites, testdata: new Map(testdata) });
    expect(results.summary.overallResult).toBe('RESULT_PASSED');
    expect(results.summary.testsCount).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(results))).toEqual(JSON.parse(env.TEST_NODE_SUITE_RESULTS));
  });
});

describe('a bad bundle is refused, naming the problem', () => {
  const base = committed as PolicyBundle;

  it('missing', async () => {
    await expect(loadPolicyBundle(undefined)).rejects.toThrow(/policy bundle: missing/);
  });

  it('not a bundle', async () => {
    await expect(loadPolicyBundle({ hello: 'world' })).rejects.toThrow(PolicyBundleError);
    await expect(loadPolicyBundle({ ...base, format: 'cerbos' })).rejects.toThrow(/policy bundle: format: must be "baton.policy-bundle"/);
    await expect(loadPolicyBundle({ ...base, formatVersion: 2 })).rejects.toThrow(/formatVersion: unsupported format version/);
  });

  it('edited after it was built (hash mismatch)', async () => {
    const edited = structuredClone(base);
    (edited.policies[0]!.documents[0] as { description?: string }).description = 'changed';
    await expect(loadPolicyBundle(edited)).rejects.toThrow(/hash mismatch/);
  });

  it('a policy that does not compile, even with a matching hash, names the file', async () => {
    const broken = structuredClone(base);
    const entry = broken.policies.find((p) => p.name === 'resources/txn_token.yaml')!;
    const doc = entry.documents[0] as { resourcePolicy: { rules: { condition?: unknown }[] } };
    doc.resourcePolicy.rules[0]!.condition = { match: { expr: 'R.attr.(' } };
    broken.hash = await sha256(canonicalJson(broken.policies));
    await expect(loadPolicyBundle(broken)).rejects.toThrow(/resources\/txn_token\.yaml/);
  });
});

describe('schema validation inside workerd', () => {
  it('a bundle with _schemas/ files: the validator (no eval, no new Function) rejects as Cerbos words it', async () => {
    const policy = { apiVersion: 'api.cerbos.dev/v1', resourcePolicy: { resource: 'doc', version: 'default', schemas: { principalSchema: { ref: 'cerbos:///principal.json' }, resourceSchema: { ref: 'cerbos:///doc.json' } }, rules: [{ actions: ['*'], effect: 'EFFECT_ALLOW', roles: ['user'] }] } };
    const principalSchema = { type: 'object', properties: { department: { enum: ['marketing', 'engineering'] }, level: { type: 'integer', maximum: 10 }, code: { type: 'string', pattern: '^[A-Z]{3}$' } }, required: ['department'] };
    const docSchema = { type: 'object', properties: { size: { multipleOf: 0.5 } }, required: ['owner'] };
    const bundle = await buildPolicyBundle([
      { name: 'doc.json', content: JSON.stringify(policy) },
      { name: '_schemas/principal.json', content: JSON.stringify(principalSchema) },
      { name: '_schemas/doc.json', content: JSON.stringify(docSchema) },
    ]);
    const { sources } = await loadPolicyBundle(bundle);
    const engine = createEngine({ policies: sources, schemaEnforcement: 'reject' });
    const r = engine.check({ principal: { id: 'a', roles: ['user'], attr: { department: 'sales', level: 1234567, code: 'ab' } }, resource: { kind: 'doc', id: '1', attr: { size: 0.3 } }, actions: ['read'] });
    expect(r.actions.read).toEqual({ effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault', scope: '' });
    expect(r.validationErrors).toEqual([
      { path: '/code', message: "does not match pattern '^[A-Z]{3}$'", source: 'SOURCE_PRINCIPAL' },
      { path: '/department', message: 'value must be one of "marketing", "engineering"', source: 'SOURCE_PRINCIPAL' },
      { path: '/level', message: 'must be <= 10 but found 1.234567e+06', source: 'SOURCE_PRINCIPAL' },
      { path: '/', message: "missing properties: 'owner'", source: 'SOURCE_RESOURCE' },
      { path: '/size', message: '0.3 not multipleOf 0.5', source: 'SOURCE_RESOURCE' },
    ]);
  });
});
