/**
 * The evaluation error a check reports for a failing expression, as Cerbos 0.55 (cel-go) reports it in
 * `evaluationErrors`: which error (the left operand's when both operands of `&&`/`||` fail) and its wording.
 *
 * cel-js and cel-go fail on the same expressions but word the failure differently, and cel-js throws the right
 * operand's error where both operands of `&&` or `||` fail (cel-go keeps the left one). Only the error path comes
 * here; a successful evaluation never does.
 *
 * Wording, checked against the Cerbos 0.55 binary (its `celErrorLogLevel` log of the same expressions):
 *
 * | cel-js (code: summary)                                  | Cerbos / cel-go                        |
 * |---------------------------------------------------------|----------------------------------------|
 * | no_such_key on `V.x`, `variables.x`, `C.x`, `G.x`, ...   | `undefined field 'x'` (cerbos.Variables) |
 * | no_such_key: `No such key: x`                           | `no such key: x`                       |
 * | index_out_of_bounds: `No such key: index out of bounds, index 3 >= size 1` | `index out of bounds: 3` |
 * | no_such_overload, no_matching_overload                  | `no such overload`                     |
 * | modulo_by_zero: `modulo by zero`                        | `modulus by zero`                      |
 *
 * Everything else keeps cel-js's one-line summary (without its source excerpt), e.g. `division by zero` (the same
 * words in both).
 */

/** The parts of a cel-js error this module reads (CelError in @marcbachmann/cel-js). */
interface LibError {
  code?: unknown;
  summary?: unknown;
  message?: unknown;
  node?: unknown;
}
interface Node {
  op?: unknown;
  args?: unknown;
  start?: unknown;
  end?: unknown;
}

/** Cerbos exposes these as `cerbos.Variables` objects: a missing field is `undefined field`, not `no such key`. */
const RECORDS = new Set(['V', 'variables', 'C', 'constants', 'G', 'globals']);

/** The one-line message Cerbos reports for this cel-js (or library function) error. */
export function cerbosMessage(e: unknown): string {
  const err = (e ?? {}) as LibError;
  const summary = typeof err.summary === 'string' ? err.summary : e instanceof Error ? e.message : String(e);
  switch (err.code) {
    case 'no_such_key': {
      const field = recordField(err.node);
      if (field !== undefined) return `undefined field '${field}'`;
      return summary.replace(/^No such key:/, 'no such key:');
    }
    case 'index_out_of_bounds': {
      const m = /index (-?\d+) >= size/.exec(summary);
      return m ? `index out of bounds: ${m[1]}` : summary;
    }
    case 'no_such_overload':
    case 'no_matching_overload':
      return 'no such overload';
    case 'modulo_by_zero':
      return 'modulus by zero';
    default:
      return summary.replace(/\s+$/, '');
  }
}

/** `x` when `node` is `V.x` (or any of the records' spellings). */
function recordField(node: unknown): string | undefined {
  const n = node as Node | undefined;
  if (!n || (n.op !== '.' && n.op !== '.?') || !Array.isArray(n.args)) return undefined;
  const [target, field] = n.args as [Node | undefined, unknown];
  return target?.op === 'id' && typeof target.args === 'string' && RECORDS.has(target.args) && typeof field === 'string' ? field : undefined;
}

/**
 * The error cel-go reports for `source` when cel-js threw `thrown`: where the error comes from the right operand of
 * an `&&`/`||` whose left operand fails too, the left operand's error (itself corrected the same way). `evaluate`
 * runs a sub-expression (its source text) in the same scope, throwing what it throws; a sub-expression that cannot
 * run on its own (it reads a comprehension's variable, for instance) does not throw, and the library's error stands.
 */
export function celGoError(ast: unknown, thrown: unknown, source: string, evaluate: (sub: string) => unknown): unknown {
  const at = (thrown as LibError | undefined)?.node as Node | undefined;
  const pos = typeof at?.start === 'number' ? at.start : undefined;
  if (pos === undefined) return thrown;
  let n = ast as Node | undefined;
  while (n) {
    const args = Array.isArray(n.args) ? (n.args as unknown[]) : typeof n.args === 'object' && n.args !== null ? [n.args] : [];
    if ((n.op === '&&' || n.op === '||') && args.length === 2) {
      const [left, right] = args as [Node, Node];
      if (contains(right, pos)) {
        const sub = sliceOf(left, source);
        const r = sub === undefined ? undefined : threw(() => evaluate(sub));
        if (r !== undefined) return r.error;
        n = right;
        continue;
      }
    }
    n = args.flat().find((a): a is Node => typeof a === 'object' && a !== null && contains(a as Node, pos));
  }
  return thrown;
}

function contains(n: Node, pos: number): boolean {
  return typeof n.start === 'number' && typeof n.end === 'number' && n.start <= pos && pos < n.end;
}

function sliceOf(n: Node, source: string): string | undefined {
  return typeof n.start === 'number' && typeof n.end === 'number' ? source.slice(n.start, n.end) : undefined;
}

function threw(f: () => unknown): { error: unknown } | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return { error: e };
  }
}

/** Programs of sub-expressions compiled on the error path, per environment (bounded; cleared when full). */
const subPrograms = new WeakMap<object, Map<string, unknown>>();
/** The program of `source` in `env` (compiled once), or undefined when it does not compile on its own. */
export function subProgram<P>(env: object, source: string, compile: (source: string, env: never) => P): P | undefined {
  let m = subPrograms.get(env);
  if (!m) subPrograms.set(env, (m = new Map()));
  if (m.has(source)) return (m.get(source) ?? undefined) as P | undefined;
  if (m.size >= 256) m.clear();
  let p: P | null;
  try {
    p = compile(source, env as never);
  } catch {
    p = null;
  }
  m.set(source, p);
  return p ?? undefined;
}
