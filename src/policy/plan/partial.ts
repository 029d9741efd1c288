// Partial evaluation of a condition expression for the query planner: everything the request knows (principal,
// constants, globals, auxData, now(), the resource's kind and scope and any attributes given in the plan request) is
// evaluated, and what depends on the resource rows is kept as a residual expression.
//
// Exactness rule: a node is folded only when its value is computed exactly as the check would compute it (by the
// same CEL library, see `evalClosed`); otherwise it stays in the residual, which the data layer evaluates later. So
// the residual, evaluated against a resource, gives what the check's condition gives for that resource (true, false
// or an error), whatever the folding did. Unknown-ness and errors propagate the way cel-go's partial evaluation
// propagates them (strict functions: an erroring argument makes the call an error, else an unknown one makes it
// unknown), so residuals have the shapes Cerbos's planner produces.
import { Optional } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { celEnvironment } from '../cel/env.js';
import { compileCel, type CelProgram, type CelScope } from '../cel/index.js';
import { lit, mapChildren, NAMESPACES, op, print, type Comp, type Node } from './ir.js';

/** The result of evaluating a node: a value, an error (with the node kept as residual), or unknown (residual). */
/**
 * `soft`: an error that cel-go's partial evaluation does not see (it would report unknown), found by Baton's stricter
 * rules; it never makes planning fail the way Cerbos's planner fails.
 */
export type PV = { s: 'val'; v: unknown; orig: Node; opaque?: boolean } | { s: 'err'; msg: string; e: Node; soft?: boolean } | { s: 'unk'; e: Node };

/**
 * Functions whose results cel-go keeps as calls in a residual (they are values of types without a literal form, such
 * as `hierarchy(...)`; Baton represents them as lists, but the residual keeps Cerbos's shape).
 */
const OPAQUE_RESULTS = new Set(['hierarchy']);

/** An iteration (or `cel.bind`) variable: a known value, or unknown with the residual that stands for it. */
export type Binding = { known: true; v: unknown } | { known: false; e: Node };
export type Vars = ReadonlyMap<string, Binding>;
const NO_VARS: Vars = new Map();

let plannerEnv: ReturnType<typeof celEnvironment> | undefined;
/** The Cerbos CEL environment where unlisted identifiers (placeholders, iteration variables) are `dyn`. */
function env() {
  return (plannerEnv ??= celEnvironment().clone({ unlistedVariablesAreDyn: true }));
}

const programs = new Map<string, CelProgram>();
function program(src: string): CelProgram {
  let p = programs.get(src);
  if (!p) {
    p = compileCel(src, env());
    if (programs.size > 20_000) programs.clear();
    programs.set(src, p);
  }
  return p;
}

interface Printed {
  src: string;
  vals: unknown[];
}
const printed = new WeakMap<Node, Printed>();
function printOf(n: Node): Printed {
  let p = printed.get(n);
  if (!p) {
    const vals: unknown[] = [];
    const src = print(n, (v) => `__p${vals.push(v) - 1}`);
    printed.set(n, (p = { src, vals }));
  }
  return p;
}

/** Is `v` representable as a literal in a residual (and in Cerbos's filter JSON)? */
export function literalable(v: unknown): boolean {
  switch (typeof v) {
    case 'boolean':
    case 'bigint':
    case 'number':
    case 'string':
      return true;
    case 'object':
      if (v === null || v instanceof Uint8Array || v instanceof UnsignedInt || v instanceof Date || v instanceof Duration) return true;
      if (v instanceof Optional) return !v.hasValue() || literalable(v.value());
      if (Array.isArray(v)) return v.every(literalable);
      if (v instanceof Map) return [...v].every(([k, x]) => literalable(k) && literalable(x));
      if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) return Object.values(v).every(literalable);
      return false;
    default:
      return false;
  }
}

/** The residual standing for an evaluation result. */
export function residualOf(pv: PV): Node {
  if (pv.s !== 'val') return pv.e;
  return !pv.opaque && literalable(pv.v) ? lit(pv.v) : pv.orig;
}

const isMapValue = (v: unknown): boolean =>
  v instanceof Map || (typeof v === 'object' && v !== null && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null));

export interface PartialContext {
  /** The request as conditions see it: principal, the known part of the resource (kind, policyVersion, scope, given attributes). */
  readonly scope: CelScope;
  /** Resource attributes given in the plan request (known); any other attribute is unknown. */
  readonly attrs: Readonly<Record<string, unknown>> | undefined;
}

// The resource's kind, version and scope are the plan's own: a condition reading them is decided, as the check of a
// resource of the plan decides it (its policyVersion as the plan request gives it, "" when absent).
const RESOURCE_KNOWN_FIELDS = new Set(['kind', 'scope', 'policyVersion']);

/**
 * The partial evaluator for one request. `run` is called per condition expression, after the policy's constants
 * were set on the scope and its variables inlined into the expression.
 */
export class PartialEvaluator {
  /** Resource attributes were given in the request (results then depend on them: not reusable across requests). */
  readonly hasGivenAttributes: boolean;
  constructor(private readonly ctx: PartialContext) {
    this.hasGivenAttributes = ctx.attrs !== undefined;
  }

  run(n: Node, vars: Vars = NO_VARS): PV {
    return this.pe(n, vars);
  }

  // -------------------------------------------------------------------------------------------- what is known

  /** If `n` is a select chain on the resource (`R.…` / `request.resource.…`), the fields after the resource. */
  private resourcePath(n: Node): string[] | undefined {
    const fields: string[] = [];
    let x = n;
    while (x.t === 'select' && !x.opt) {
      fields.push(x.field);
      x = x.x;
    }
    if (x.t !== 'ident') return undefined;
    fields.reverse();
    if (x.name === 'R') return fields;
    if (x.name === 'request' && fields[0] === 'resource') return fields.slice(1);
    return undefined;
  }

  /** A resource path that the request knows: kind, scope, or an attribute given in the request. */
  private knownResourcePath(path: readonly string[]): boolean {
    const [a, b] = path;
    if (a === undefined) return false;
    if (RESOURCE_KNOWN_FIELDS.has(a)) return true;
    return a === 'attr' && b !== undefined && this.ctx.attrs !== undefined && Object.hasOwn(this.ctx.attrs, b);
  }

  /** Does evaluating `n` need something the request does not know? (Memoised for the common static case.) */
  private dependsOnUnknown(n: Node, vars: Vars): boolean {
    if (vars.size !== 0 || this.ctx.attrs !== undefined) return this.depends(n, vars);
    let d = staticDeps.get(n);
    if (d === undefined) staticDeps.set(n, (d = this.depends(n, vars)));
    return d;
  }

  private depends(n: Node, vars: Vars): boolean {
    switch (n.t) {
      case 'lit':
        return false;
      case 'ident': {
        const b = vars.get(n.name);
        if (b) return !b.known;
        return n.name === 'R' || n.name === 'request';
      }
      case 'select': {
        // R.kind, R.scope and R.attr.x for a given x are known (so is has() of them); the rest of R is not
        const path = this.resourcePath(n.test ? { ...n, test: false } : n);
        if (path !== undefined) return !this.knownResourcePath(path);
        // request.principal.…, request.auxData.…: known
        let x: Node = n.x;
        while (x.t === 'select' && !x.test) {
          if (x.x.t === 'ident' && x.x.name === 'request' && !vars.has('request')) return x.field === 'resource';
          x = x.x;
        }
        if (n.x.t === 'ident' && n.x.name === 'request' && !vars.has('request')) return n.field === 'resource';
        return this.dependsOnUnknown(n.x, vars);
      }
      case 'comp': {
        if (this.dependsOnUnknown(n.range, vars)) return true;
        const inner = new Map(vars);
        for (const v of n.vars) inner.set(v, { known: true, v: undefined });
        return n.body.some((b) => this.dependsOnUnknown(b, inner));
      }
      default: {
        let dep = false;
        mapChildren(n, (c) => {
          if (!dep && this.dependsOnUnknown(c, vars)) dep = true;
          return c;
        });
        return dep;
      }
    }
  }

  /** Evaluate a node that depends only on known values, with the check's CEL library. */
  private evalClosed(n: Node, vars: Vars): PV {
    if (n.t === 'lit') return { s: 'val', v: n.v, orig: n };
    const fast = this.fastSelect(n, vars);
    if (fast !== undefined) return fast;
    const { src, vals } = printOf(n);
    let prog: CelProgram;
    try {
      prog = program(src);
    } catch (e) {
      // a shape the type checker refuses on its own (for example a method on a `dyn` receiver it cannot resolve):
      // what the check does with it is an evaluation error of this expression
      return { s: 'err', msg: (e as Error).message, e: n };
    }
    const act = Object.create(this.ctx.scope) as CelScope;
    const slots = act as unknown as Record<string, unknown>;
    vals.forEach((v, i) => (slots[`__p${i}`] = v));
    for (const [name, b] of vars) if (b.known) slots[name] = b.v;
    try {
      return { s: 'val', v: prog.evaluateIn(act), orig: n };
    } catch (e) {
      return { s: 'err', msg: (e as Error).message, e: n };
    }
  }

  /** `P.attr.x`, `C.y`, `request.principal.id`: walked directly (the common case, no CEL program). */
  private fastSelect(n: Node, vars: Vars): PV | undefined {
    const fields: string[] = [];
    let x = n;
    while (x.t === 'select' && !x.opt && !x.test) {
      fields.push(x.field);
      x = x.x;
    }
    if (x.t !== 'ident' || fields.length === 0 || vars.has(x.name)) return undefined;
    const scope = this.ctx.scope as unknown as Record<string, unknown>;
    if (!['P', 'C', 'G', 'constants', 'globals', 'request'].includes(x.name)) return undefined;
    let v: unknown = scope[x.name];
    for (let i = fields.length - 1; i >= 0; i--) {
      const f = fields[i]!;
      // Cerbos's wording (as the check reports it, cel/errors.ts): C/G are records with fields, the rest maps
      const missing = i === fields.length - 1 && x.name !== 'P' && x.name !== 'request' ? `undefined field '${f}'` : `no such key: ${f}`;
      if (v instanceof Map) {
        if (!v.has(f)) return { s: 'err', msg: missing, e: n };
        v = v.get(f);
      } else if (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array)) {
        if (!Object.hasOwn(v, f)) return { s: 'err', msg: missing, e: n };
        v = (v as Record<string, unknown>)[f];
      } else {
        return undefined; // selecting on a non-map: let the library produce its error
      }
      if (v === undefined) return undefined;
    }
    return { s: 'val', v, orig: n };
  }

  // -------------------------------------------------------------------------------------------- evaluation

  private pe(n: Node, vars: Vars): PV {
    if (!this.dependsOnUnknown(n, vars)) {
      const pv = this.evalClosed(n, vars);
      if (pv.s === 'val' && n.t === 'call' && !n.target && OPAQUE_RESULTS.has(n.fn)) {
        // keep the call, with its arguments folded
        return { ...pv, opaque: true, orig: { ...n, args: n.args.map((a) => residualOf(this.evalClosed(a, vars))) } };
      }
      return pv;
    }
    switch (n.t) {
      case 'ident': {
        const b = vars.get(n.name);
        if (b && !b.known) return { s: 'unk', e: b.e };
        return { s: 'unk', e: n };
      }
      case 'select': {
        if (this.resourcePath(n.test ? { ...n, test: false } : n) !== undefined) return { s: 'unk', e: n };
        const x = this.pe(n.x, vars);
        if (x.s === 'val') return this.evalClosed({ ...n, x: lit(x.v) }, vars);
        return x.s === 'err' ? { s: 'err', msg: x.msg, e: { ...n, x: x.e } } : { s: 'unk', e: { ...n, x: x.e } };
      }
      case 'op':
        switch (n.op) {
          case '&&':
          case '||':
            return this.logical(n.op, n.args[0]!, n.args[1]!, vars, n);
          case '?:':
            return this.conditional(n.args[0]!, n.args[1]!, n.args[2]!, vars, n);
          case 'in':
            return this.membership(n, vars);
          default:
            return this.strict(n, vars);
        }
      case 'comp':
        return this.comprehension(n, vars);
      default:
        return this.strict(n, vars);
    }
  }

  /** A strict operator or function: all operands known, or the first unknown/erroring operand decides. */
  private strict(n: Node, vars: Vars): PV {
    const kids: Node[] = [];
    mapChildren(n, (c) => (kids.push(c), c));
    const namespace = n.t === 'call' && n.target?.t === 'ident' && NAMESPACES.has(n.target.name) ? n.target : undefined;
    const pvs = kids.map((c): PV => (c === namespace ? { s: 'val', v: c, orig: c } : this.pe(c, vars)));
    // an error in any operand wins over unknown operands (as in the cel-go version Cerbos 0.55 uses)
    const first = pvs.find((p) => p.s === 'err' && !p.soft) ?? pvs.find((p) => p.s === 'err') ?? pvs.find((p) => p.s !== 'val');
    if (first === undefined) {
      let i = 0;
      return this.evalClosed(mapChildren(n, (c) => (c === namespace ? (i++, c) : lit((pvs[i++] as { v: unknown }).v))), vars);
    }
    let i = 0;
    const e = mapChildren(n, (c) => (c === namespace ? (i++, c) : residualOf(pvs[i++]!)));
    if (first.s !== 'err') return { s: 'unk', e };
    return first.soft ? { s: 'err', msg: first.msg, e, soft: true } : { s: 'err', msg: first.msg, e };
  }

  /**
   * `x in c`. Unlike cel-go's partial evaluation, a known right-hand side that is not a list or a map makes the whole
   * expression an error (what the check gives), never a residual that a filter would read as equality.
   */
  private membership(n: Node & { t: 'op' }, vars: Vars): PV {
    const rhs = this.pe(n.args[1]!, vars);
    if (rhs.s === 'val' && !Array.isArray(rhs.v) && !isMapValue(rhs.v)) {
      const lhs = this.pe(n.args[0]!, vars);
      return { s: 'err', msg: 'no such overload: in', e: op('in', residualOf(lhs), residualOf(rhs)), soft: lhs.s !== 'val' };
    }
    return this.strict(n, vars);
  }

  private logical(o: '&&' | '||', a: Node, b: Node, vars: Vars, n: Node): PV {
    const l = this.pe(a, vars);
    const r = this.pe(b, vars);
    const absorbing = o === '||';
    if ((l.s === 'val' && l.v === absorbing) || (r.s === 'val' && r.v === absorbing)) return { s: 'val', v: absorbing, orig: n };
    if (l.s === 'val' && r.s === 'val') return this.evalClosed(op(o, lit(l.v), lit(r.v)), vars);
    if (l.s === 'unk' || r.s === 'unk') {
      // a known neutral operand (true for &&, false for ||) drops out; anything else known stays in the residual
      if (l.s === 'val' && l.v === !absorbing) return { s: 'unk', e: residualOf(r) };
      if (r.s === 'val' && r.v === !absorbing) return { s: 'unk', e: residualOf(l) };
      return { s: 'unk', e: op(o, residualOf(l), residualOf(r)) };
    }
    const err = l.s === 'err' ? l : (r as PV & { s: 'err' });
    const soft = (l.s !== 'err' || l.soft === true) && (r.s !== 'err' || r.soft === true);
    return { s: 'err', msg: err.s === 'err' ? err.msg : '', e: op(o, residualOf(l), residualOf(r)), ...(soft ? { soft } : {}) };
  }

  private conditional(c: Node, a: Node, b: Node, vars: Vars, n: Node): PV {
    const cv = this.pe(c, vars);
    if (cv.s === 'val') {
      if (cv.v === true) return this.pe(a, vars);
      if (cv.v === false) return this.pe(b, vars);
      return this.evalClosed({ ...(n as Node & { t: 'op' }), args: [lit(cv.v), a, b] }, vars);
    }
    if (cv.s === 'err') return { s: 'err', msg: cv.msg, e: op('?:', cv.e, a, b) };
    return { s: 'unk', e: op('?:', cv.e, residualOf(this.pe(a, vars)), residualOf(this.pe(b, vars))) };
  }

  private withVars(vars: Vars, names: readonly string[], values: readonly Binding[]): Vars {
    const m = new Map(vars);
    names.forEach((name, i) => m.set(name, values[i]!));
    return m;
  }

  /**
   * The body residual with the iteration variables unknown (what Cerbos keeps inside a lambda). A body that fails to
   * evaluate whatever the item (an error, not an unknown) is one that Cerbos's planner cannot plan: the comprehension
   * is remembered, and planning fails if it is still part of the final residual (see `failure`).
   */
  private bodyResidual(n: Comp, vars: Vars, make: (body: Node[]) => Comp): Comp {
    const inner = this.withVars(vars, n.vars, n.vars.map((v) => ({ known: false, e: { t: 'ident', name: v } })));
    const pvs = n.body.map((b) => this.pe(b, inner));
    const out = make(pvs.map(residualOf));
    const err = pvs.find((p) => p.s === 'err' && !p.soft);
    if (err && err.s === 'err') failing.set(out, err.msg);
    return out;
  }

  private comprehension(n: Comp, vars: Vars): PV {
    const range = this.pe(n.range, vars);
    if (n.fn === 'bind') {
      const name = n.vars[0]!;
      const b: Binding = range.s === 'val' ? { known: true, v: range.v } : { known: false, e: residualOf(range) };
      if (range.s === 'err') return { s: 'err', msg: range.msg, e: { ...n, range: range.e } };
      return this.pe(n.body[0]!, this.withVars(vars, [name], [b]));
    }
    if (range.s === 'err') return { s: 'err', msg: range.msg, e: { ...n, range: range.e } };
    if (range.s === 'unk') return { s: 'unk', e: this.bodyResidual(n, vars, (body) => ({ ...n, range: range.e, body })) };
    // known range, body reads unknown values: evaluate element by element where the result can be combined exactly
    const items = iterate(range.v, n.vars.length);
    const residual = (): PV => ({ s: 'unk', e: this.bodyResidual(n, vars, (body) => ({ ...n, range: residualOf(range), body })) });
    if (items === undefined) return this.evalClosed({ ...n, range: lit(range.v) }, vars); // not iterable: the library's error
    if (n.fn !== 'all' && n.fn !== 'exists') return residual();
    let unknown = false;
    let error: PV | undefined;
    for (const item of items) {
      const pv = this.pe(n.body[0]!, this.withVars(vars, n.vars, item.map((v) => ({ known: true, v }))));
      if (pv.s === 'val') {
        if (pv.v === (n.fn === 'exists')) return { s: 'val', v: pv.v, orig: n };
        if (typeof pv.v !== 'boolean') error ??= { s: 'err', msg: 'predicate must return bool', e: n };
      } else if (pv.s === 'unk') unknown = true;
      else error ??= pv;
    }
    if (unknown) return residual();
    if (error) return { s: 'err', msg: error.s === 'err' ? error.msg : '', e: n };
    return { s: 'val', v: n.fn === 'all', orig: n };
  }

  /**
   * exists/all over a known list or map of at most 10 items, as one residual per item (Cerbos's root rewrite). An item
   * whose predicate fails to evaluate makes Cerbos's planner fail: so does this (PlanError from the caller).
   */
  unroll(n: Comp, vars: Vars = NO_VARS): { parts: Node[] } | { error: string } | undefined {
    if (n.range.t !== 'lit') return undefined;
    const items = iterate(n.range.v, n.vars.length);
    if (items === undefined || items.length > 10) return undefined;
    const parts: Node[] = [];
    for (const item of items) {
      const pv = this.pe(n.body[0]!, this.withVars(vars, n.vars, item.map((v) => ({ known: true, v }))));
      if (pv.s === 'err' && !pv.soft) return { error: pv.msg };
      parts.push(residualOf(pv));
    }
    return { parts };
  }
}

/** dependsOnUnknown of nodes without iteration variables when no resource attribute is given (it is then the same for every request). */
const staticDeps = new WeakMap<Node, boolean>();

/** Comprehensions in residuals whose body fails to evaluate for any item, with the failure. */
const failing = new WeakMap<Node, string>();

/** The failure that makes a residual impossible to plan (as Cerbos's planner fails on it), if any. */
export function failure(n: Node): string | undefined {
  const f = failing.get(n);
  if (f !== undefined) return f;
  let found: string | undefined;
  mapChildren(n, (c) => {
    found ??= failure(c);
    return c;
  });
  return found;
}

/** The iteration of a comprehension over a known value: lists by element (or index, element), maps by key (or key, value). */
export function iterate(v: unknown, nVars: number): unknown[][] | undefined {
  if (Array.isArray(v)) return v.map((x, i) => (nVars === 2 ? [BigInt(i), x] : [x]));
  if (v instanceof Map) return [...v].map(([k, x]) => (nVars === 2 ? [k, x] : [k]));
  if (isMapValue(v)) return Object.entries(v as Record<string, unknown>).map(([k, x]) => (nVars === 2 ? [k, x] : [k]));
  return undefined;
}
