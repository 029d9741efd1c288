// A fast path for the shapes most conditions take: attribute paths compared with `==`/`!=`, `in` a list or a map,
// `!`, `&&`, `||`, string and bool literals. It answers only where the answer is certain to be cel-js's own (plain
// strings and bools read from plain objects and arrays); anything else (a missing key, another type, an object the
// interpreter would refuse, a macro, a function) is UNDECIDED and the interpreter evaluates the whole expression, so
// results and errors are exactly the interpreter's (test/policy/cel-fast.test.ts compares the two on every shape).
// No allocation: a program's fast path is a tree of closures made once, when the expression is compiled.

let runtimeRead = false;
/** Notes a compiled program's source: whether it may read `runtime` (conservatively, by the word). */
export function noteProgram(source: string): void {
  if (!runtimeRead && /\bruntime\b/.test(source)) runtimeRead = true;
}
/** Some program compiled in this process may read `runtime`; until one does, the engine need not compute it. */
export const someProgramReadsRuntime = (): boolean => runtimeRead;

/** The fast path cannot decide: evaluate the expression in full. */
export const UNDECIDED: unique symbol = Symbol('undecided');
export type FastPath = (scope: object) => unknown;

/** The variables a path may start from (not `runtime`, whose fields may be getters that throw). */
const ROOTS = new Set(['request', 'P', 'R', 'V', 'variables', 'C', 'constants', 'G', 'globals']);

type Node = { op?: unknown; args?: unknown };
const hasOwn = Object.hasOwn;

/** An object cel-js reads as a map (its field access and type of a value: constructor Object, or none). */
function plainMap(o: unknown): o is Record<string, unknown> {
  if (o === null || typeof o !== 'object') return false;
  const k = (o as { constructor?: unknown }).constructor;
  return k === Object || k === undefined;
}

/**
 * cel-js types a map for an operator by its first entry, deeply (debugTypeDeep), and refuses an unsupported value
 * there. True when that walk meets only JSON-like values (so the interpreter would type the map without error).
 */
function jsonLikeFirsts(v: unknown, depth = 0): boolean {
  if (depth > 32) return false;
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return true;
    case 'object': {
      if (v === null) return true;
      if (Array.isArray(v)) return v.constructor === Array && (v.length === 0 || jsonLikeFirsts(v[0], depth + 1));
      if (!plainMap(v)) return false;
      for (const k in v) return jsonLikeFirsts(v[k], depth + 1);
      return true;
    }
    default:
      return false;
  }
}

/** The fast path of a checked cel-js AST, or undefined where its root shape is not one the fast path knows. */
export function fastPathOf(ast: unknown): FastPath | undefined {
  const f = node(ast, NONE);
  if (f === undefined) return undefined;
  // a bare path (`V.flag`) is decided only when it reads a string or a bool
  const n = ast as Node;
  if (n.op === '.' || n.op === 'id') {
    return (s) => {
      const v = f(s);
      return typeof v === 'string' || typeof v === 'boolean' ? v : UNDECIDED;
    };
  }
  if (n.op === 'value') return undefined;
  return f;
}

/** The iteration variables in scope of a node (`w` in `xs.exists(w, ...)`), each read from its own cell. */
type Bound = ReadonlyMap<string, { v: unknown }>;
const NONE: Bound = new Map();

function node(ast: unknown, bound: Bound): FastPath | undefined {
  if (ast === null || typeof ast !== 'object') return undefined;
  const { op, args } = ast as Node;
  switch (op) {
    case 'value':
      return typeof args === 'string' || typeof args === 'boolean' ? () => args : undefined;
    case 'id': {
      if (typeof args !== 'string') return undefined;
      const cell = bound.get(args);
      if (cell !== undefined) return () => cell.v;
      return ROOTS.has(args) ? root(args) : undefined;
    }
    case '.':
      return Array.isArray(args) && typeof args[1] === 'string' ? builtField(args[0], args[1], field(node(args[0], bound), args[1])) : undefined;
    case '==':
    case '!=':
      return equality(operands(args, bound), op === '==');
    case 'in':
      return membership(operands(args, bound));
    case 'rcall':
      return exists(args, bound);
    case '!_': {
      const x = node(args, bound);
      return x && ((s) => {
        const v = x(s);
        return typeof v === 'boolean' ? !v : UNDECIDED;
      });
    }
    case '&&':
    case '||':
      return logical(operands(args, bound), op === '||');
    default:
      return undefined;
  }
}

function root(name: string): FastPath {
  return (s) => {
    const v = (s as Record<string, unknown>)[name];
    return v === undefined ? UNDECIDED : v;
  };
}

/** `target.name` on a plain map that has it (cel-js: a missing key fails; another object type is another lookup). */
function field(target: FastPath | undefined, name: string): FastPath | undefined {
  return target && ((s) => {
    const o = target(s);
    if (!plainMap(o) || !hasOwn(o, name)) return UNDECIDED;
    const v = o[name];
    return v === undefined ? UNDECIDED : v;
  });
}

/**
 * `P.x` / `R.x` for a field the engine always sets (CelScope `built`: P and R are its own plain objects, every field
 * present and validated), read directly, each pair by its own function so that the read stays monomorphic; any other
 * scope takes the checked path, which gives the same value for such objects.
 */
type Scoped = { readonly built: boolean; readonly P: Record<string, unknown>; readonly R: Record<string, unknown> };
const BUILT: Record<string, Record<string, (s: Scoped) => unknown>> = {
  P: {
    id: (s) => s.P.id,
    roles: (s) => s.P.roles,
    attr: (s) => s.P.attr,
    policyVersion: (s) => s.P.policyVersion,
    scope: (s) => s.P.scope,
  },
  R: {
    kind: (s) => s.R.kind,
    id: (s) => s.R.id,
    attr: (s) => s.R.attr,
    policyVersion: (s) => s.R.policyVersion,
    scope: (s) => s.R.scope,
  },
};
function builtField(target: unknown, name: string, checked: FastPath | undefined): FastPath | undefined {
  if (checked === undefined) return undefined;
  const t = target as Node | null;
  const byRoot = t !== null && typeof t === 'object' && t.op === 'id' && typeof t.args === 'string' && hasOwn(BUILT, t.args) ? BUILT[t.args] : undefined;
  const read = byRoot !== undefined && hasOwn(byRoot, name) ? byRoot[name] : undefined;
  return read === undefined ? checked : (s) => ((s as Scoped).built === true ? read(s as Scoped) : checked(s));
}

/** `==` / `!=` of two strings or two bools. */
function equality(pair: [FastPath, FastPath] | undefined, eq: boolean): FastPath | undefined {
  if (pair === undefined) return undefined;
  const [l, r] = pair;
  return (s) => {
    const a = l(s);
    if (typeof a !== 'string' && typeof a !== 'boolean') return UNDECIDED;
    const b = r(s);
    if (typeof b !== typeof a) return UNDECIDED;
    return eq ? a === b : a !== b;
  };
}

/** A string `in` a list of strings, or `in` a plain map cel-js can type. */
function membership(pair: [FastPath, FastPath] | undefined): FastPath | undefined {
  if (pair === undefined) return undefined;
  const [l, r] = pair;
  return (s) => {
    const a = l(s);
    if (typeof a !== 'string') return UNDECIDED;
    const c = r(s);
    if (Array.isArray(c)) {
      if (c.constructor !== Array) return UNDECIDED;
      let found = false;
      for (let i = 0; i < c.length; i++) {
        const e: unknown = c[i];
        if (typeof e !== 'string') return UNDECIDED;
        if (e === a) found = true;
      }
      return found;
    }
    if (!plainMap(c) || !jsonLikeFirsts(c)) return UNDECIDED;
    return hasOwn(c, a) ? c[a] !== undefined : false;
  };
}

/** `&&` stops at false, `||` at true; the other bool goes on to the right operand, which must be a bool. */
function logical(pair: [FastPath, FastPath] | undefined, stop: boolean): FastPath | undefined {
  if (pair === undefined) return undefined;
  const [l, r] = pair;
  return (s) => {
    const a = l(s);
    if (a === stop) return stop;
    if (a !== !stop) return UNDECIDED;
    const b = r(s);
    return typeof b === 'boolean' ? b : UNDECIDED;
  };
}

function operands(args: unknown, bound: Bound): [FastPath, FastPath] | undefined {
  if (!Array.isArray(args) || args.length !== 2) return undefined;
  const l = node(args[0], bound);
  const r = node(args[1], bound);
  return l === undefined || r === undefined ? undefined : [l, r];
}

/**
 * `list.exists(x, predicate)` (cel-js's one-variable macro) over a plain array of strings and bools: true at the first element whose
 * predicate is decided true, false when it is decided false for every element. Any element the predicate cannot
 * decide (or an iterable that is not a plain array) leaves the whole macro UNDECIDED: the interpreter then evaluates
 * it, with its own rules for errors in some elements. The variable is read from a cell set before each element.
 */
function exists(args: unknown, bound: Bound): FastPath | undefined {
  if (!Array.isArray(args) || args.length !== 3 || args[0] !== 'exists') return undefined;
  const params: unknown = args[2];
  if (!Array.isArray(params) || params.length !== 2) return undefined;
  const v = params[0] as Node | null;
  if (v === null || typeof v !== 'object' || v.op !== 'id' || typeof v.args !== 'string' || ROOTS.has(v.args) || bound.has(v.args)) return undefined;
  const list = node(args[1], bound);
  if (list === undefined) return undefined;
  const cell = { v: undefined as unknown };
  const inner = new Map(bound);
  inner.set(v.args, cell);
  const pred = node(params[1], inner);
  if (pred === undefined) return undefined;
  return (s) => {
    const xs = list(s);
    if (!Array.isArray(xs) || xs.constructor !== Array) return UNDECIDED;
    try {
      for (let i = 0; i < xs.length; i++) {
        const x: unknown = xs[i];
        if (typeof x !== 'string' && typeof x !== 'boolean') return UNDECIDED; // only values every step reads as cel-js does
        cell.v = x;
        const r = pred(s);
        if (r === true) return true;
        if (r !== false) return UNDECIDED;
      }
      return false;
    } finally {
      cell.v = undefined;
    }
  };
}
