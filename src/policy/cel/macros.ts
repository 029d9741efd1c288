/**
 * Comprehension macros that the stock library lacks but Cerbos (cel-go) provides:
 *   two-variable all/exists/existsOne/exists_one, existsOne(x, p), transformList, transformMap, transformMapEntry
 *   (with and without a filter), sortBy(x, key).
 * They use @marcbachmann/cel-js's macro hook: a function whose parameters are `ast` receives the unevaluated
 * argument nodes and returns { typeCheck, evaluate } that run sub-expressions in a context extended with the
 * iteration variables.
 */
import type { Environment } from '@marcbachmann/cel-js';

type ErrCtor = new (msg: string) => Error;

/* Minimal structural view of the library's internal macro objects (not part of its typed public API). */
interface AstNode { op: string; args: unknown }
interface Ctx { forkWithVariable(name: string, type: unknown): IterCtx }
interface IterCtx extends Ctx { setIterValue(v: unknown, ev: unknown): IterCtx }
interface Checker { check(node: AstNode, ctx: Ctx): unknown; getType(name: string): unknown }
interface Ev { run(node: AstNode, ctx: Ctx): unknown }
interface MacroInput { args: AstNode[]; receiver: AstNode; ast: AstNode }
interface Macro {
  receiver: AstNode;
  vars: string[];
  body: AstNode[]; // filter?, transform or predicate
  dyn?: unknown;
  typeCheck(checker: Checker, m: Macro, ctx: Ctx): unknown;
  evaluate(ev: Ev, m: Macro, ctx: Ctx): unknown;
  async: false;
}

function identName(node: AstNode | undefined, macro: string, Err: ErrCtor): string {
  if (!node || node.op !== 'id' || typeof node.args !== 'string') {
    throw new Err(`${macro}: iteration variable must be an identifier`);
  }
  return node.args;
}

/** Iterate a list as (index, value) or a map as (key, value). */
function* pairs(coll: unknown, macro: string, Err: ErrCtor): Generator<[unknown, unknown]> {
  if (Array.isArray(coll)) {
    for (let i = 0; i < coll.length; i++) yield [BigInt(i), coll[i]];
  } else if (coll instanceof Map) {
    yield* coll.entries();
  } else if (coll !== null && typeof coll === 'object' && !(coll instanceof Date) && !(coll instanceof Uint8Array)) {
    yield* Object.entries(coll);
  } else {
    throw new Err(`${macro}: receiver must be a list or a map`);
  }
}

function mapKey(k: unknown, Err: ErrCtor): string | bigint | boolean | number {
  if (typeof k === 'string' || typeof k === 'bigint' || typeof k === 'boolean') return k;
  if (typeof k === 'number' && Number.isInteger(k)) return BigInt(k);
  throw new Err(`unsupported map key type: ${typeof k}`);
}

function asBool(v: unknown, what: string, Err: ErrCtor): boolean {
  if (typeof v !== 'boolean') throw new Err(`${what} must return bool`);
  return v;
}

type Body = (ev: Ev, m: Macro, run: (n: AstNode) => unknown, k: unknown, v: unknown) => void;

// long function: one table of CEL macros, one registration each, read top to bottom
export function registerMacros(env: Environment, Err: ErrCtor): void {
  const define = (
    names: string[],
    nVars: 1 | 2,
    nBody: 1 | 2,
    result: string,
    impl: (m: Macro, coll: unknown, step: (k: unknown, v: unknown, idx: number) => unknown[]) => unknown,
  ): void => {
    for (const name of names) {
      for (const recv of ['list', 'map']) {
        const params = Array(nVars + nBody).fill('ast').join(', ');
        const sig = `${recv}.${name}(${params}): ${result}`;
        const handler = ({ args, receiver }: MacroInput): Macro => {
          const vars = args.slice(0, nVars).map((a) => identName(a, name, Err));
          if (nVars === 2 && vars[0] === vars[1]) throw new Err(`${name}: iteration variables must differ`);
          return {
            receiver,
            vars,
            body: args.slice(nVars),
            async: false,
            typeCheck(checker, m, ctx) {
              checker.check(m.receiver, ctx);
              m.dyn = checker.getType('dyn');
              let c: Ctx = ctx;
              for (const v of m.vars) c = c.forkWithVariable(v, m.dyn);
              for (const b of m.body) checker.check(b, c);
              return checker.getType(result);
            },
            evaluate(ev, m, ctx) {
              const coll = ev.run(m.receiver, ctx);
              const c1 = ctx.forkWithVariable(m.vars[0] as string, m.dyn);
              const c2 = m.vars.length === 2 ? c1.forkWithVariable(m.vars[1] as string, m.dyn) : undefined;
              return impl(m, coll, (k, v) => {
                if (c2) {
                  c1.setIterValue(k, ev);
                  c2.setIterValue(v, ev);
                } else {
                  c1.setIterValue(Array.isArray(coll) ? v : k, ev);
                }
                const inner = c2 ?? c1;
                return m.body.map((b) => ev.run(b, inner));
              });
            },
          };
        };
        try {
          env.registerFunction(sig, handler as unknown as (...a: unknown[]) => unknown);
        } catch {
          /* the stock library already defines this macro shape */
        }
      }
    }
  };

  // two-variable quantifiers (errors: cel-go absorbs an error when another element decides the result)
  define(['all'], 2, 1, 'bool', (_m, coll, step) => {
    let err: unknown;
    for (const [k, v] of pairs(coll, 'all', Err)) {
      try {
        if (!asBool(step(k, v, 0)[0], 'all() predicate', Err)) return false;
      } catch (e) {
        err ??= e;
      }
    }
    if (err) throw err;
    return true;
  });
  define(['exists'], 2, 1, 'bool', (_m, coll, step) => {
    let err: unknown;
    for (const [k, v] of pairs(coll, 'exists', Err)) {
      try {
        if (asBool(step(k, v, 0)[0], 'exists() predicate', Err)) return true;
      } catch (e) {
        err ??= e;
      }
    }
    if (err) throw err;
    return false;
  });
  const existsOne = (_m: Macro, coll: unknown, step: (k: unknown, v: unknown, i: number) => unknown[]): boolean => {
    let n = 0;
    for (const [k, v] of pairs(coll, 'existsOne', Err)) {
      if (asBool(step(k, v, 0)[0], 'existsOne() predicate', Err)) n++;
    }
    return n === 1;
  };
  define(['existsOne', 'exists_one'], 2, 1, 'bool', existsOne);
  define(['existsOne'], 1, 1, 'bool', existsOne);

  const transformList = (filtered: boolean) =>
    (_m: Macro, coll: unknown, step: (k: unknown, v: unknown, i: number) => unknown[]): unknown[] => {
      const out: unknown[] = [];
      for (const [k, v] of pairs(coll, 'transformList', Err)) {
        const r = step(k, v, 0);
        if (filtered) {
          if (asBool(r[0], 'transformList() filter', Err)) out.push(r[1]);
        } else out.push(r[0]);
      }
      return out;
    };
  define(['transformList'], 2, 1, 'list<dyn>', transformList(false));
  define(['transformList'], 2, 2, 'list<dyn>', transformList(true));

  const transformMap = (filtered: boolean) =>
    (_m: Macro, coll: unknown, step: (k: unknown, v: unknown, i: number) => unknown[]): Map<unknown, unknown> => {
      const out = new Map<unknown, unknown>();
      for (const [k, v] of pairs(coll, 'transformMap', Err)) {
        const r = step(k, v, 0);
        if (filtered) {
          if (asBool(r[0], 'transformMap() filter', Err)) out.set(k, r[1]);
        } else out.set(k, r[0]);
      }
      return out;
    };
  define(['transformMap'], 2, 1, 'map<dyn, dyn>', transformMap(false));
  define(['transformMap'], 2, 2, 'map<dyn, dyn>', transformMap(true));

  const transformMapEntry = (filtered: boolean) =>
    (_m: Macro, coll: unknown, step: (k: unknown, v: unknown, i: number) => unknown[]): Map<unknown, unknown> => {
      const out = new Map<unknown, unknown>();
      for (const [k, v] of pairs(coll, 'transformMapEntry', Err)) {
        const r = step(k, v, 0);
        if (filtered && !asBool(r[0], 'transformMapEntry() filter', Err)) continue;
        const entry = filtered ? r[1] : r[0];
        for (const [ek, ev] of pairs(entry, 'transformMapEntry() result', Err)) {
          const key = mapKey(ek, Err);
          if ([...out.keys()].some((x) => x === key || (typeof x !== 'string' && Number(x) === Number(key)))) {
            throw new Err(`transformMapEntry: duplicate key ${String(ek)}`);
          }
          out.set(key, ev);
        }
      }
      return out;
    };
  define(['transformMapEntry'], 2, 1, 'map<dyn, dyn>', transformMapEntry(false));
  define(['transformMapEntry'], 2, 2, 'map<dyn, dyn>', transformMapEntry(true));

  define(['sortBy'], 1, 1, 'list<dyn>', (_m, coll, step) => {
    if (!Array.isArray(coll)) throw new Err('sortBy: receiver must be a list');
    const keyed = coll.map((v) => ({ v, k: step(undefined, v, 0)[0] }));
    keyed.sort((a, b) => cmpKey(a.k, b.k, Err));
    return keyed.map((x) => x.v);
  });
}

function cmpKey(a: unknown, b: unknown, Err: ErrCtor): number {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return Number(a) - Number(b);
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  throw new Err('sortBy: keys must be numbers, strings or timestamps of one type');
}

