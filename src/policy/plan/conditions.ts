// Conditions of rules and derived roles, planned: each `expr` is parsed once, its policy's variables inlined, partially
// evaluated (partial.ts), rewritten the way Cerbos's planner rewrites a residual at the root (known-map lookups by a
// resource attribute become a disjunction over the map's keys; exists/all over a known list of at most 10 items are
// unrolled), and made safe for `has()`. Combinators (all/any/none) become plan nodes.
import { celEnvironment } from '../cel/env.js';
import type { CelScope, MatchNode } from '../cel/index.js';
import type { ParamSet } from '../compile.js';
import { fromCel, inlineVariables, keyOf, lit, mapChildren, op, referencesRuntime, replaceRuntimeRoles, valueKey, type Comp, type Node } from './ir.js';
import { PlanError } from './errors.js';
import { failure, type PartialEvaluator, type PV } from './partial.js';
import { constBool, qFalse, qNot, qTrue, type QNode } from './filter.js';

const parsed = new Map<string, Node>();
/** The planner's form of an expression, parsed once per source text. */
export function parseExpr(src: string): Node {
  let n = parsed.get(src);
  if (n === undefined) {
    const ast = (celEnvironment().parse(src) as unknown as { ast: Parameters<typeof fromCel>[0] }).ast;
    n = fromCel(ast);
    if (parsed.size > 20_000) parsed.clear();
    parsed.set(src, n);
  }
  return n;
}

const inlinedVars = new WeakMap<ParamSet, ReadonlyMap<string, Node>>();
/** A policy's variables as expressions, each with the variables it uses inlined (dependency order is guaranteed by the compiler). */
function variablesOf(params: ParamSet): ReadonlyMap<string, Node> {
  let m = inlinedVars.get(params);
  if (!m) {
    const out = new Map<string, Node>();
    for (const v of params.vars) out.set(v.name, inlineVariables(parseExpr(v.prog.source), out));
    inlinedVars.set(params, (m = out));
  }
  return m;
}

const withVars = new WeakMap<ParamSet, Map<string, Node>>();
function exprFor(src: string, params: ParamSet): Node {
  let m = withVars.get(params);
  if (!m) withVars.set(params, (m = new Map()));
  let n = m.get(src);
  if (n === undefined) {
    n = params.vars.length === 0 ? parseExpr(src) : inlineVariables(parseExpr(src), variablesOf(params));
    m.set(src, n);
  }
  return n;
}

/** How the plan treats evaluation errors: as the check does in lenient (Cerbos's default) or strict evaluation. */
export type Mode = 'lenient' | 'strict';

/**
 * A condition's outcome as plan nodes. `t`: the condition holds. `f` (strict mode): it is false and evaluated without
 * error (in lenient mode a failing condition counts as false, so `f` is not needed and is the negation of `t`).
 * A node never holds for a resource where the condition's outcome is different.
 */
export interface Outcome {
  t: QNode;
  f: QNode;
}

const T: Outcome = { t: qTrue(), f: qFalse() };
const F: Outcome = { t: qFalse(), f: qTrue() };
const ERR: Outcome = { t: qFalse(), f: qFalse() };

// ------------------------------------------------------------------------------------------------ simplifying builders

// Constant folding and identity de-duplication only: structural de-duplication is left to `simplify` (filter.ts),
// which runs once on the finished tree.
function fold(nodes: readonly QNode[], lo: 'and' | 'or'): QNode {
  const absorbing = lo === 'or';
  let keep: QNode[] | undefined;
  let single: QNode | undefined;
  for (const n of nodes) {
    const b = constBool(n);
    if (b === absorbing) return absorbing ? qTrue() : qFalse();
    if (b !== undefined) continue;
    if (single === undefined) single = n;
    else if (n !== single && !keep?.includes(n)) (keep ??= [single]).push(n);
  }
  if (keep) return { lo, nodes: keep };
  return single ?? (absorbing ? qFalse() : qTrue());
}
export const sAnd = (nodes: readonly QNode[]): QNode => fold(nodes, 'and');
export const sOr = (nodes: readonly QNode[]): QNode => fold(nodes, 'or');
export function sNot(n: QNode): QNode {
  const b = constBool(n);
  return b === undefined ? qNot(n) : b ? qFalse() : qTrue();
}

// ------------------------------------------------------------------------------------------------ root rewrites

const CMP = new Set(['==', '!=', '<', '<=', '>', '>=']);
const isMapValue = (v: unknown): v is Record<string, unknown> | Map<unknown, unknown> =>
  v instanceof Map || (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array));

function entriesOf(v: Record<string, unknown> | Map<unknown, unknown>): [unknown, unknown][] {
  const e: [unknown, unknown][] = v instanceof Map ? [...v] : Object.entries(v);
  if (e.every(([k]) => typeof k === 'string')) e.sort(([a], [b]) => ((a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0));
  return e;
}

/** `{…}[R.attr.k]` or `{…}[R.attr.k].field`: the map, the index expression and the field. */
function structIndex(n: Node): { map: Record<string, unknown> | Map<unknown, unknown>; key: Node; field?: string } | undefined {
  let field: string | undefined;
  let x = n;
  if (x.t === 'select' && !x.test && !x.opt) {
    field = x.field;
    x = x.x;
  }
  if (x.t !== 'index' || x.opt || x.x.t !== 'lit' || !isMapValue(x.x.v) || x.key.t !== 'select') return undefined;
  return field === undefined ? { map: x.x.v, key: x.key } : { map: x.x.v, key: x.key, field };
}

const rightNested = (o: '&&' | '||', xs: readonly Node[]): Node => (xs.length === 1 ? xs[0]! : op(o, xs[0]!, rightNested(o, xs.slice(1))));

/**
 * Cerbos's root rewrites. A comparison of a lookup in a known map by a resource attribute with a constant becomes a
 * disjunction over the map's keys (`k == "A" && <value of A> == c || …`; the comparison keeps the original operand
 * order, which Cerbos swaps). Only in lenient mode: a key missing from the map is an evaluation error in the check,
 * which strict evaluation turns into a denial that the disjunction would lose. exists/all over a known list or map of
 * at most 10 items becomes a disjunction/conjunction of the predicate per item.
 */
function rootRewrite(n: Node, pe: PartialEvaluator, mode: Mode): Node | undefined {
  if (n.t === 'op' && n.args.length === 2 && mode === 'lenient') {
    const [a, b] = n.args as [Node, Node];
    let m: ReturnType<typeof structIndex>;
    if (CMP.has(n.op) && b.t === 'lit' && (m = structIndex(a))) {
      const sx = m;
      const opts = entriesOf(sx.map).map(([k, v]) => {
        const val: Node = sx.field === undefined ? lit(v) : { t: 'select', x: lit(v), field: sx.field };
        return op('&&', op('==', sx.key, lit(k)), op(n.op, val, b));
      });
      return opts.length === 0 ? undefined : rightNested('||', opts);
    }
    if (n.op === 'in' && a.t === 'lit' && (m = structIndex(b))) {
      const sx = m;
      const opts = entriesOf(sx.map).map(([k, v]) => {
        const val: Node = sx.field === undefined ? lit(v) : { t: 'select', x: lit(v), field: sx.field };
        return op('&&', op('==', sx.key, lit(k)), op('in', a, val));
      });
      return opts.length === 0 ? undefined : rightNested('||', opts);
    }
  }
  if (n.t === 'comp' && (n.fn === 'exists' || n.fn === 'all') && n.range.t === 'lit') {
    const r = pe.unroll(n as Comp);
    if (r === undefined) return undefined;
    if ('error' in r) throw new PlanError(`cannot plan: the predicate of ${n.fn}() fails to evaluate for an item of a known list: ${r.error}`, '');
    if (r.parts.length === 0) return lit(n.fn === 'all');
    return rightNested(n.fn === 'exists' ? '||' : '&&', r.parts);
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------ has()

/** Resource paths read strictly by `n` (not behind &&, ||, ?:, a comprehension body or has()). */
function strictPaths(n: Node, out: Set<string>): void {
  if (n.t === 'select') {
    if (n.test) return;
    out.add(keyOf(n));
  } else if (n.t === 'op' && (n.op === '&&' || n.op === '||' || n.op === '?:')) return;
  else if (n.t === 'comp') return strictPaths(n.range, out);
  mapChildren(n, (c) => (strictPaths(c, out), c));
}

function andTerms(n: Node, out: Node[]): Node[] {
  if (n.t === 'op' && n.op === '&&') {
    andTerms(n.args[0]!, out);
    andTerms(n.args[1]!, out);
  } else out.push(n);
  return out;
}

/**
 * `has(R.attr.x)` left in a residual. Cerbos writes it as `true`, which admits resources without `x` that the check
 * denies. Baton writes `true` only where another term of the same conjunction reads `R.attr.x` strictly (a resource
 * without `x` fails that term anyway); elsewhere `R.attr.x == R.attr.x`, which holds exactly when `x` is present (and
 * is an error, never true, when it is absent: under `!` such a resource is excluded, the one place where the data
 * layer cannot say "absent").
 */
export function safeHas(n: Node): Node {
  if (n.t === 'op' && n.op === '&&') {
    const terms = andTerms(n, []);
    const strict = terms.map((t) => {
      const s = new Set<string>();
      strictPaths(t, s);
      return s;
    });
    const fixed = terms.map((t, i) => {
      if (t.t === 'select' && t.test) {
        const path = keyOf({ ...t, test: false });
        if (strict.some((s, j) => j !== i && s.has(path))) return lit(true);
      }
      return safeHas(t);
    });
    // keep the original nesting: rebuild the same tree shape with the fixed terms
    let i = 0;
    const rebuild = (x: Node): Node => (x.t === 'op' && x.op === '&&' ? op('&&', rebuild(x.args[0]!), rebuild(x.args[1]!)) : fixed[i++]!);
    return rebuild(n);
  }
  if (n.t === 'select' && n.test) {
    const p: Node = { t: 'select', x: n.x, field: n.field };
    return op('==', p, p);
  }
  return mapChildren(n, safeHas);
}

/** True when no `has()` would be rewritten (the common case: skip the walk). */
function hasPresenceTest(n: Node): boolean {
  if (n.t === 'select' && n.test) return true;
  let found = false;
  mapChildren(n, (c) => ((found ||= hasPresenceTest(c)), c));
  return found;
}

// ------------------------------------------------------------------------------------------------ static flags

/** What an expression (variables inlined) contains, so the planner skips the walks it cannot need. */
interface Flags {
  runtime: boolean;
  /** has(): the residual may need the has() rewrite */
  has: boolean;
  /** a comprehension: the residual may hold one whose body fails */
  comprehension: boolean;
  /** a map lookup or a comprehension: Cerbos's root rewrites may apply */
  rewritable: boolean;
}
const flagsCache = new WeakMap<Node, Flags>();
function flagsOf(n: Node): Flags {
  let f = flagsCache.get(n);
  if (f) return f;
  f = { runtime: referencesRuntime(n), has: false, comprehension: false, rewritable: false };
  const out = f;
  const walk = (x: Node): Node => {
    if (x.t === 'select' && x.test) out.has = true;
    if (x.t === 'comp') out.comprehension = out.rewritable = true;
    if (x.t === 'index') out.rewritable = true;
    return mapChildren(x, walk);
  };
  walk(n);
  flagsCache.set(n, f);
  return f;
}

// ------------------------------------------------------------------------------------------------ memo

/**
 * What an expression reads from the request: the select chains on the principal and auxData, the known resource fields
 * (kind, scope), and whether it calls now() (then nothing is reused). Constants and globals are fixed for a compiled
 * policy set and an engine, so they are not part of the key.
 */
interface Reads {
  paths: readonly (readonly string[])[];
  now: boolean;
}
const readsCache = new WeakMap<Node, Reads>();
const REQUEST_ROOTS = new Set(['P', 'request', 'R']);
function readsOf(n: Node): Reads {
  let r = readsCache.get(n);
  if (r) return r;
  const paths: string[][] = [];
  let now = false;
  const walk = (x: Node): void => {
    if (x.t === 'call' && !x.target && (x.fn === 'now' || x.fn === 'timeSince')) now = true;
    if (x.t === 'call' && x.target && x.fn === 'timeSince') now = true;
    if (x.t === 'select' || x.t === 'ident') {
      const fields: string[] = [];
      let y: Node = x;
      while (y.t === 'select' && !y.test && !y.opt) {
        fields.push(y.field);
        y = y.x;
      }
      if (y.t === 'ident' && REQUEST_ROOTS.has(y.name)) {
        paths.push([y.name, ...fields.reverse()]);
        return;
      }
    }
    mapChildren(x, (c) => (walk(c), c));
  };
  walk(n);
  readsCache.set(n, (r = { paths, now }));
  return r;
}

/** The values of the reads, as one string; undefined when the expression must be planned afresh every time. */
function readKey(r: Reads, scope: CelScope, mode: Mode): string | undefined {
  if (r.now) return undefined;
  let key = mode;
  const root = scope as unknown as Record<string, unknown>;
  for (const path of r.paths) {
    let v: unknown = root[path[0]!];
    for (let i = 1; i < path.length && v !== undefined; i++) {
      const f = path[i]!;
      v = v instanceof Map ? v.get(f) : typeof v === 'object' && v !== null && Object.hasOwn(v, f) ? (v as Record<string, unknown>)[f] : undefined;
    }
    key += `|${v === undefined ? '∅' : valueKey(v)}`;
  }
  return key;
}

const memos = new WeakMap<object, WeakMap<Node, Map<string, PV | PlanError>>>();
function memoOf(globals: object, n: Node): Map<string, PV | PlanError> {
  let byNode = memos.get(globals);
  if (!byNode) memos.set(globals, (byNode = new WeakMap()));
  let m = byNode.get(n);
  if (!m) byNode.set(n, (m = new Map()));
  return m;
}
function remember(m: Map<string, PV | PlanError>, key: string, v: PV | PlanError): void {
  if (m.size >= 256) m.clear();
  m.set(key, v);
}

// ------------------------------------------------------------------------------------------------ the planner's view

export interface EvalError {
  expression: string;
  message: string;
}

/** Plans conditions for one request. */
export class ConditionPlanner {
  readonly errors: EvalError[] = [];
  /** Baton's has() rewrite (off only to compare with Cerbos's raw conversion in tests). */
  constructor(
    readonly pe: PartialEvaluator,
    private readonly scope: CelScope,
    readonly mode: Mode,
    private readonly cerbosHas = false,
  ) {}

  /** One expression: its residual, after the root rewrites and the has() rewrite. */
  expr(src: string, params: ParamSet, runtimeRoles: (() => Node) | undefined): PV {
    let n = exprFor(src, params);
    const flags = flagsOf(n);
    const runtime = flags.runtime;
    if (runtime) n = replaceRuntimeRoles(n, runtimeRoles ? runtimeRoles() : lit([]));
    if (this.scope.C !== params.constants) this.scope.setConstants(params.constants);
    // The residual depends only on the request values the expression reads: reuse it when they are the same.
    const reads = runtime || this.pe.hasGivenAttributes ? undefined : readsOf(n);
    const key = reads === undefined ? undefined : readKey(reads, this.scope, this.mode);
    const memo = key === undefined ? undefined : memoOf(this.scope.G, n);
    const hit = key === undefined ? undefined : memo!.get(key);
    if (hit !== undefined) {
      if (hit instanceof PlanError) throw hit;
      if (hit.s === 'err') this.errors.push({ expression: src, message: hit.msg });
      return hit;
    }
    try {
      const pv = this.plan(n, src, flags);
      if (key !== undefined) remember(memo!, key, pv);
      if (pv.s === 'err') this.errors.push({ expression: src, message: pv.msg });
      return pv;
    } catch (e) {
      if (key !== undefined && e instanceof PlanError) remember(memo!, key, e);
      throw e;
    }
  }

  private plan(n: Node, src: string, flags: Flags): PV {
    let pv = this.pe.run(n);
    try {
      if (pv.s === 'unk' && flags.rewritable) {
        const r = rootRewrite(pv.e, this.pe, this.mode);
        if (r !== undefined) pv = this.pe.run(r);
      }
      const failed = pv.s === 'unk' && flags.comprehension ? failure(pv.e) : undefined;
      if (failed !== undefined) throw new PlanError(`cannot plan: a comprehension's body fails to evaluate whatever the resource: ${failed}`, src);
    } catch (e) {
      if (e instanceof PlanError && e.expression === '') throw new PlanError(e.message, src);
      throw e;
    }
    if (pv.s === 'unk' && flags.has && !this.cerbosHas && hasPresenceTest(pv.e)) pv = { s: 'unk', e: safeHas(pv.e) };
    return pv;
  }

  /**
   * A leaf's outcome: holds (`t`) / evaluated to false (`f`). A known error: neither (strict), false (lenient). A known
   * value that is not a bool (`expr: "42"`) is false in both modes, without failing, as the check takes it (a condition
   * holds only when it is `true`; Cerbos 0.55's check and planner alike).
   */
  private leaf(pv: PV): Outcome {
    if (pv.s === 'val') return pv.v === true ? T : F;
    if (pv.s === 'err') return this.mode === 'lenient' ? F : ERR;
    const node: QNode = { expr: pv.e };
    // A value that may not be a bool (an attribute, an index, a conditional) is false when it is not `true`, without
    // failing (Cerbos 0.55): `f` is `x != true`, which fails only where reading x fails.
    const e = pv.e;
    const maybeNotBool = (e.t === 'select' && !e.test) || e.t === 'index' || e.t === 'ident' || (e.t === 'op' && e.op === '?:');
    return { t: node, f: this.mode === 'strict' && maybeNotBool ? { expr: op('!=', e, lit(true)) } : qNot(node) };
  }

  /**
   * Lenient mode (Cerbos's shapes): the node for a condition tree, with Cerbos's simplifications (any: a constant
   * true decides, false drops out; all: the reverse; none: negations).
   */
  lenient(tree: MatchNode | undefined, params: ParamSet, runtimeRoles?: () => Node): QNode {
    if (tree === undefined) return qTrue();
    if ('expr' in tree) return this.leaf(this.expr(tree.expr, params, runtimeRoles)).t;
    if ('any' in tree) {
      const nodes: QNode[] = [];
      for (const c of tree.any.of) {
        const n = this.lenient(c, params, runtimeRoles);
        const b = constBool(n);
        if (b === true) return qTrue();
        if (b === undefined) nodes.push(n);
      }
      return nodes.length === 0 ? qFalse() : nodes.length === 1 ? nodes[0]! : { lo: 'or', nodes };
    }
    if ('all' in tree) {
      const nodes: QNode[] = [];
      for (const c of tree.all.of) {
        const n = this.lenient(c, params, runtimeRoles);
        const b = constBool(n);
        if (b === false) return qFalse();
        if (b === undefined) nodes.push(n);
      }
      return nodes.length === 0 ? qTrue() : nodes.length === 1 ? nodes[0]! : { lo: 'and', nodes };
    }
    const nodes: QNode[] = [];
    for (const c of tree.none.of) {
      const n = this.lenient(c, params, runtimeRoles);
      const b = constBool(n);
      if (b === true) return qFalse();
      if (b === undefined) nodes.push(qNot(n));
    }
    return nodes.length === 0 ? qTrue() : nodes.length === 1 ? nodes[0]! : { lo: 'and', nodes };
  }

  /**
   * Strict mode: the outcome of a condition tree with the check's semantics (Cerbos 0.55 strict evaluation): all/any/
   * none evaluate their children in order and stop at the first that decides; a child that fails before that makes
   * the whole condition fail (which denies). `t`/`f`: true/false, evaluated without failure.
   */
  strict(tree: MatchNode | undefined, params: ParamSet, runtimeRoles?: () => Node): Outcome {
    if (tree === undefined) return T;
    if ('expr' in tree) return this.leaf(this.expr(tree.expr, params, runtimeRoles));
    const kids = ('any' in tree ? tree.any.of : 'all' in tree ? tree.all.of : tree.none.of).map((c) => this.strict(c, params, runtimeRoles));
    // "the first i-1 children came out `pre`, child i came out `at`" for each i, OR'ed
    const firstAt = (pre: (k: Outcome) => QNode, at: (k: Outcome) => QNode): QNode => sOr(kids.map((k, i) => sAnd([...kids.slice(0, i).map(pre), at(k)])));
    if ('any' in tree) return { t: firstAt((k) => k.f, (k) => k.t), f: sAnd(kids.map((k) => k.f)) };
    if ('all' in tree) return { t: sAnd(kids.map((k) => k.t)), f: firstAt((k) => k.t, (k) => k.f) };
    return { t: sAnd(kids.map((k) => k.f)), f: firstAt((k) => k.f, (k) => k.t) };
  }
}

/** A plan node as a CEL expression (for derived-role conditions inside `runtime.effectiveDerivedRoles`). */
export function qToExpr(n: QNode): Node {
  if ('expr' in n) return n.expr;
  if (n.lo === 'not') return op('!', qToExpr(n.nodes[0]!));
  return rightNested(n.lo === 'and' ? '&&' : '||', n.nodes.map(qToExpr));
}
