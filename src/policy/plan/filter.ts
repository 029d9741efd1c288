// The plan's logical tree and its conversion to Cerbos's filter JSON (PlanResourcesFilter): `{ kind, condition }` where
// a condition operand is `{ expression: { operator, operands } }`, `{ value }` or `{ variable }`, with Cerbos's operator
// names (eq, ne, lt, le, gt, ge, in, and, or, not, add, sub, mult, div, mod, index, get-field, list, struct,
// set-field, lambda, all, exists, exists_one, map, filter, transformList, transformMap, transformMapEntry, if, and
// function names as they are), Cerbos's normalisation (constant folding of and/or/not, `in` over literal
// containers) and its debug string (`(eq request.resource.attr.owner "alice")`).
import { Optional } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { keyOf, type Node } from './ir.js';
import type { JsonValue, PlanFilter, PlanOperand } from './types.js';

/** A node of the plan before it becomes a filter: a logical operation over nodes, or one residual expression. */
export type QNode = { readonly lo: 'and' | 'or' | 'not'; readonly nodes: readonly QNode[] } | { readonly expr: Node };

const TRUE_NODE: QNode = Object.freeze({ expr: Object.freeze({ t: 'lit', v: true }) as Node });
const FALSE_NODE: QNode = Object.freeze({ expr: Object.freeze({ t: 'lit', v: false }) as Node });
export const qTrue = (): QNode => TRUE_NODE;
export const qFalse = (): QNode => FALSE_NODE;

/** The boolean a node stands for when it is a literal `true`/`false`. */
export function constBool(n: QNode | undefined): boolean | undefined {
  if (n === undefined || !('expr' in n) || n.expr.t !== 'lit') return undefined;
  return typeof n.expr.v === 'boolean' ? n.expr.v : undefined;
}

const qkeys = new WeakMap<QNode, string>();
export function qKey(n: QNode): string {
  let k = qkeys.get(n);
  if (k === undefined) {
    k = 'expr' in n ? keyOf(n.expr) : `${n.lo}(${n.nodes.map(qKey).join(',')})`;
    qkeys.set(n, k);
  }
  return k;
}

function dedup(nodes: readonly QNode[]): QNode[] {
  const seen = new Set<string>();
  const out: QNode[] = [];
  for (const n of nodes) {
    const k = qKey(n);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(n);
  }
  return out;
}

/** OR of the nodes (duplicates dropped); undefined when there are none. */
export function qOr(nodes: readonly QNode[]): QNode | undefined {
  const u = dedup(nodes);
  if (u.length === 0) return undefined;
  return u.length === 1 ? u[0] : { lo: 'or', nodes: u };
}
export function qAnd(nodes: readonly QNode[]): QNode | undefined {
  const u = dedup(nodes);
  if (u.length === 0) return undefined;
  return u.length === 1 ? u[0] : { lo: 'and', nodes: u };
}
/** `a op b` where either may be absent. */
export function qAdd(cur: QNode | undefined, next: QNode | undefined, combine: (n: QNode[]) => QNode | undefined): QNode | undefined {
  if (next === undefined) return cur;
  if (cur === undefined) return next;
  return combine([cur, next]);
}
/** NOT of a node; a NOT is stripped instead of doubled. */
export function qNot(n: QNode): QNode {
  if ('lo' in n && n.lo === 'not') return n.nodes.length === 1 ? n.nodes[0]! : { lo: 'and', nodes: n.nodes };
  return { lo: 'not', nodes: [n] };
}

// ------------------------------------------------------------------------------------------------ conversion

export class PlanConversionError extends Error {
  override readonly name = 'PlanConversionError';
}

const OPERATORS: Readonly<Record<string, string>> = {
  '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', in: 'in', '+': 'add', '-': 'sub', '*': 'mult',
  '/': 'div', '%': 'mod', '&&': 'and', '||': 'or', '!': 'not', '?:': 'if', neg: '-_',
};
const LAMBDA_OPERATORS: Readonly<Record<string, string>> = {
  all: 'all', exists: 'exists', exists_one: 'exists_one', existsOne: 'exists_one', map: 'map', filter: 'filter',
  transformList: 'transformList', transformMap: 'transformMap', transformMapEntry: 'transformMapEntry', sortBy: 'sortBy',
};

const expr = (operator: string, operands: PlanOperand[]): PlanOperand => ({ expression: { operator, operands } });

/** A known value as JSON, when it is one of Cerbos's constant kinds (not a container, timestamp or duration). */
function constJson(v: unknown): { ok: true; v: JsonValue } | { ok: false } {
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return { ok: true, v };
    case 'bigint':
      return { ok: true, v: Number(v) };
    case 'number':
      if (!Number.isFinite(v)) throw new PlanConversionError(`the value ${v} has no JSON form`);
      return { ok: true, v };
    case 'object':
      if (v === null) return { ok: true, v: null };
      if (v instanceof UnsignedInt) return { ok: true, v: Number(v.value) };
      if (v instanceof Uint8Array) return { ok: true, v: bytesBase64(v) };
      return { ok: false };
    default:
      return { ok: false };
  }
}

function bytesBase64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

function mapEntries(v: unknown): [unknown, unknown][] | undefined {
  if (v instanceof Map) return [...v.entries()];
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto === Object.prototype || proto === null) return Object.entries(v);
  }
  return undefined;
}

const sortKeys = <T,>(keys: T[], key: (k: T) => string): T[] => [...keys].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/** A known value as an operand: constants as values, lists of constants as a list value, others as expressions. */
function valueOperand(v: unknown, keysOnly: boolean): PlanOperand {
  const c = constJson(v);
  if (c.ok) return { value: c.v };
  if (v instanceof Date) return expr('timestamp', [{ value: v.toISOString() }]);
  if (v instanceof Duration) return expr('duration', [{ value: v.toString() }]);
  if (v instanceof Optional) throw new PlanConversionError('an optional value cannot be part of a filter');
  if (Array.isArray(v)) return listOperand(v.map((x) => valueOperand(x, false)));
  const entries = mapEntries(v);
  if (entries) {
    if (keysOnly) return listOperand(sortKeys(entries, ([k]) => JSON.stringify(k)).map(([k]) => valueOperand(k, false)));
    return expr('struct', entries.map(([k, x]) => expr('set-field', [valueOperand(k, false), valueOperand(x, false)])));
  }
  throw new PlanConversionError(`a value of type ${Object.prototype.toString.call(v)} cannot be part of a filter`);
}

function listOperand(items: PlanOperand[]): PlanOperand {
  if (items.every((o) => 'value' in o)) return { value: items.map((o) => (o as { value: JsonValue }).value) };
  return expr('list', items);
}

/** Convert a residual expression to a filter operand (Cerbos's buildExprImpl). */
export function operandOf(n: Node, keysOnly = false): PlanOperand {
  switch (n.t) {
    case 'lit':
      return valueOperand(n.v, keysOnly);
    case 'ident':
      return { variable: n.name };
    case 'select': {
      if (n.test) return { value: true }; // Cerbos's conversion of has(); Baton rewrites has() before (see rewrite.ts)
      const names: string[] = [];
      let x: Node = n;
      while (x.t === 'select' && !x.test) {
        names.push(x.field);
        x = x.x;
      }
      if (x.t === 'ident') return { variable: [x.name, ...names.reverse()].join('.') };
      return expr('get-field', [operandOf(n.x), { variable: n.field }]);
    }
    case 'index':
      return expr('index', [operandOf(n.x), operandOf(n.key)]);
    case 'op': {
      const operator = OPERATORS[n.op]!;
      return expr(operator, n.args.map((a, i) => operandOf(a, n.op === 'in' && i === 1)));
    }
    case 'call': {
      const operands = n.args.map((a) => operandOf(a));
      return expr(n.fn, n.target ? [operandOf(n.target), ...operands] : operands);
    }
    case 'list':
      return listOperand(n.elems.map((e) => operandOf(e)));
    case 'map':
      if (keysOnly) return listOperand(sortKeys([...n.entries], ([k]) => keyOf(k)).map(([k]) => operandOf(k)));
      return expr('struct', n.entries.map(([k, v]) => expr('set-field', [operandOf(k), operandOf(v)])));
    case 'comp': {
      const operator = LAMBDA_OPERATORS[n.fn];
      if (operator === undefined) throw new PlanConversionError(`the comprehension ${n.fn} cannot be part of a filter`);
      const onStruct = operator === 'transformMap' || operator === 'transformMapEntry' || operator === 'transformList';
      const lambda = expr('lambda', [...n.body.map((b) => operandOf(b)), ...n.vars.map((v) => ({ variable: v }))]);
      return expr(operator, [operandOf(n.range, !onStruct), lambda]);
    }
  }
}

function operandOfQ(n: QNode): PlanOperand {
  if ('expr' in n) return operandOf(n.expr);
  return expr(n.lo, n.nodes.map(operandOfQ));
}

// ------------------------------------------------------------------------------------------------ normalisation

const ABBREV: Readonly<Record<string, string>> = {
  P: 'request.principal',
  R: 'request.resource',
  C: 'constants',
  V: 'variables',
  G: 'globals',
};
function expandAbbrev(v: string): string {
  const dot = v.indexOf('.');
  const head = dot < 0 ? v : v.slice(0, dot);
  const full = Object.hasOwn(ABBREV, head) ? ABBREV[head]! : head;
  return dot < 0 ? full : `${full}${v.slice(dot)}`;
}

const boolOf = (o: PlanOperand | undefined): boolean | undefined =>
  o !== undefined && 'value' in o && typeof o.value === 'boolean' ? o.value : undefined;

/**
 * Cerbos's normalisation. `errorPreserving` (Baton's strict evaluation): `x in []` becomes `x != x` instead of
 * `false`, so that a resource without `x` (an evaluation error, which strict evaluation turns into a denial) stays
 * an error under `not` instead of becoming `true`.
 */
export function normaliseOperand(o: PlanOperand, errorPreserving: boolean): PlanOperand | undefined {
  if ('variable' in o) return { variable: expandAbbrev(o.variable) };
  if ('value' in o) return o;
  const { operator } = o.expression;
  if (operator === 'in' && o.expression.operands.length === 2) {
    const r = normaliseIn(o.expression.operands, errorPreserving);
    if (r) return r;
  }
  const logical = operator === 'and' || operator === 'or' || operator === 'not';
  const operands: PlanOperand[] = [];
  const seen = new Set<string>();
  for (const child of o.expression.operands) {
    const n = normaliseOperand(child, errorPreserving);
    if (n === undefined) continue;
    if (logical) {
      const b = boolOf(n);
      if (b !== undefined && operator !== 'not') {
        if (operator === 'and' && b) continue;
        if (operator === 'or' && !b) continue;
        return { value: b };
      }
      if (operator !== 'not') {
        const k = JSON.stringify(n);
        if (seen.has(k)) continue;
        seen.add(k);
      }
    }
    operands.push(n);
  }
  if (logical) {
    if (operands.length === 0) {
      if (operator === 'and') return { value: true };
      if (operator === 'or') return { value: false };
      return undefined;
    }
    if (operands.length === 1) {
      if (operator !== 'not') return operands[0];
      const b = boolOf(operands[0]);
      if (b !== undefined) return { value: !b };
    }
  }
  return expr(operator, operands);
}

function normaliseIn(operands: readonly PlanOperand[], errorPreserving: boolean): PlanOperand | undefined {
  const [lhs, rhs] = operands as [PlanOperand, PlanOperand];
  if (!('value' in rhs)) return undefined;
  const v = rhs.value;
  const empty = (): PlanOperand => {
    if (!errorPreserving) return { value: false };
    const x = normaliseOperand(lhs, true) ?? lhs;
    return 'value' in x ? { value: false } : expr('ne', [x, x]);
  };
  if (Array.isArray(v)) {
    if (v.length === 0) return empty();
    if (v.length === 1) return normaliseOperand(expr('eq', [lhs, { value: v[0]! }]), errorPreserving);
    return expr('in', [normaliseOperand(lhs, errorPreserving) ?? lhs, rhs]);
  }
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    if (keys.length === 0) return empty();
    if (keys.length === 1) return normaliseOperand(expr('eq', [lhs, { value: keys[0]! }]), errorPreserving);
    return undefined;
  }
  // a value that is not a container: Cerbos reads it as equality (Baton's planner never produces this, see partial.ts)
  return normaliseOperand(expr('eq', [lhs, rhs]), errorPreserving);
}

/** The filter for one plan tree (Cerbos's ToFilter + normaliseFilter). */
export function toFilter(root: QNode, errorPreserving: boolean): PlanFilter {
  const condition = normaliseOperand(operandOfQ(root), errorPreserving);
  return filterOf(condition);
}

/** Kind and condition for a normalised condition (no condition: always allowed, as Cerbos reads a nil condition). */
export function filterOf(condition: PlanOperand | undefined): PlanFilter {
  if (condition === undefined) return { kind: 'KIND_ALWAYS_ALLOWED' };
  const b = boolOf(condition);
  if (b !== undefined) return { kind: b ? 'KIND_ALWAYS_ALLOWED' : 'KIND_ALWAYS_DENIED' };
  return { kind: 'KIND_CONDITIONAL', condition };
}

// ------------------------------------------------------------------------------------------------ debug string

function jsonCompact(v: JsonValue): string {
  if (Array.isArray(v)) return `[${v.map(jsonCompact).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${jsonCompact((v as Record<string, JsonValue>)[k]!)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function operandString(o: PlanOperand): string {
  if ('variable' in o) return o.variable;
  if ('value' in o) return jsonCompact(o.value);
  return `(${o.expression.operator} ${o.expression.operands.map(operandString).join(' ')})`;
}

/** Cerbos's `filterDebug`: `(true)`, `(false)`, or the condition as an s-expression. */
export function filterToString(f: PlanFilter): string {
  if (f.kind === 'KIND_ALWAYS_ALLOWED') return '(true)';
  if (f.kind === 'KIND_ALWAYS_DENIED') return '(false)';
  return f.condition ? operandString(f.condition) : '';
}

/** The filters of several actions combined (all must hold), as Cerbos combines them. */
export function mergeWithAnd(filters: readonly PlanFilter[]): { filter: PlanFilter; debug: string } {
  if (filters.length === 1) return { filter: filters[0]!, debug: filterToString(filters[0]!) };
  const conds = new Map<string, PlanOperand>();
  for (const f of filters) {
    if (f.kind === 'KIND_ALWAYS_ALLOWED') continue;
    if (f.kind === 'KIND_ALWAYS_DENIED') return { filter: { kind: 'KIND_ALWAYS_DENIED' }, debug: filterToString(f) };
    conds.set(filterToString(f), f.condition!);
  }
  let filter: PlanFilter;
  if (conds.size === 0) filter = { kind: 'KIND_ALWAYS_ALLOWED' };
  else if (conds.size === 1) filter = { kind: 'KIND_CONDITIONAL', condition: [...conds.values()][0]! };
  else {
    const keys = [...conds.keys()].sort();
    filter = { kind: 'KIND_CONDITIONAL', condition: expr('and', keys.map((k) => conds.get(k)!)) };
  }
  return { filter, debug: filterToString(filter) };
}

// ------------------------------------------------------------------------------------------------ simplification

/**
 * Simplify a plan tree with rules that hold in three-valued (Kleene) logic, where an evaluation error is "unknown":
 * a CEL `!` at the root of an expression becomes a NOT node, double negations cancel, nested AND/OR flatten, constants
 * fold, duplicates go, and absorption (`a AND (a OR b)` = `a`, `a OR (a AND b)` = `a`). Used for strict plans, whose
 * decision lists repeat conditions; never changes which resources a plan admits.
 */
export function simplify(n: QNode, memo: Map<QNode, QNode> = new Map()): QNode {
  const hit = memo.get(n);
  if (hit !== undefined) return hit;
  const out = simplifyOnce(n, memo);
  memo.set(n, out);
  return out;
}

function simplifyOnce(n: QNode, memo: Map<QNode, QNode>): QNode {
  if ('expr' in n) {
    const e = n.expr;
    if (e.t === 'op' && e.op === '!') return simplify(qNot({ expr: e.args[0]! }), memo);
    return n;
  }
  if (n.lo === 'not') {
    const inner = simplify(n.nodes[0]!, memo);
    const b = constBool(inner);
    if (b !== undefined) return b ? qFalse() : qTrue();
    if ('lo' in inner && inner.lo === 'not') return inner.nodes.length === 1 ? inner.nodes[0]! : { lo: 'and', nodes: inner.nodes };
    return inner === n.nodes[0] ? n : { lo: 'not', nodes: [inner] };
  }
  const isAnd = n.lo === 'and';
  const flat: QNode[] = [];
  for (const c of n.nodes) {
    const s = simplify(c, memo);
    if ('lo' in s && s.lo === n.lo) flat.push(...s.nodes);
    else flat.push(s);
  }
  // Repeated subtrees are the same object (a condition is planned once per request and its outcomes are shared), so
  // duplicates and absorption are found by identity.
  const kept: QNode[] = [];
  for (const c of flat) {
    const b = constBool(c);
    if (b !== undefined) {
      if (b === isAnd) continue; // neutral
      return b ? qTrue() : qFalse(); // absorbing
    }
    if (!kept.includes(c)) kept.push(c);
  }
  // absorption: drop an OR (in an AND) / an AND (in an OR) one of whose own terms is implied by the rest of the list:
  // the term is in the list, or (a term of the same kind as the list) all of its parts are
  const dual = isAnd ? 'or' : 'and';
  const implied = (x: QNode, c: QNode) => (x !== c && kept.includes(x)) || ('lo' in x && x.lo === n.lo && x.nodes.every((y) => y !== c && kept.includes(y)));
  const out = kept.filter((c) => !('lo' in c && c.lo === dual && c.nodes.some((x) => implied(x, c))));
  if (out.length === 0) return isAnd ? qTrue() : qFalse();
  return out.length === 1 ? out[0]! : { lo: n.lo, nodes: out };
}
