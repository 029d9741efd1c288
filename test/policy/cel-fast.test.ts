// The CEL fast path (src/policy/cel/fast.ts) against the interpreter: wherever the fast path decides, its answer is the
// interpreter's (value, and never a decision where the interpreter fails); every shape it knows is decided on plain
// input; and a compiled program (which tries the fast path first) gives the interpreter's value or error everywhere.
import { describe, expect, it } from 'vitest';
import { CelScope, compileCel, type CelRequest } from '../../src/policy/cel/index.js';
import { celEnvironment } from '../../src/policy/cel/env.js';
import { fastPathOf, UNDECIDED } from '../../src/policy/cel/fast.js';

const NOW = new Date('2026-12-01T12:00:00Z');

const EXPRESSIONS = [
  'R.attr.owner == P.id',
  'R.attr.owner != P.id',
  'P.id == "alice"',
  '"alice" == P.id',
  'R.attr.flag == true',
  'R.attr.flag != false',
  'request.resource.attr.owner == request.principal.id',
  'R.attr.nested.owner == P.attr.name',
  'R.attr.workload in C.agents',
  'R.attr.workload in R.attr.list',
  '"chain" in P.attr',
  '"owner" in R.attr',
  'P.attr.name in R.attr',
  '!V.agent',
  '!R.attr.flag',
  'V.agent',
  'R.attr.owner',
  'R.attr.flag',
  'V.agent && R.attr.flag',
  'V.agent || R.attr.flag',
  '!V.agent && R.attr.owner == P.id',
  'R.attr.owner == P.id || "chain" in P.attr',
  '"chain" in P.attr && P.attr.chain.exists(w, w in C.agents)',
  'P.attr.chain.exists(w, w in C.agents)',
  'P.attr.chain.exists(w, w == P.attr.name)',
  'R.attr.list.exists(w, w == R.attr.owner || w in C.agents)',
  'R.attr.list.exists(w, !(w in R.attr.list))',
  'R.attr.list.exists(x, R.attr.list.exists(y, x != y))',
  'R.attr.list.exists(w, w)',
  'C.agents.exists(w, V.agent)',
  'G.region == R.attr.region',
  'R.attr.count == 1',
  'R.attr.owner == R.attr.count',
  'R.attr.owner == R.attr.nested',
];

/** Attribute values of every kind the fast path has to refuse or to read. */
class Custom {
  owner = 'alice';
}
const WEIRD_VALUES: unknown[] = [
  'alice',
  'bob',
  '',
  true,
  false,
  null,
  1,
  1.5,
  2n,
  ['alice', 'bob'],
  ['bob', 1],
  [1, 'alice'],
  [],
  {},
  { owner: 'alice' },
  { owner: undefined, name: 'alice' },
  { first: undefined },
  { first: { deeper: undefined } },
  Object.assign(Object.create(null) as object, { owner: 'alice' }),
  { constructor: 'x', owner: 'alice' },
  new Custom(),
  new Map([['owner', 'alice']]),
  new Set(['alice']),
  new Date(0),
  undefined,
];

function request(rAttr: Record<string, unknown>, pAttr: Record<string, unknown>): CelRequest {
  return {
    principal: { id: 'alice', roles: ['user'], attr: pAttr, policyVersion: 'default', scope: '' },
    resource: { kind: 'doc', id: 'd1', attr: rAttr, policyVersion: 'default', scope: '' },
  };
}

/** Scopes: a plain one, then every attribute replaced in turn by each value above. */
function scopes(): CelScope[] {
  const rBase = { owner: 'alice', flag: true, workload: 'mcp', list: ['web', 'mcp'], nested: { owner: 'x' }, region: 'eu', count: 1 };
  const pBase = { name: 'x', chain: ['web'] };
  const vars = { agent: false };
  const consts = { agents: ['mcp', 'bot'] };
  const out: CelScope[] = [new CelScope(request(rBase, pBase), NOW, { region: 'eu' }, vars, consts)];
  for (const v of WEIRD_VALUES) {
    for (const k of Object.keys(rBase)) out.push(new CelScope(request({ ...rBase, [k]: v }, pBase), NOW, { region: v }, vars, consts));
    for (const k of Object.keys(pBase)) out.push(new CelScope(request(rBase, { ...pBase, [k]: v }), NOW, {}, { agent: v }, { agents: v }));
    out.push(new CelScope(request(v as Record<string, unknown>, v as Record<string, unknown>), NOW, {}, vars, consts));
  }
  return out;
}

type Outcome = { value: unknown } | { error: string };
function outcome(f: () => unknown): Outcome {
  try {
    return { value: f() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describe('CEL fast path', () => {
  const env = celEnvironment();
  const all = scopes();

  it('decides only where the interpreter gives that same value (never where it fails)', () => {
    let decided = 0;
    let total = 0;
    for (const src of EXPRESSIONS) {
      const fn = env.parse(src) as unknown as ((ctx: object) => unknown) & { ast: unknown; check(): { valid: boolean } };
      expect(fn.check().valid, src).toBe(true);
      const fast = fastPathOf(fn.ast);
      for (const s of all) {
        total++;
        const got = fast === undefined ? UNDECIDED : fast(s);
        if (got === UNDECIDED) continue;
        decided++;
        expect(outcome(() => fn(s)), `${src} on ${JSON.stringify(s.request, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`).toEqual({ value: got });
      }
    }
    // the fast path is not vacuous: it decides most of these cases
    expect(decided).toBeGreaterThan(total / 3);
  });

  it('decides every shape it knows on plain input', () => {
    const plain = all[0]!;
    const known = EXPRESSIONS.filter((e) => !/count|nested$|exists\(w, w\)/.test(e));
    for (const src of known) {
      const fast = fastPathOf((env.parse(src) as unknown as { ast: unknown }).ast);
      expect(fast === undefined ? UNDECIDED : fast(plain), src).not.toBe(UNDECIDED);
    }
    // exists over an empty list is decided too (false), as in the scope policy of a first hop
    const empty = new CelScope(request({}, { chain: [] }), NOW, {}, {}, { agents: ['mcp'] });
    expect(fastPathOf((env.parse('"chain" in P.attr && P.attr.chain.exists(w, w in C.agents)') as unknown as { ast: unknown }).ast)!(empty)).toBe(false);
    // not the two-variable form, nor other macros
    expect(fastPathOf((env.parse('P.attr.chain.exists(i, w, w in C.agents)') as unknown as { ast: unknown }).ast)).toBeUndefined();
    expect(fastPathOf((env.parse('P.attr.chain.all(w, w in C.agents)') as unknown as { ast: unknown }).ast)).toBeUndefined();
    expect(fastPathOf((env.parse('runtime.effectiveDerivedRoles == []') as unknown as { ast: unknown }).ast)).toBeUndefined();
  });

  it('a compiled program gives the interpreter\'s value or error message on every input', () => {
    for (const src of EXPRESSIONS) {
      const withFast = compileCel(src);
      const interpreter = compileCel(src, env); // an explicit environment: no fast path
      for (const s of all) expect(outcome(() => withFast.evaluateIn(s)), src).toEqual(outcome(() => interpreter.evaluateIn(s)));
    }
  });
});
