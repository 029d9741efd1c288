// Conformance: the Cerbos engine cases (testdata/engine*/case_*.yaml) against the Cerbos test store.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { CheckResult } from '../../src/policy/types.js';

const root = fileURLToPath(new URL('../../../shared/conformance/cerbos/', import.meta.url));
const present = existsSync(root);
if (!present) console.warn(`[conformance] ${root} is absent: Cerbos engine conformance tests are skipped`);

/** Cases we do not pass yet, with the reason; printed, never asserted. */
const KNOWN_GAPS: Record<string, string> = {};

interface Input {
  requestId: string;
  actions: string[];
  principal: { id: string; roles: string[]; attr?: Record<string, unknown>; policyVersion?: string; scope?: string };
  resource: { kind: string; id: string; attr?: Record<string, unknown>; policyVersion?: string; scope?: string };
  auxData?: { jwt?: Record<string, unknown> };
}
interface Want {
  requestId: string;
  actions: Record<string, { effect: string; policy: string; scope?: string }>;
  effectiveDerivedRoles?: string[];
  /** protojson also accepts the proto field name; one case uses it */
  effective_derived_roles?: string[];
  outputs?: { src: string; val?: unknown; action?: string; error?: string }[];
}

/** Output order is not part of Cerbos's contract (it differs between role-policy and resource-policy rules). */
const byKey = (a: { src: string; action?: string }, b: { src: string; action?: string }) =>
  `${a.src}\u0000${a.action ?? ''}`.localeCompare(`${b.src}\u0000${b.action ?? ''}`);

function normalise(r: CheckResult) {
  return {
    actions: Object.fromEntries(
      Object.entries(r.actions).map(([a, e]) => [a, { effect: e.effect, policy: e.policy, scope: e.scope }]),
    ),
    effectiveDerivedRoles: [...r.effectiveDerivedRoles].sort(),
    outputs: r.outputs.map((o) => ({ src: o.src, action: o.action, ...(o.error !== undefined ? { error: 'ERR' } : { val: o.val }) })).sort(byKey),
  };
}
function normaliseWant(w: Want) {
  return {
    actions: Object.fromEntries(
      Object.entries(w.actions).map(([a, e]) => [a, { effect: e.effect, policy: e.policy, scope: e.scope ?? '' }]),
    ),
    effectiveDerivedRoles: [...(w.effectiveDerivedRoles ?? w.effective_derived_roles ?? [])].sort(),
    outputs: (w.outputs ?? []).map((o) => ({ src: o.src, action: o.action, ...(o.error !== undefined ? { error: 'ERR' } : { val: o.val }) })).sort(byKey),
  };
}

const NOW = new Date('2021-04-22T10:05:20.021-05:00');
const sets: { dir: string; lenientScopeSearch: boolean }[] = [
  { dir: 'engine', lenientScopeSearch: false },
  { dir: 'engine_strict_scope_search', lenientScopeSearch: false },
  { dir: 'engine_lenient_scope_search', lenientScopeSearch: true },
];

describe.skipIf(!present)('Cerbos engine conformance', () => {
  const engines = new Map<boolean, Engine>();
  const engineFor = (lenientScopeSearch: boolean) => {
    let e = engines.get(lenientScopeSearch);
    if (!e) {
      e = createEngine({
        policies: readPolicies(`${root}testdata/store`),
        lenient: true,
        lenientScopeSearch,
        globals: { environment: 'test' },
      });
      engines.set(lenientScopeSearch, e);
    }
    return e;
  };
  for (const { dir, lenientScopeSearch } of sets) {
    const files = present ? readdirSync(`${root}testdata/${dir}`).filter((f) => f.endsWith('.yaml')).sort() : [];
    for (const f of files) {
      const id = `${dir}/${f}`;
      const tc = parse(readFileSync(`${root}testdata/${dir}/${f}`, 'utf8')) as { description: string; inputs: Input[]; wantOutputs: Want[] };
      if (KNOWN_GAPS[id]) {
        it.skip(`${id}: ${tc.description} (known gap: ${KNOWN_GAPS[id]})`, () => {});
        continue;
      }
      it(`${id}: ${tc.description}`, () => {
        const engine = engineFor(lenientScopeSearch);
        tc.inputs.forEach((input, i) => {
          const got = engine.check(
            { principal: input.principal, resource: input.resource, actions: input.actions, ...(input.auxData ? { auxData: input.auxData } : {}) },
            { now: NOW },
          );
          expect({ requestId: input.requestId, ...normalise(got) }).toEqual({ requestId: input.requestId, ...normaliseWant(tc.wantOutputs[i]!) });
        });
      });
    }
  }
});
