// Residual expressions of the query planner. A condition is converted once from the CEL parser's tree into this small
// immutable form (variables inlined), partially evaluated against what the request knows, and what cannot be decided
// (anything that reads the resource) is kept as a residual of the same form. The residual is then turned into
// Cerbos's filter JSON (filter.ts) and, for in-memory predicates, back into CEL source (print below).
import type { ASTNode } from '@marcbachmann/cel-js';

export type OpName = '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | 'in' | '&&' | '||' | '!' | 'neg' | '?:';

export type Node = Lit | Ident | Select | Index | Op | Call | List | MapLit | Comp;

/** A known value (any CEL runtime value: bigint = int, number = double, Date, Duration, list, map, ...). */
export interface Lit {
  readonly t: 'lit';
  readonly v: unknown;
}
export interface Ident {
  readonly t: 'ident';
  readonly name: string;
}
/** `x.field`, `has(x.field)` (test), `x.?field` (opt). */
export interface Select {
  readonly t: 'select';
  readonly x: Node;
  readonly field: string;
  readonly test?: boolean;
  readonly opt?: boolean;
}
/** `x[key]`, `x[?key]` (opt). */
export interface Index {
  readonly t: 'index';
  readonly x: Node;
  readonly key: Node;
  readonly opt?: boolean;
}
export interface Op {
  readonly t: 'op';
  readonly op: OpName;
  readonly args: readonly Node[];
}
/** A function call, global (`fn(a)`) or method (`target.fn(a)`). */
export interface Call {
  readonly t: 'call';
  readonly fn: string;
  readonly target?: Node;
  readonly args: readonly Node[];
}
export interface List {
  readonly t: 'list';
  readonly elems: readonly Node[];
}
export interface MapLit {
  readonly t: 'map';
  readonly entries: readonly (readonly [Node, Node])[];
}
/**
 * A comprehension macro: `range.fn(vars..., body...)` (all, exists, exists_one, existsOne, map, filter,
 * transformList, transformMap, transformMapEntry, sortBy) or `cel.bind(var, range, body)` (fn `bind`).
 */
export interface Comp {
  readonly t: 'comp';
  readonly fn: string;
  readonly range: Node;
  readonly vars: readonly string[];
  readonly body: readonly Node[];
}

export const lit = (v: unknown): Lit => ({ t: 'lit', v });
export const ident = (name: string): Ident => ({ t: 'ident', name });
export const op = (o: OpName, ...args: Node[]): Op => ({ t: 'op', op: o, args });
export const TRUE: Lit = Object.freeze(lit(true)) as Lit;
export const FALSE: Lit = Object.freeze(lit(false)) as Lit;

/** Macro names and their shapes: how many iteration variables, how many body expressions. */
const MACROS: Readonly<Record<string, readonly (readonly [number, number])[]>> = {
  all: [[1, 1], [2, 1]],
  exists: [[1, 1], [2, 1]],
  exists_one: [[1, 1], [2, 1]],
  existsOne: [[1, 1], [2, 1]],
  map: [[1, 1], [1, 2]],
  filter: [[1, 1]],
  transformList: [[2, 1], [2, 2]],
  transformMap: [[2, 1], [2, 2]],
  transformMapEntry: [[2, 1], [2, 2]],
  sortBy: [[1, 1]],
};

const BINARY = new Set(['==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', 'in', '&&', '||']);

function isIdent(n: ASTNode | undefined): n is ASTNode & { args: string } {
  return n !== undefined && n.op === 'id' && typeof n.args === 'string';
}

// long function: one case per kind of CEL tree node (61 lines), read as one table
/** Convert a parsed CEL tree (cel-js) into the planner's form. Macro calls become comprehensions. */
export function fromCel(ast: ASTNode): Node {
  const a = ast.args as unknown;
  switch (ast.op) {
    case 'value':
      return lit(a);
    case 'id':
      return ident(a as string);
    case '.':
    case '.?': {
      const [x, f] = a as [ASTNode, string];
      return ast.op === '.?' ? { t: 'select', x: fromCel(x), field: f, opt: true } : { t: 'select', x: fromCel(x), field: f };
    }
    case '[]':
    case '[?]': {
      const [x, k] = a as [ASTNode, ASTNode];
      return ast.op === '[?]' ? { t: 'index', x: fromCel(x), key: fromCel(k), opt: true } : { t: 'index', x: fromCel(x), key: fromCel(k) };
    }
    case '!_':
      return op('!', fromCel(a as ASTNode));
    case '-_':
      return op('neg', fromCel(a as ASTNode));
    case '?:': {
      const [c, t, f] = a as [ASTNode, ASTNode, ASTNode];
      return op('?:', fromCel(c), fromCel(t), fromCel(f));
    }
    case 'list':
      return { t: 'list', elems: (a as ASTNode[]).map(fromCel) };
    case 'map':
      return { t: 'map', entries: (a as [ASTNode, ASTNode][]).map(([k, v]) => [fromCel(k), fromCel(v)] as const) };
    case 'call': {
      const [fn, args] = a as [string, ASTNode[]];
      if (fn === 'has' && args.length === 1 && args[0]!.op === '.') {
        const sel = fromCel(args[0]!) as Select;
        return { ...sel, test: true };
      }
      return { t: 'call', fn, args: args.map(fromCel) };
    }
    case 'rcall': {
      const [fn, recv, args] = a as [string, ASTNode, ASTNode[]];
      if (fn === 'bind' && isIdent(recv) && recv.args === 'cel' && args.length === 3 && isIdent(args[0])) {
        return { t: 'comp', fn, range: fromCel(args[1]!), vars: [args[0].args], body: [fromCel(args[2]!)] };
      }
      const shapes = Object.hasOwn(MACROS, fn) ? MACROS[fn]! : undefined;
      if (shapes) {
        for (const [nv, nb] of shapes) {
          if (args.length !== nv + nb) continue;
          const vars = args.slice(0, nv);
          if (!vars.every(isIdent)) continue;
          return { t: 'comp', fn, range: fromCel(recv), vars: vars.map((v) => v.args as string), body: args.slice(nv).map(fromCel) };
        }
      }
      return { t: 'call', fn, target: fromCel(recv), args: args.map(fromCel) };
    }
    default:
      if (BINARY.has(ast.op)) {
        const [l, r] = a as [ASTNode, ASTNode];
        return op(ast.op as OpName, fromCel(l), fromCel(r));
      }
      throw new Error(`unsupported CEL node ${ast.op}`);
  }
}

/** Rebuild `n` with `f` applied to its direct children (identity-preserving when nothing changed). */
export function mapChildren(n: Node, f: (c: Node) => Node): Node {
  switch (n.t) {
    case 'lit':
    case 'ident':
      return n;
    case 'select': {
      const x = f(n.x);
      return x === n.x ? n : { ...n, x };
    }
    case 'index': {
      const x = f(n.x);
      const key = f(n.key);
      return x === n.x && key === n.key ? n : { ...n, x, key };
    }
    case 'op': {
      const args = n.args.map(f);
      return args.every((x, i) => x === n.args[i]) ? n : { ...n, args };
    }
    case 'call': {
      const target = n.target && f(n.target);
      const args = n.args.map(f);
      return target === n.target && args.every((x, i) => x === n.args[i]) ? n : { ...n, ...(target ? { target } : {}), args };
    }
    case 'list': {
      const elems = n.elems.map(f);
      return elems.every((x, i) => x === n.elems[i]) ? n : { t: 'list', elems };
    }
    case 'map': {
      const entries = n.entries.map(([k, v]) => [f(k), f(v)] as const);
      return entries.every(([k, v], i) => k === n.entries[i]![0] && v === n.entries[i]![1]) ? n : { t: 'map', entries };
    }
    case 'comp': {
      const range = f(n.range);
      const body = n.body.map(f);
      return range === n.range && body.every((x, i) => x === n.body[i]) ? n : { ...n, range, body };
    }
  }
}

/** Replace `V.name` / `variables.name` by the variable's expression (already inlined itself). */
export function inlineVariables(n: Node, vars: ReadonlyMap<string, Node>): Node {
  if (n.t === 'select' && n.x.t === 'ident' && (n.x.name === 'V' || n.x.name === 'variables') && !n.test) {
    const v = vars.get(n.field);
    if (v === undefined) throw new Error(`unknown variable ${JSON.stringify(n.field)}`);
    return v;
  }
  return mapChildren(n, (c) => inlineVariables(c, vars));
}

/** Replace `runtime.effectiveDerivedRoles` / `runtime.effective_derived_roles` by `roles`. */
export function replaceRuntimeRoles(n: Node, roles: Node): Node {
  if (n.t === 'select' && !n.test && n.x.t === 'ident' && n.x.name === 'runtime' && (n.field === 'effectiveDerivedRoles' || n.field === 'effective_derived_roles')) {
    return roles;
  }
  return mapChildren(n, (c) => replaceRuntimeRoles(c, roles));
}

export function referencesRuntime(n: Node): boolean {
  if (n.t === 'ident') return n.name === 'runtime';
  let found = false;
  mapChildren(n, (c) => {
    if (!found && referencesRuntime(c)) found = true;
    return c;
  });
  return found;
}

// ------------------------------------------------------------------------------------------------ printing

/** Identifiers that name function namespaces (`math.greatest(...)`): printed and kept as they are, never evaluated. */
export const NAMESPACES: ReadonlySet<string> = new Set(['math', 'strings', 'base64', 'json', 'regex', 'sets', 'lists', 'cel', 'optional']);

/**
 * CEL source for `n`. Known values are handed to `bind`, which returns the name of a variable that will hold the
 * value at evaluation time (so values never go through text, and programs of the same shape are shared).
 */
export function print(n: Node, bind: (v: unknown) => string): string {
  const p = (x: Node) => print(x, bind);
  switch (n.t) {
    case 'lit':
      return bind(n.v);
    case 'ident':
      return n.name;
    case 'select':
      return n.test ? `has(${p(n.x)}.${n.field})` : `${p(n.x)}${n.opt ? '.?' : '.'}${n.field}`;
    case 'index':
      return `${p(n.x)}[${n.opt ? '?' : ''}${p(n.key)}]`;
    case 'op': {
      const [a, b, c] = n.args;
      if (n.op === '!') return `!(${p(a!)})`;
      if (n.op === 'neg') return `-(${p(a!)})`;
      if (n.op === '?:') return `(${p(a!)} ? ${p(b!)} : ${p(c!)})`;
      return `(${p(a!)} ${n.op} ${p(b!)})`;
    }
    case 'call': {
      const args = n.args.map(p).join(', ');
      if (!n.target) return `${n.fn}(${args})`;
      const target = n.target.t === 'ident' && NAMESPACES.has(n.target.name) ? n.target.name : p(n.target);
      return `${target}.${n.fn}(${args})`;
    }
    case 'list':
      return `[${n.elems.map(p).join(', ')}]`;
    case 'map':
      return `{${n.entries.map(([k, v]) => `${p(k)}: ${p(v)}`).join(', ')}}`;
    case 'comp': {
      const body = n.body.map(p).join(', ');
      if (n.fn === 'bind') return `cel.bind(${n.vars[0]}, ${p(n.range)}, ${body})`;
      return `${p(n.range)}.${n.fn}(${n.vars.join(', ')}, ${body})`;
    }
  }
}

/** Stable structural key of a value (distinguishes int 1, double 1 and uint 1). */
export function valueKey(v: unknown): string {
  if (typeof v === 'bigint') return `${v}i`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `${v}d`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v === 'boolean' || v === undefined) return String(v);
  if (v instanceof Date) return `t${v.getTime()}`;
  if (v instanceof Uint8Array) return `b${[...v].join(',')}`;
  if (Array.isArray(v)) return `[${v.map(valueKey).join(',')}]`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${valueKey(k)}:${valueKey(x)}`).join(',')}}`;
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto === Object.prototype || proto === null) {
      return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${valueKey(x)}`).join(',')}}`;
    }
    return `${proto?.constructor?.name ?? 'object'}(${String(v)})`;
  }
  return String(v);
}

/** Stable structural key of a node (for de-duplication and memoisation). */
export function keyOf(n: Node): string {
  switch (n.t) {
    case 'lit':
      return valueKey(n.v);
    case 'ident':
      return n.name;
    case 'select':
      return `${n.test ? 'has' : ''}(${keyOf(n.x)}${n.opt ? '.?' : '.'}${n.field})`;
    case 'index':
      return `(${keyOf(n.x)}[${n.opt ? '?' : ''}${keyOf(n.key)}])`;
    case 'op':
      return `(${n.op} ${n.args.map(keyOf).join(' ')})`;
    case 'call':
      return `(${n.target ? `${keyOf(n.target)}.` : ''}${n.fn} ${n.args.map(keyOf).join(' ')})`;
    case 'list':
      return `[${n.elems.map(keyOf).join(' ')}]`;
    case 'map':
      return `{${n.entries.map(([k, v]) => `${keyOf(k)}:${keyOf(v)}`).join(' ')}}`;
    case 'comp':
      return `(${keyOf(n.range)}.${n.fn} ${n.vars.join(',')} ${n.body.map(keyOf).join(' ')})`;
  }
}
