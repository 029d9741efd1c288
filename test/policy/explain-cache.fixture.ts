// The policies and requests of explain-cache.test.ts and explain-cache-cerbos.test.ts (a rule serving two actions, a
// derived-role rule serving two others, each with outputs), written to a temporary directory by `writePolicies`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckResult } from '../../src/policy/types.js';
import type { CerbosResult } from '../helpers/cerbos.js';

export const POLICIES: Record<string, string> = {
  'derived.yaml': `apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: common
  definitions:
    - name: owner
      parentRoles: [user]
      condition:
        match:
          expr: R.attr.owner == P.id
`,
  'doc.yaml': `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  importDerivedRoles: [common]
  rules:
    - name: level
      actions: [a, b]
      effect: EFFECT_ALLOW
      roles: [user]
      condition:
        match:
          expr: R.attr.level > 1
      output:
        when:
          ruleActivated: '"level met"'
          conditionNotMet: '"level not met"'
    - name: owner-cd
      actions: [c, d]
      effect: EFFECT_ALLOW
      derivedRoles: [owner]
      condition:
        match:
          expr: R.attr.open == true
      output:
        when:
          ruleActivated: '"open"'
          conditionNotMet: '"not open"'
`,
};

export const principal = { id: 'u', roles: ['user'] };
export const doc = (attr: Record<string, unknown>) => ({ kind: 'doc', id: 'd1', attr });

/** A temporary directory holding POLICIES (the caller removes it). */
export function writePolicies(): string {
  const dir = mkdtempSync(join(tmpdir(), 'baton-explain-cache-'));
  for (const [file, content] of Object.entries(POLICIES)) writeFileSync(join(dir, file), content);
  return dir;
}

// The requests both files ask, in several action orders; explaining never changes what they decide or emit.
export const CASES: { attr: Record<string, unknown>; actions: string[] }[] = [];
for (const attr of [{}, { open: true }, { owner: 'someone-else', open: true }, { owner: 'u', open: false, level: 0 }, { owner: 'u', open: true, level: 2 }]) {
  for (const actions of [['a', 'b'], ['b', 'a'], ['a', 'c', 'b'], ['c', 'd'], ['d', 'c', 'a']]) CASES.push({ attr, actions });
}
export const summary = (r: CheckResult) => ({
  actions: Object.fromEntries(Object.entries(r.actions).map(([a, e]) => [a, `${e.effect} ${e.policy}`])),
  outputs: r.outputs.map((o) => `${o.action} ${o.src} ${o.error ?? JSON.stringify(o.val)}`),
});
export const summaryOf = (c: CerbosResult) => ({
  actions: Object.fromEntries(Object.entries(c.actions).map(([a, e]) => [a, `${e} ${c.meta?.actions?.[a]?.matchedPolicy || 'NO_MATCH'}`])),
  outputs: (c.outputs ?? []).map((o) => `${o.action} ${o.src} ${(o as { error?: string }).error ?? JSON.stringify(o.val ?? null)}`),
});

