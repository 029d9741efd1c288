// Variables are evaluated once per check per distinct parameter set, as Cerbos 0.55 does: its rule table keys the
// variable cache by a hash of the rows' parameters (the variables and the constants a policy reads), so two policies
// that declare the same variables and read the same constants share the values, computed wherever the first of them was
// evaluated. Where a variable reads `runtime.effectiveDerivedRoles`, that place matters: on the principal walk no
// derived role is known (the list is empty), on the resource walk a derived role whose condition fails makes reading
// the list fail. The differential test found both halves as outputs mismatches (seed 9 with BATON_DIFF_SCALE=2: the
// sharing; seed 6 with BATON_DIFF_SCALE=3: only the constants read count); the Cerbos binary is the oracle here too.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { CheckResult } from '../../src/policy/types.js';
import { CERBOS_VERSION, cerbosBinary, startCerbos, type CerbosResult, type CerbosServer } from '../helpers/cerbos.js';

const VARIABLES = `  variables:
    local:
      v0: runtime.effectiveDerivedRoles.exists(r, r == "d0")
`;
const POLICIES: Record<string, string> = {
  'derived.yaml': `apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: common
  definitions:
    - name: d1
      parentRoles: [r2]
      condition:
        match:
          expr: R.attr.owner == P.id
`,
  'file.yaml': `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: file
  version: default
  importDerivedRoles: [common]
  rules:
    - actions: [x:read]
      effect: EFFECT_ALLOW
      derivedRoles: [d1]
`,
  'alice.yaml': `apiVersion: api.cerbos.dev/v1
principalPolicy:
  principal: alice
  version: default
${VARIABLES}  rules:
    - resource: file
      actions:
        - action: x:write
          effect: EFFECT_DENY
          condition:
            match:
              expr: "!V.v0"
`,
  'rp1.yaml': `apiVersion: api.cerbos.dev/v1
rolePolicy:
  role: rp1
  parentRoles: [r2]
${VARIABLES}  rules:
    - resource: "*"
      allowActions: [x:*]
      condition:
        match:
          expr: V.v0
      output:
        when:
          ruleActivated: R.attr.s
          conditionNotMet: R.attr.s
`,
};

const principal = { id: 'alice', roles: ['rp1'] };
const resource = { kind: 'file', id: 'f1', attr: {} };
const summary = (r: CheckResult) => ({
  actions: Object.fromEntries(Object.entries(r.actions).map(([a, e]) => [a, `${e.effect} ${e.policy}`])),
  outputs: r.outputs.map((o) => `${o.action} ${o.src} ${o.error ?? JSON.stringify(o.val)}`),
});
const summaryOf = (c: CerbosResult) => ({
  actions: Object.fromEntries(Object.entries(c.actions).map(([a, e]) => [a, `${e} ${c.meta?.actions?.[a]?.matchedPolicy || 'NO_MATCH'}`])),
  outputs: (c.outputs ?? []).map((o) => `${o.action} ${o.src} ${(o as { error?: string }).error ?? JSON.stringify(o.val ?? null)}`),
});

/** Variants that must not share: a variable differs, or one policy reads a constant the other declares but never reads. */
const CONSTANTS = `  constants:
    local:
      c0: x
`;
const VARIANTS: Record<string, Record<string, string>> = {
  'identical variables and constants': POLICIES,
  'a variable that differs': { ...POLICIES, 'rp1.yaml': POLICIES['rp1.yaml']!.replace('r == "d0")', 'r == "d0") || false') },
  'a constant read by one of them only (Cerbos keeps only the constants a policy reads)': {
    ...POLICIES,
    'alice.yaml': POLICIES['alice.yaml']!.replace(VARIABLES, VARIABLES + CONSTANTS),
    'rp1.yaml': POLICIES['rp1.yaml']!.replace(VARIABLES, VARIABLES + CONSTANTS).replace('expr: V.v0', 'expr: V.v0 && C.c0 == "x"'),
  },
  'the same constant read by both': {
    ...POLICIES,
    'alice.yaml': POLICIES['alice.yaml']!.replace(VARIABLES, VARIABLES + CONSTANTS).replace('expr: "!V.v0"', 'expr: "!V.v0 && C.c0 == \'x\'"'),
    'rp1.yaml': POLICIES['rp1.yaml']!.replace(VARIABLES, VARIABLES + CONSTANTS).replace('expr: V.v0', 'expr: V.v0 && C.c0 == "x"'),
  },
};
const dirs = new Map<string, string>();
const engines = new Map<string, Engine>();
beforeAll(() => {
  for (const [name, files] of Object.entries(VARIANTS)) {
    const d = mkdtempSync(join(tmpdir(), 'baton-varcache-'));
    for (const [file, content] of Object.entries(files)) writeFileSync(join(d, file), content);
    dirs.set(name, d);
    engines.set(name, createEngine({ policies: readPolicies(d), lenient: false }));
  }
});
afterAll(() => {
  for (const d of dirs.values()) rmSync(d, { recursive: true, force: true });
});
const engineOf = (name: string) => engines.get(name)!;

describe('variables shared by identical parameter sets (strict evaluation)', () => {
  const engine = () => engineOf('identical variables and constants');
  it('asked alone, the role policy reads v0 on the resource walk: it fails there and the action is denied without output', () => {
    const r = engine().check({ principal, resource, actions: ['x:secret'] });
    expect(summary(r)).toEqual({ actions: { 'x:secret': 'EFFECT_DENY role.rp1.vdefault' }, outputs: [] });
    expect(r.evaluationErrors).toContainEqual({ expression: 'V.v0', message: "undefined field 'v0'" });
  });

  it('after an action the principal policy decided, the role policy reuses the v0 computed there (false) and its row emits its output', () => {
    const r = engine().check({ principal, resource, actions: ['x:write', 'x:secret'] });
    expect(summary(r)).toEqual({
      actions: { 'x:write': 'EFFECT_DENY principal.alice.vdefault', 'x:secret': 'EFFECT_DENY role.rp1.vdefault' },
      outputs: ['x:secret role.rp1.vdefault# no such key: s'],
    });
  });

  it('the same holds when both read the same constant', () => {
    expect(summary(engineOf('the same constant read by both').check({ principal, resource, actions: ['x:write', 'x:secret'] })).outputs).toEqual(['x:secret role.rp1.vdefault# no such key: s']);
  });

  for (const name of ['a variable that differs', 'a constant read by one of them only (Cerbos keeps only the constants a policy reads)']) {
    it(`policies with ${name} do not share values`, () => {
      expect(summary(engineOf(name).check({ principal, resource, actions: ['x:write', 'x:secret'] })).outputs).toEqual([]);
    });
  }
});

const isCI = process.env.CI === 'true';
const binary = cerbosBinary();
if (!binary.ok && !isCI) console.warn(`[variable-cache] the Cerbos ${CERBOS_VERSION} binary cannot be had (${binary.reason}): the oracle check is SKIPPED`);
describe.runIf(binary.ok || isCI)(`the same requests asked of Cerbos ${CERBOS_VERSION} (strict evaluation)`, () => {
  for (const name of Object.keys(VARIANTS)) {
    describe(name, () => {
      let server: CerbosServer | undefined;
      beforeAll(async () => {
        if (!binary.ok) throw new Error(`CI=true requires the Cerbos binary: ${binary.reason}`);
        server = await startCerbos({ binary: binary.path, policyDir: dirs.get(name)!, strictEvaluation: true });
      });
      afterAll(async () => server?.close());
      for (const actions of [['x:secret'], ['x:write', 'x:secret'], ['x:secret', 'x:write']]) {
        it(`answers ${actions.join(', ')} as Baton does`, async () => {
          const [c] = await server!.checkResources({ principal, resources: [{ resource, actions }] });
          expect(summaryOf(c!)).toEqual(summary(engineOf(name).check({ principal, resource, actions })));
        });
      }
    });
  }
});
