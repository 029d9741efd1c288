// The example support-desk policies (policies/) run through their own suites, the CLI glue, and the TTS decision.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { policyCompileCommand, policyTestCommand } from '../../src/policy/cli.node.js';
import { createEngine } from '../../src/policy/engine.js';
import { readPolicies, readPolicyDir } from '../../src/policy/fs.node.js';
import { runTestSuites, type TestResults } from '../../src/policy/testrunner.js';

const dir = fileURLToPath(new URL('../../policies/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'baton-policy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, o: (s: string) => void out.push(s), e: (s: string) => void err.push(s) };
}

describe('example policies', () => {
  it('pass their own test suites', () => {
    const d = readPolicyDir(dir);
    expect(d.suites.map((s) => s.name).sort()).toEqual(['tests/order_test.yaml', 'tests/ticket_test.yaml', 'tests/txn_token_test.yaml']);
    const r = runTestSuites({ policies: d.policies, suites: d.suites, testdata: d.testdata });
    expect(r.summary.overallResult).toBe('RESULT_PASSED');
    expect(r.summary.testsCount).toBeGreaterThanOrEqual(50);
  });

  it('TTS scope decision: the agent workload gets read scopes only, never orders:refund', () => {
    const engine = createEngine({ policies: readPolicies(dir) });
    const scopes = ['tickets:read', 'orders:read', 'tickets:write', 'orders:refund'];
    const res = engine.check({
      principal: { id: 'dave', roles: ['support_lead'], attr: { workload: 'mcp-support-agent', chain: ['mcp-support-agent'] } },
      resource: { kind: 'txn_token', id: 'https://support.example', attr: { workload: 'mcp-support-agent', audience: 'https://support.example', request_details: {}, request_context: {} } },
      actions: scopes,
    });
    const granted = scopes.filter((s) => res.actions[s]!.effect === 'EFFECT_ALLOW');
    expect(granted).toEqual(['tickets:read', 'orders:read']);
    expect(res.actions['orders:refund']).toEqual({ effect: 'EFFECT_DENY', policy: 'resource.txn_token.vdefault', scope: '' });
  });

  it('policy test CLI: exit 0 and text summary when all pass; JSON output mirrors Cerbos results', async () => {
    const c = capture();
    expect(await policyTestCommand([dir], c.o, c.e)).toBe(0);
    expect(c.out.join('\n')).toMatch(/50 tests: 50 passed, 0 failed/);
    const j = capture();
    expect(await policyTestCommand([dir, '--output', 'json'], j.o, j.e)).toBe(0);
    const parsed = JSON.parse(j.out.join('')) as TestResults;
    expect(parsed.summary.overallResult).toBe('RESULT_PASSED');
    expect(parsed.suites[0]!.testCases[0]!.principals[0]!.resources[0]!.actions[0]!.details.result).toBe('RESULT_PASSED');
  });

  it('policy test CLI: exit 1 and the failing test named when an expectation is wrong', async () => {
    const d = join(tmp, 'broken');
    cpSync(dir, d, { recursive: true });
    const f = join(d, 'tests/order_test.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('actions: { read: EFFECT_ALLOW, refund: EFFECT_ALLOW }', 'actions: { read: EFFECT_ALLOW, refund: EFFECT_DENY }'));
    const c = capture();
    expect(await policyTestCommand([d], c.o, c.e)).toBe(1);
    expect(c.out.join('\n')).toContain('FAIL  A support lead refunds at the desk, never through the AI agent > dave_lead > alice_order > refund: expected EFFECT_DENY, got EFFECT_ALLOW');
  });

  it('policy compile CLI: 0 for the examples, 1 with file and path for a broken policy', async () => {
    const ok = capture();
    expect(await policyCompileCommand([dir], ok.o, ok.e)).toBe(0);
    expect(ok.out.join('')).toMatch(/compiled 3 policies/);
    const d = join(tmp, 'badcel');
    cpSync(dir, d, { recursive: true });
    const f = join(d, 'resources/order.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('expr: V.via_agent', 'expr: V.via_agent &&& true'));
    const bad = capture();
    expect(await policyCompileCommand([d], bad.o, bad.e)).toBe(1);
    expect(bad.err.join('\n')).toContain('resources/order.yaml ($.resourcePolicy.rules[4].condition');
  });
});
