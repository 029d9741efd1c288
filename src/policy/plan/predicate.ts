// A plan as an in-memory predicate: `planPredicate(plan)(resource)` tells whether the plan holds for a resource, with
// CEL's semantics (the same library as the check): the filter is turned back into CEL, its logical skeleton
// (and/or/not) is evaluated in three-valued logic, every other subexpression by the CEL library, and an expression that
// fails to evaluate (a missing attribute, a wrong type) is "unknown": the resource is then not admitted. Works for
// Baton's plans and for any Cerbos plan JSON.
import { celEnvironment } from '../cel/env.js';
import { compileCel, CelScope, type CelProgram } from '../cel/index.js';
import type { Principal } from '../types.js';
import { ident, lit, op, print, type Node, type OpName } from './ir.js';
import type { JsonValue, PlanFilter, PlanOperand } from './types.js';

const OPS: Readonly<Record<string, OpName>> = {
  eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=', in: 'in', add: '+', sub: '-', mult: '*', div: '/', mod: '%',
  if: '?:', '-_': 'neg',
};
/** Lambda operators and how many iteration variables their lambda carries (the rest of its operands are bodies). */
const LAMBDA_VARS: Readonly<Record<string, number>> = {
  all: -1, exists: -1, exists_one: -1, filter: 1, map: 1, sortBy: 1, transformList: 2, transformMap: 2, transformMapEntry: 2,
};

export class PlanPredicateError extends Error {
  override readonly name = 'PlanPredicateError';
}

/** A logical skeleton over CEL leaves. */
type Skeleton = { k: 'and' | 'or'; xs: Skeleton[] } | { k: 'not'; x: Skeleton } | { k: 'leaf'; prog: CelProgram; vals: unknown[] };

let env: ReturnType<typeof celEnvironment> | undefined;
const predicateEnv = () => (env ??= celEnvironment().clone({ unlistedVariablesAreDyn: true }));
const globalForm = new Map<string, boolean>();
/** Whether `fn` with `arity` arguments type-checks as a global function (else it is a method on its first operand). */
function isGlobal(fn: string, arity: number): boolean {
  const key = `${fn}/${arity}`;
  let g = globalForm.get(key);
  if (g === undefined) {
    const args = Array.from({ length: arity }, (_, i) => `__a${i}`).join(', ');
    g = predicateEnv().check(`${fn}(${args})`).valid;
    globalForm.set(key, g);
  }
  return g;
}

/** JSON values of a filter as CEL values: integral numbers as int (Cerbos's filters lose the int/double distinction). */
function celValue(v: JsonValue): unknown {
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(celValue);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, celValue(x)]));
  return v;
}

function variable(name: string): Node {
  const parts = name.split('.');
  let n: Node = ident(parts[0]!);
  for (const f of parts.slice(1)) n = { t: 'select', x: n, field: f };
  return n;
}

/** A filter operand as a CEL expression (the inverse of Cerbos's conversion). */
export function operandToExpr(o: PlanOperand): Node {
  if ('variable' in o) return variable(o.variable);
  if ('value' in o) return lit(celValue(o.value));
  const { operator } = o.expression;
  // protojson leaves out an empty operand list (Cerbos writes `{}` as `{"expression":{"operator":"struct"}}`)
  const operands: PlanOperand[] = o.expression.operands ?? [];
  const args = () => operands.map(operandToExpr);
  switch (operator) {
    case 'and':
    case 'or': {
      const xs = args();
      if (xs.length === 0) return lit(operator === 'and');
      return xs.reduce((a, b) => op(operator === 'and' ? '&&' : '||', a, b));
    }
    case 'not':
      return op('!', operandToExpr(operands[0]!));
    case 'index':
      return { t: 'index', x: operandToExpr(operands[0]!), key: operandToExpr(operands[1]!) };
    case 'get-field': {
      const f = operands[1];
      if (!f || !('variable' in f)) throw new PlanPredicateError('get-field needs a field name');
      return { t: 'select', x: operandToExpr(operands[0]!), field: f.variable };
    }
    case 'list':
      return { t: 'list', elems: args() };
    case 'struct': {
      const entries = operands.map((s) => {
        if (!('expression' in s) || s.expression.operator !== 'set-field') throw new PlanPredicateError('struct operands must be set-field expressions');
        return [operandToExpr(s.expression.operands[0]!), operandToExpr(s.expression.operands[1]!)] as const;
      });
      // a map of known values is one known value (no map literal to type-check, `{}` included)
      if (entries.every(([k, v]) => k.t === 'lit' && (typeof k.v === 'string' || typeof k.v === 'bigint' || typeof k.v === 'boolean') && v.t === 'lit')) {
        return lit(new Map(entries.map(([k, v]) => [(k as { v: unknown }).v, (v as { v: unknown }).v])));
      }
      return { t: 'map', entries };
    }
    case 'lambda':
      throw new PlanPredicateError('a lambda outside a comprehension operator');
  }
  if (Object.hasOwn(OPS, operator)) return op(OPS[operator]!, ...args());
  if (Object.hasOwn(LAMBDA_VARS, operator)) {
    const [range, lambda] = operands;
    if (!range || !lambda || !('expression' in lambda) || lambda.expression.operator !== 'lambda') {
      throw new PlanPredicateError(`${operator} needs a range and a lambda`);
    }
    const lo = lambda.expression.operands;
    let nVars = LAMBDA_VARS[operator]!;
    if (nVars < 0) nVars = lo.length - 1; // all/exists/exists_one: one body, one or two variables
    const vars = lo.slice(lo.length - nVars).map((v) => {
      if (!('variable' in v)) throw new PlanPredicateError(`${operator}: lambda variables must be identifiers`);
      return v.variable;
    });
    return { t: 'comp', fn: operator, range: operandToExpr(range), vars, body: lo.slice(0, lo.length - nVars).map(operandToExpr) };
  }
  // any other function: global form when CEL knows one, else a method on the first operand
  const xs = args();
  if (isGlobal(operator, xs.length) || xs.length === 0) return { t: 'call', fn: operator, args: xs };
  return { t: 'call', fn: operator, target: xs[0]!, args: xs.slice(1) };
}

function skeleton(n: Node): Skeleton {
  if (n.t === 'op' && (n.op === '&&' || n.op === '||')) return { k: n.op === '&&' ? 'and' : 'or', xs: n.args.map(skeleton) };
  if (n.t === 'op' && n.op === '!') return { k: 'not', x: skeleton(n.args[0]!) };
  const vals: unknown[] = [];
  const src = print(n, (v) => `__p${vals.push(v) - 1}`);
  let prog: CelProgram;
  try {
    prog = compileCel(src, predicateEnv());
  } catch (e) {
    throw new PlanPredicateError(`the plan's expression ${src} does not compile: ${(e as Error).message}`);
  }
  return { k: 'leaf', prog, vals };
}

/** Three-valued result: true, false, or undefined (the expression failed to evaluate or was not a boolean). */
type K = boolean | undefined;
function evalSkeleton(s: Skeleton, scope: CelScope, errorsAsFalse: boolean): K {
  switch (s.k) {
    case 'and': {
      let r: K = true;
      for (const x of s.xs) {
        const v = evalSkeleton(x, scope, errorsAsFalse);
        if (v === false) return false;
        if (v === undefined) r = undefined;
      }
      return r;
    }
    case 'or': {
      let r: K = false;
      for (const x of s.xs) {
        const v = evalSkeleton(x, scope, errorsAsFalse);
        if (v === true) return true;
        if (v === undefined) r = undefined;
      }
      return r;
    }
    case 'not': {
      const v = evalSkeleton(s.x, scope, errorsAsFalse);
      return v === undefined ? undefined : !v;
    }
    case 'leaf': {
      const act = Object.create(scope) as CelScope;
      const slots = act as unknown as Record<string, unknown>;
      s.vals.forEach((v, i) => (slots[`__p${i}`] = v));
      let v: unknown;
      try {
        v = s.prog.evaluateIn(act);
      } catch {
        return errorsAsFalse ? false : undefined;
      }
      return typeof v === 'boolean' ? v : errorsAsFalse ? false : undefined;
    }
  }
}

/** The resource a predicate is asked about (as in a check; the kind and scope default to the plan's). */
export interface PredicateResource {
  id?: string;
  kind?: string;
  attr?: Record<string, unknown>;
  policyVersion?: string;
  scope?: string;
}

export interface PredicateOptions {
  /** The principal the plan was made for (only an erroring principal reference can remain in a plan). */
  principal?: Principal;
  now?: Date;
  globals?: Record<string, unknown>;
  /**
   * Count a subexpression that fails to evaluate as false instead of unknown (not what the check does: used to
   * recognise resources that a plan excludes only because a failure cannot be written in a filter).
   */
  errorsAsFalse?: boolean;
}

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** The predicate of a plan (a PlanResult, or Cerbos's `filter` object). */
export function planPredicate(plan: { filter: PlanFilter; kind?: string; scope?: string; policyVersion?: string } | PlanFilter, opts: PredicateOptions = {}): (resource: PredicateResource) => boolean {
  const filter: PlanFilter = 'filter' in plan ? plan.filter : plan;
  const meta: { kind?: string; scope?: string; policyVersion?: string } = 'filter' in plan ? plan : {};
  if (filter.kind === 'KIND_ALWAYS_ALLOWED') return () => true;
  if (filter.kind === 'KIND_ALWAYS_DENIED') return () => false;
  if (filter.kind !== 'KIND_CONDITIONAL' || filter.condition === undefined) throw new PlanPredicateError(`unknown filter kind ${String(filter.kind)}`);
  const sk = skeleton(operandToExpr(filter.condition));
  const p = opts.principal;
  return (resource) => {
    const scope = new CelScope(
      {
        principal: p ? { id: p.id, roles: p.roles, attr: p.attr ?? EMPTY, policyVersion: p.policyVersion ?? '', scope: p.scope ?? '' } : { id: '', roles: [], attr: EMPTY },
        resource: {
          kind: resource.kind ?? meta.kind ?? '',
          id: resource.id ?? '',
          attr: resource.attr ?? EMPTY,
          policyVersion: resource.policyVersion ?? meta.policyVersion ?? '',
          scope: resource.scope ?? meta.scope ?? '',
        },
      },
      opts.now ?? new Date(),
      opts.globals,
    );
    return evalSkeleton(sk, scope, opts.errorsAsFalse === true) === true;
  };
}
