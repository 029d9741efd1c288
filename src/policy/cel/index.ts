/**
 * CEL condition layer of Baton's Cerbos-compatible policy engine.
 *
 * Library: @marcbachmann/cel-js (chosen by measurement, see bench/cel-choice.ts): a tree-walking interpreter with
 * no eval/new Function, ~10x faster than @bufbuild/cel on a typical condition. Expressions are parsed and
 * type-checked ONCE by compileCel; evaluate() only walks the prepared tree.
 */
import type { Environment } from '@marcbachmann/cel-js';
import { celEnvironment, TZ_GETTERS, TZ_PREFIX } from './env.js';
import { clock } from './clock.js';
import { celGoError, cerbosMessage, subProgram } from './errors.js';
import { fastPathOf, noteProgram, UNDECIDED, type FastPath } from './fast.js';
import { CelScope, type CelRequest } from './scope.js';
export { CelScope, type CelRequest };
export { someProgramReadsRuntime } from './fast.js';

export interface CelActivation {
  request: CelRequest;
  /** exposed as both `V` and `variables` */
  variables?: Record<string, unknown>;
  /** exposed as both `C` and `constants` */
  constants?: Record<string, unknown>;
  /** exposed as both `G` and `globals` */
  globals?: Record<string, unknown>;
  runtime?: { effectiveDerivedRoles: string[] };
  /** `now()` returns this frozen instant for the whole request */
  now: Date;
}
export interface CelProgram {
  readonly source: string;
  /** throws CelEvalError on evaluation error (no such key, type mismatch, ...) */
  evaluate(activation: CelActivation): unknown;
  /** The same, against a scope the caller built once per request (the engine's hot path). */
  evaluateIn(scope: CelScope): unknown;
  /** names X referenced as `V.X` / `variables.X` (used by the loader for cycle detection and ordering) */
  readonly variableRefs: ReadonlySet<string>;
  readonly constantRefs: ReadonlySet<string>;
}

export class CelCompileError extends Error {
  override name = 'CelCompileError';
}
export class CelEvalError extends Error {
  override name = 'CelEvalError';
}

type CelFn = ((ctx: Record<string, unknown>) => unknown) & { check(): { valid: boolean; error?: Error }; ast: unknown };


interface CachedScope {
  scope: CelScope;
  request: CelRequest;
  variables: unknown;
  constants: unknown;
  globals: unknown;
  runtime: unknown;
  now: Date;
}
const scopes = new WeakMap<CelActivation, CachedScope>();

/** The scope for an activation (cached per activation object; rebuilt only if a top-level field is replaced). */
export function scopeOf(a: CelActivation): CelScope {
  const c = scopes.get(a);
  if (
    c && c.request === a.request && c.variables === a.variables && c.constants === a.constants &&
    c.globals === a.globals && c.runtime === a.runtime && c.now === a.now
  ) {
    return c.scope;
  }
  const scope = new CelScope(a.request, a.now, a.globals, a.variables, a.constants, a.runtime);
  scopes.set(a, {
    scope, request: a.request, variables: a.variables, constants: a.constants, globals: a.globals, runtime: a.runtime, now: a.now,
  });
  return scope;
}

function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s+$/, '');
}

type AstNode = { op?: unknown; args?: unknown };

/** Visits every object node of a cel-js AST once (arrays are walked through, cycles ignored). */
function walkAst(ast: unknown, visit: (node: AstNode) => void): void {
  const seen = new Set<unknown>();
  const walk = (n: unknown): void => {
    if (n === null || typeof n !== 'object' || seen.has(n)) return;
    seen.add(n);
    if (Array.isArray(n)) {
      for (const x of n) walk(x);
      return;
    }
    visit(n as AstNode);
    for (const k of Object.keys(n)) {
      if (k === 'parent' || k === 'checkedType' || k === 'candidates') continue; // back links and type info, not syntax
      walk((n as Record<string, unknown>)[k]);
    }
  };
  walk(ast);
}

/** Collect X in `V.X`, `variables.X`, `V["X"]` (and the same for C/constants). */
function collectRefs(ast: unknown, vars: Set<string>, consts: Set<string>): void {
  walkAst(ast, (node) => {
    if ((node.op === '.' || node.op === '.?' || node.op === '[]' || node.op === '[?]') && Array.isArray(node.args)) {
      const [target, field] = node.args as [{ op?: unknown; args?: unknown } | undefined, unknown];
      if (target && target.op === 'id') {
        const key =
          typeof field === 'string'
            ? field
            : field && typeof field === 'object' && (field as { op?: unknown }).op === 'value' &&
                typeof (field as { args?: unknown }).args === 'string'
              ? ((field as { args: string }).args)
              : undefined;
        if (key !== undefined) {
          if (target.args === 'V' || target.args === 'variables') vars.add(key);
          else if (target.args === 'C' || target.args === 'constants') consts.add(key);
        }
      }
    }
  });
}

class Program implements CelProgram {
  readonly variableRefs: ReadonlySet<string>;
  readonly constantRefs: ReadonlySet<string>;
  /** `fast`: decides the common shapes without the interpreter, or says it cannot (fast.ts). */
  constructor(readonly source: string, private readonly fn: CelFn, vars: Set<string>, consts: Set<string>, private readonly env: Environment, private readonly fast: FastPath | undefined) {
    this.variableRefs = vars;
    this.constantRefs = consts;
  }
  evaluate(activation: CelActivation): unknown {
    return this.evaluateIn(scopeOf(activation));
  }
  evaluateIn(scope: CelScope): unknown {
    if (this.fast !== undefined) {
      const r = this.fast(scope);
      if (r !== UNDECIDED) return r;
    }
    return this.interpret(scope);
  }
  private interpret(scope: CelScope): unknown {
    const prev = clock.swap(scope);
    try {
      return this.fn(scope as unknown as Record<string, unknown>);
    } catch (e) {
      // Cerbos's error for this failure: which operand's (cel-go's rule for && and ||) and cel-go's wording.
      const err = celGoError(this.fn.ast, e, this.source, (sub) => subProgram(this.env, sub, compileProgram)?.evaluateIn(scope));
      throw err instanceof CelEvalError ? err : new CelEvalError(cerbosMessage(err));
    } finally {
      clock.swap(prev);
    }
  }
}

const RECORDS = new Set(['V', 'variables', 'C', 'constants', 'G', 'globals']);

/** The first of V/variables/C/constants/G/globals used with an index (`V["x"]`, `C[k]`), if any. */
function indexedRecordName(ast: unknown): string | undefined {
  const seen = new Set<unknown>();
  let found: string | undefined;
  const walk = (n: unknown): void => {
    if (found !== undefined || n === null || typeof n !== 'object' || seen.has(n)) return;
    seen.add(n);
    if (Array.isArray(n)) {
      for (const x of n) walk(x);
      return;
    }
    const node = n as { op?: unknown; args?: unknown };
    if ((node.op === '[]' || node.op === '[?]') && Array.isArray(node.args)) {
      const target = node.args[0] as { op?: unknown; args?: unknown } | undefined;
      if (target && target.op === 'id' && typeof target.args === 'string' && RECORDS.has(target.args)) {
        found = target.args;
        return;
      }
    }
    for (const k of Object.keys(node)) {
      if (k === 'parent' || k === 'checkedType' || k === 'candidates') continue;
      walk((node as Record<string, unknown>)[k]);
    }
  };
  walk(ast);
  return found;
}

/** `t.getHours("tz")` -> `t.__baton_tz_getHours("tz")` (cel-go semantics for offsets and milliseconds). */
function rewriteTimeZoneGetters(ast: unknown): void {
  walkAst(ast, (node) => {
    if (node.op === 'rcall' && Array.isArray(node.args)) {
      const [name, , params] = node.args as [unknown, unknown, unknown];
      if (typeof name === 'string' && TZ_GETTERS.has(name) && Array.isArray(params) && params.length === 1) {
        (node.args as unknown[])[0] = TZ_PREFIX + name;
      }
    }
  });
}

/**
 * Compile a CEL expression once (parse + type-check). Throws CelCompileError naming what is wrong and where.
 * `env` defaults to the shared Cerbos environment; the query planner passes a clone of it (see plan/partial.ts).
 */
let sharedPrograms: Map<string, CelProgram> | undefined;
/**
 * Runs `f` (a load of a policy set) with every expression compiled once per source text: policy sets repeat their
 * conditions, and a program holds nothing but its parsed, checked expression, so policies can share it. (Cerbos's
 * rule table keeps such a cache of programs by source too.) Only programs of the default environment are shared.
 */
export function withSharedPrograms<T>(f: () => T): T {
  const outer = sharedPrograms;
  sharedPrograms = outer ?? new Map();
  try {
    return f();
  } finally {
    sharedPrograms = outer;
  }
}

export function compileCel(source: string, env?: Environment): CelProgram {
  if (env === undefined && sharedPrograms !== undefined) {
    const hit = sharedPrograms.get(source);
    if (hit !== undefined) return hit;
    const p = compileProgram(source, celEnvironment(), true);
    sharedPrograms.set(source, p);
    return p;
  }
  return compileProgram(source, env ?? celEnvironment(), env === undefined);
}

function compileProgram(source: string, env: Environment, withFastPath = false): Program {
  if (typeof source !== 'string' || source.trim() === '') throw new CelCompileError('empty CEL expression');
  noteProgram(source);
  let fn: CelFn;
  try {
    fn = env.parse(source) as unknown as CelFn;
  } catch (e) {
    throw new CelCompileError(`CEL syntax error: ${describe(e)}`);
  }
  rewriteTimeZoneGetters(fn.ast);
  const indexed = indexedRecordName(fn.ast);
  if (indexed !== undefined) {
    // Cerbos types V/C/G as messages (cerbos.Variables): only field selection type-checks, never `V["x"]`.
    throw new CelCompileError(`CEL type error: found no matching overload for '_[_]' applied to '(cerbos.Variables, string)' (${indexed}[...]; use ${indexed}.name)`);
  }
  const checked = fn.check();
  if (!checked.valid) throw new CelCompileError(`CEL type error: ${describe(checked.error)}`);
  const vars = new Set<string>();
  const consts = new Set<string>();
  collectRefs(fn.ast, vars, consts);
  return new Program(source, fn, vars, consts, env, withFastPath ? fastPathOf(fn.ast) : undefined);
}

// ------------------------------------------------------------------------------------------------ conditions

/**
 * Cerbos condition tree. Policies use `{ match: Match }`; the cel_eval test data uses `Match` directly.
 * Match = { expr } | { all: { of: Match[] } } | { any: { of: Match[] } } | { none: { of: Match[] } }
 */
export type MatchNode =
  | { expr: string }
  | { all: { of: MatchNode[] } }
  | { any: { of: MatchNode[] } }
  | { none: { of: MatchNode[] } };
export type ConditionNode = { match: MatchNode } | MatchNode;

export interface CompiledCondition {
  /**
   * true/false; an expression that fails (or yields a non-bool) counts as "not matched" inside all/any/none, as
   * Cerbos does. If the overall result is false and some expression failed, throws CelEvalError (callers treat it as
   * not matched, and can report why).
   */
  evaluate(a: CelActivation): boolean;
  /** Like evaluate, but never throws: returns the result and every evaluation error met on the way. */
  evaluateDetailed(a: CelActivation): { result: boolean; errors: CelEvalError[] };
  /** `evaluate` against a scope built once per request (the engine's hot path). */
  evaluateIn(s: CelScope): boolean;
  readonly variableRefs: ReadonlySet<string>;
  readonly constantRefs: ReadonlySet<string>;
  /** The condition's tree (without the `match` wrapper), for the query planner. */
  readonly tree: MatchNode;
  /**
   * Cerbos 0.55's evaluation (ruletable/check.go `SatisfiesCondition`): an expression that yields a non-bool is false;
   * one that fails is reported to `onError` (its source and message), then in strict mode the failure ends the whole
   * condition (all/any/none, nested, short-circuiting in order) by throwing CelEvalError; in lenient mode it is false
   * and evaluation goes on (so `none` of a failing expression holds, as in Cerbos).
   */
  evaluateCerbos(s: CelScope, strict: boolean, onError: (expression: string, message: string) => void): boolean;
}

type CerbosEvaluator = (s: CelScope, strict: boolean, onError: (expression: string, message: string) => void) => boolean;
type Evaluator = ((s: CelScope, errs: CelEvalError[]) => boolean) & { leaf?: { prog: CelProgram; path: string }; cerbos?: CerbosEvaluator };

function isObj(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function compileMatch(node: unknown, path: string, vars: Set<string>, consts: Set<string>): Evaluator {
  if (!isObj(node)) throw new CelCompileError(`${path}: expected a mapping with one of expr, all, any, none`);
  const keys = Object.keys(node);
  if (keys.length !== 1) {
    throw new CelCompileError(`${path}: expected exactly one of expr, all, any, none; got ${keys.join(', ') || 'nothing'}`);
  }
  const key = keys[0] as string;
  const val = node[key];
  if (key === 'expr') {
    if (typeof val !== 'string') throw new CelCompileError(`${path}.expr: must be a string`);
    let prog: CelProgram;
    try {
      prog = compileCel(val);
    } catch (e) {
      throw new CelCompileError(`${path}.expr: ${describe(e)}`);
    }
    for (const v of prog.variableRefs) vars.add(v);
    for (const c of prog.constantRefs) consts.add(c);
    const leaf: Evaluator = (s, errs) => {
      let r: unknown;
      try {
        r = prog.evaluateIn(s);
      } catch (e) {
        errs.push(new CelEvalError(`${path}.expr: ${describe(e)}`));
        return false;
      }
      if (typeof r !== 'boolean') {
        errs.push(new CelEvalError(`${path}.expr: condition must evaluate to bool, got ${typeName(r)}`));
        return false;
      }
      return r;
    };
    leaf.leaf = { prog, path };
    leaf.cerbos = (s, strict, onError) => {
      let r: unknown;
      try {
        r = prog.evaluateIn(s);
      } catch (e) {
        const message = describe(e);
        onError(val, message);
        if (strict) throw new CelEvalError(`failed to evaluate \`${val}\`: ${message}`);
        return false;
      }
      return r === true;
    };
    return leaf;
  }
  if (key !== 'all' && key !== 'any' && key !== 'none') {
    throw new CelCompileError(`${path}: unknown key "${key}" (expected expr, all, any, none)`);
  }
  if (!isObj(val) || !Array.isArray(val.of) || Object.keys(val).length !== 1) {
    throw new CelCompileError(`${path}.${key}: expected { of: [ ... ] }`);
  }
  if (val.of.length === 0) throw new CelCompileError(`${path}.${key}.of: must not be empty`);
  return combine(key, val.of.map((k, i) => compileMatch(k, `${path}.${key}.of[${i}]`, vars, consts)));
}

/** all/any/none over compiled children, stopping at the first child that decides (both evaluation flavours). */
function combine(key: 'all' | 'any' | 'none', kids: readonly Evaluator[]): Evaluator {
  const cb = kids.map((k) => k.cerbos!);
  // all: stop at the first false (-> false); any: at the first true (-> true); none: at the first true (-> false)
  const stopOn = key !== 'all';
  const stopped = key === 'any';
  const ev: Evaluator = (a, errs) => {
    for (const k of kids) if (k(a, errs) === stopOn) return stopped;
    return !stopped;
  };
  ev.cerbos = (s, strict, onError) => {
    for (const k of cb) if (k(s, strict, onError) === stopOn) return stopped;
    return !stopped;
  };
  return ev;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'double';
  if (v instanceof Date) return 'timestamp';
  if (typeof v === 'object') return 'map';
  return typeof v;
}

/** Validate a condition tree and compile every expression in it. `path` prefixes error messages (e.g. "rules[2].condition"). */
export function compileCondition(node: unknown, path = 'condition'): CompiledCondition {
  const vars = new Set<string>();
  const consts = new Set<string>();
  const inner = isObj(node) && 'match' in node
    ? (() => {
        if (Object.keys(node).length !== 1) {
          throw new CelCompileError(`${path}: only "match" is supported (got ${Object.keys(node).join(', ')})`);
        }
        return compileMatch(node.match, `${path}.match`, vars, consts);
      })()
    : compileMatch(node, path, vars, consts);
  const evaluateIn = (s: CelScope): boolean => {
    const errors: CelEvalError[] = [];
    const result = inner(s, errors);
    if (!result && errors.length > 0) {
      throw errors.length === 1 ? errors[0] : new CelEvalError(errors.map((e) => e.message).join('; '));
    }
    return result;
  };
  // A condition that is a single expression (the common case) skips the error list.
  const leaf = inner.leaf;
  const evaluateLeaf = leaf
    ? (s: CelScope): boolean => {
        let r: unknown;
        try {
          r = leaf.prog.evaluateIn(s);
        } catch (e) {
          throw new CelEvalError(`${leaf.path}.expr: ${describe(e)}`);
        }
        if (typeof r !== 'boolean') throw new CelEvalError(`${leaf.path}.expr: condition must evaluate to bool, got ${typeName(r)}`);
        return r;
      }
    : evaluateIn;
  return {
    variableRefs: vars,
    constantRefs: consts,
    tree: (isObj(node) && 'match' in node ? node.match : node) as MatchNode,
    evaluateDetailed(a: CelActivation): { result: boolean; errors: CelEvalError[] } {
      const errors: CelEvalError[] = [];
      const result = inner(scopeOf(a), errors);
      return { result, errors };
    },
    evaluate: (a: CelActivation): boolean => evaluateLeaf(scopeOf(a)),
    evaluateIn: evaluateLeaf,
    evaluateCerbos: inner.cerbos!,
  };
}
