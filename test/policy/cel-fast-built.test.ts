// The CEL fast path on the engine's own scopes (CelScope `built`: P and R are the objects EngineCore.run builds from
// validated input, every field set): it reads P.x / R.x without its checks, and must give exactly what the checked
// path gives on the same objects (which test/policy/cel-fast.test.ts holds to the interpreter).
import { describe, expect, it } from 'vitest';
import { CelScope, type CelRequest } from '../../src/policy/cel/index.js';
import { celEnvironment } from '../../src/policy/cel/env.js';
import { fastPathOf, UNDECIDED } from '../../src/policy/cel/fast.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const EXPRESSIONS = [
  'R.attr.owner == P.id',
  'P.id == "alice"',
  'P.id != R.id',
  'R.kind == "doc"',
  'R.policyVersion == P.policyVersion',
  'R.scope == "" && P.scope == "a.b"',
  '"user" in P.roles',
  '"chain" in P.attr && R.attr.flag',
  'P.attr.name in R.attr',
  'R.attr.workload in C.agents',
  'request.resource.attr.owner == request.principal.id',
  '!R.attr.flag || P.id == "bob"',
  'R.attr',
  'P.attr.name',
];
// attribute records as the engine accepts them (any non-null, non-array object)
class Custom {
  owner = 'alice';
}
const ATTRS: Record<string, unknown>[] = [
  { owner: 'alice', flag: true, workload: 'mcp', name: 'x', chain: [] },
  { owner: 'bob', flag: false, workload: 'web', name: 'owner' },
  { owner: 1, flag: 'yes' },
  {},
  Object.assign(Object.create(null) as object, { owner: 'alice' }) as Record<string, unknown>,
  { constructor: 'x', owner: 'alice' },
  new Custom() as unknown as Record<string, unknown>,
  new Map([['owner', 'alice']]) as unknown as Record<string, unknown>,
];

describe('CEL fast path, engine-built scopes', () => {
  it('gives what the checked path gives on the same objects', () => {
    const env = celEnvironment();
    let decided = 0;
    for (const src of EXPRESSIONS) {
      const fast = fastPathOf((env.parse(src) as unknown as { ast: unknown }).ast)!;
      expect(fast, src).toBeDefined();
      for (const rAttr of ATTRS) {
        for (const pAttr of ATTRS) {
          for (const [id, pScope] of [['alice', ''], ['bob', 'a.b']]) {
            const req: CelRequest = {
              principal: { id: id!, roles: ['user', 'admin'], attr: pAttr, policyVersion: '', scope: pScope! },
              resource: { kind: 'doc', id: 'd1', attr: rAttr, policyVersion: 'default', scope: '' },
            };
            const checked = new CelScope(req, NOW, {}, {}, { agents: ['mcp'] });
            const built = new CelScope(req, NOW, {}, {}, { agents: ['mcp'] }, undefined, true);
            const want = fast(checked);
            expect(fast(built), src).toEqual(want);
            if (want !== UNDECIDED) decided++;
          }
        }
      }
    }
    expect(decided).toBeGreaterThan(500);
  });
});
