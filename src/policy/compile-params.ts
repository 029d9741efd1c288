// The loader's shared steps: where problems are collected (Ctx), CEL expressions and conditions compiled with their
// references checked, a policy's variables and constants (imports, redefinitions, cycles), outputs and rule names.
import { compileCel, compileCondition, type CelProgram, type CompiledCondition } from './cel/index.js';
import type { CompiledOutput, ParamSet, ScopePerm } from './compiled.js';
import type { PolicyIssue } from './errors.js';
import type { ConstantsDoc, OutputDoc, ScopePermissions, VariablesDoc } from './schema.js';

const NO_CONSTANTS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

const RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);
export function identifierProblem(name: string): string | undefined {
  if (RESERVED.has(name)) return `"${name}" is a reserved keyword and can't be used as an identifier`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `"${name}" is not a valid identifier`;
  return undefined;
}

/** A JSON-path member segment, quoted when the key itself contains a dot. */
export const seg = (k: string) => (k.includes('.') ? `'${k}'` : k);

/** The problems found so far, and the file being compiled. */
export class Ctx {
  issues: PolicyIssue[] = [];
  file = '';
  private nextParamId = 0;
  err(path: string, message: string): void {
    this.issues.push({ file: this.file, path, message });
  }
  paramId(): number {
    return this.nextParamId++;
  }
  private readonly paramsByContent = new Map<string, ParamSet>();
  /**
   * One object per distinct content (constants, and variables in order with their sources): a check evaluates the
   * variables of a parameter set once and reuses the values wherever the same set appears, in whichever policy, as
   * Cerbos does (its rule table keys its variable cache by a hash of the rows' parameters).
   */
  intern(p: ParamSet): ParamSet {
    // Cerbos orders a policy's variables by dependency, then by name: the same variables give the same order there.
    const key = JSON.stringify([canonicalJson(p.constants), p.vars.map((v) => [v.name, v.prog.source]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0))]);
    const seen = this.paramsByContent.get(key);
    if (seen) return seen;
    this.paramsByContent.set(key, p);
    return p;
  }
}

/** A JSON value with object keys sorted (for content keys that do not depend on the order keys were written in). */
function canonicalJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonicalJson);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, canonicalJson(o[k])]));
}

/** Exported variables and constants by export name. */
export interface Exports {
  variables: Map<string, { file: string; defs: Record<string, string> }>;
  constants: Map<string, { file: string; defs: Record<string, unknown> }>;
}

export function celOrIssue(ctx: Ctx, src: string, path: string): CelProgram | undefined {
  try {
    return compileCel(src);
  } catch (e) {
    ctx.err(path, `invalid expression \`${src.trim()}\`: ${(e as Error).message}`);
    return undefined;
  }
}

export function condOrIssue(ctx: Ctx, cond: unknown, path: string, params: ParamSet, varNames: ReadonlySet<string>): CompiledCondition | undefined {
  let c: CompiledCondition;
  try {
    c = compileCondition(cond, path);
  } catch (e) {
    ctx.err(path, `invalid condition: ${(e as Error).message}`);
    return undefined;
  }
  checkRefs(ctx, c, path, params, varNames);
  return c;
}

function checkRefs(
  ctx: Ctx,
  p: { variableRefs: ReadonlySet<string>; constantRefs: ReadonlySet<string> },
  path: string,
  params: ParamSet,
  varNames: ReadonlySet<string>,
): void {
  for (const v of p.variableRefs) if (!varNames.has(v)) ctx.err(path, `undefined variable '${v}'`);
  for (const c of p.constantRefs) if (!(c in params.constants)) ctx.err(path, `undefined constant '${c}'`);
}

export function conditionSource(cond: unknown): string | undefined {
  if (cond === undefined) return undefined;
  const m = (cond as { match?: { expr?: string } }).match;
  return typeof m?.expr === 'string' ? m.expr : JSON.stringify(m);
}

/** Build the variables/constants of one policy. Reports missing imports, redefinitions, bad CEL, cycles. */
export function buildParams(
  ctx: Ctx,
  exportsIdx: Exports,
  root: string,
  variables: VariablesDoc | undefined,
  constants: ConstantsDoc | undefined,
  legacyVars: Record<string, string> | undefined,
): { params: ParamSet; varNames: Set<string> } {
  const consts = constantsOf(ctx, exportsIdx, root, constants);
  const defs = variableDefs(ctx, exportsIdx, root, variables, legacyVars);
  const progs = new Map<string, CelProgram>();
  const names = new Set(defs.keys());
  const params = { id: ctx.paramId(), constants: Object.keys(consts).length > 0 ? consts : NO_CONSTANTS, vars: [] as { name: string; prog: CelProgram }[] };
  for (const [name, d] of defs) {
    const prog = celOrIssue(ctx, d.src, d.path);
    if (!prog) continue;
    checkRefs(ctx, prog, d.path, params, names);
    progs.set(name, prog);
  }
  params.vars.push(...dependencyOrder(ctx, defs, progs));
  return { params, varNames: names };
}

/** An expression that may read variables and constants (a condition, an output, a variable's program). */
type ParamUser = { variableRefs: ReadonlySet<string>; constantRefs: ReadonlySet<string> };

/**
 * The part of `params` that `users` (a policy's conditions and outputs, or one derived role's condition) read, directly
 * or through other variables, in the same order, with only the constants they (or those variables) read. Cerbos
 * compiles only these into a policy or derived role, and so evaluates, and reports errors of, no other variable; and
 * its per-check variable cache is keyed by exactly this content (see `Ctx.intern`).
 */
export function usedParams(ctx: Ctx, params: ParamSet, users: readonly (ParamUser | undefined)[]): ParamSet {
  const byName = new Map(params.vars.map((v) => [v.name, v]));
  const used = new Set<string>();
  const consts = new Set<string>();
  const use = (name: string): void => {
    const v = byName.get(name);
    if (!v || used.has(name)) return;
    used.add(name);
    for (const c of v.prog.constantRefs) consts.add(c);
    for (const d of v.prog.variableRefs) use(d);
  };
  for (const u of users) {
    if (!u) continue;
    for (const c of u.constantRefs) consts.add(c);
    for (const name of u.variableRefs) use(name);
  }
  const names = Object.keys(params.constants);
  const constants = names.every((k) => consts.has(k))
    ? params.constants
    : names.some((k) => consts.has(k))
      ? Object.fromEntries(names.filter((k) => consts.has(k)).map((k) => [k, params.constants[k]]))
      : NO_CONSTANTS;
  const vars = used.size === params.vars.length ? params.vars : params.vars.filter((v) => used.has(v.name));
  if (constants === params.constants && vars === params.vars) return ctx.intern(params);
  return ctx.intern({ id: ctx.paramId(), constants, vars });
}

/** The expressions of a rule that can read variables: its condition and its outputs. */
export function ruleUsers(r: { condition?: ParamUser; output?: CompiledOutput }): (ParamUser | undefined)[] {
  return [r.condition, r.output?.ruleActivated, r.output?.conditionNotMet];
}

function constantsOf(ctx: Ctx, exportsIdx: Exports, root: string, constants: ConstantsDoc | undefined): Record<string, unknown> {
  const consts: Record<string, unknown> = {};
  const constOrigin = new Map<string, string>();
  (constants?.import ?? []).forEach((name, i) => {
    const ex = exportsIdx.constants.get(name);
    if (!ex) return ctx.err(`${root}.constants.import[${i}]`, `constants import '${name}' cannot be found`);
    for (const [k, v] of Object.entries(ex.defs)) {
      if (constOrigin.has(k)) ctx.err(`${root}.constants.import[${i}]`, `constant '${k}' has multiple definitions (${constOrigin.get(k)}, ${name})`);
      constOrigin.set(k, name);
      consts[k] = v;
    }
  });
  for (const [k, v] of Object.entries(constants?.local ?? {})) {
    const bad = identifierProblem(k);
    if (bad) ctx.err(`${root}.constants.local.${seg(k)}`, `invalid constant name: ${bad}`);
    if (constOrigin.has(k)) ctx.err(`${root}.constants.local.${k}`, `constant '${k}' has multiple definitions (${constOrigin.get(k)}, local)`);
    constOrigin.set(k, 'local');
    consts[k] = v;
  }
  return consts;
}

type VarDefs = Map<string, { src: string; path: string }>;

/** The variable definitions of a policy: imported, top-level (legacy) and local, each name once. */
function variableDefs(ctx: Ctx, exportsIdx: Exports, root: string, variables: VariablesDoc | undefined, legacyVars: Record<string, string> | undefined): VarDefs {
  const defs: VarDefs = new Map();
  const varOrigin = new Map<string, string>();
  const addVar = (name: string, src: string, path: string, origin: string) => {
    if (varOrigin.has(name)) ctx.err(path, `variable '${name}' has multiple definitions (${varOrigin.get(name)}, ${origin})`);
    varOrigin.set(name, origin);
    defs.set(name, { src, path });
  };
  (variables?.import ?? []).forEach((name, i) => {
    const ex = exportsIdx.variables.get(name);
    if (!ex) return ctx.err(`${root}.variables.import[${i}]`, `variables import '${name}' cannot be found`);
    for (const [k, v] of Object.entries(ex.defs)) addVar(k, v, `${root}.variables.import[${i}]`, `import ${name}`);
  });
  for (const [k, base] of [
    ...Object.keys(legacyVars ?? {}).map((k) => [k, '$.variables'] as const),
    ...Object.keys(variables?.local ?? {}).map((k) => [k, `${root}.variables.local`] as const),
  ]) {
    const bad = identifierProblem(k);
    if (bad) ctx.err(`${base}.${seg(k)}`, `invalid variable name: ${bad}`);
  }
  for (const [k, v] of Object.entries(legacyVars ?? {})) addVar(k, v, `$.variables.${k}`, 'top-level variables');
  for (const [k, v] of Object.entries(variables?.local ?? {})) addVar(k, v, `${root}.variables.local.${k}`, 'local');
  return defs;
}

/** The variables in dependency order (each after those it uses); a cycle is reported. */
function dependencyOrder(ctx: Ctx, defs: VarDefs, progs: ReadonlyMap<string, CelProgram>): { name: string; prog: CelProgram }[] {
  const out: { name: string; prog: CelProgram }[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (name: string, stack: string[]): void => {
    const st = state.get(name);
    if (st === 2) return;
    if (st === 1) {
      const cyc = [...stack.slice(stack.indexOf(name)), name];
      ctx.err(defs.get(name)!.path, `variable cycle: ${cyc.join(' -> ')}`);
      return;
    }
    const prog = progs.get(name);
    if (!prog) return;
    state.set(name, 1);
    for (const dep of prog.variableRefs) if (progs.has(dep)) visit(dep, [...stack, name]);
    state.set(name, 2);
    out.push({ name, prog });
  };
  for (const name of progs.keys()) visit(name, []);
  return out;
}

export function compileOutput(ctx: Ctx, out: OutputDoc | undefined, path: string, params: ParamSet, names: ReadonlySet<string>): CompiledOutput | undefined {
  if (!out) return undefined;
  if (!out.expr && !out.when?.ruleActivated && !out.when?.conditionNotMet) {
    ctx.err(path, 'empty output: output must have at least one expression');
    return undefined;
  }
  const res: CompiledOutput = {};
  const one = (src: string | null | undefined, p: string) => {
    if (src === undefined || src === null || src === '') return undefined;
    const prog = celOrIssue(ctx, src, p);
    if (prog) checkRefs(ctx, prog, p, params, names);
    return prog;
  };
  const ra = one(out.when?.ruleActivated, `${path}.when.ruleActivated`);
  const cnm = one(out.when?.conditionNotMet, `${path}.when.conditionNotMet`);
  const legacy = one(out.expr, `${path}.expr`);
  if (ra) res.ruleActivated = ra;
  else if (legacy) res.ruleActivated = legacy;
  if (cnm) res.conditionNotMet = cnm;
  return res.ruleActivated || res.conditionNotMet ? res : undefined;
}

export function ruleName(name: string | undefined, i: number): string {
  return name && name.length > 0 ? name : `rule-${String(i + 1).padStart(3, '0')}`;
}

export function perm(p: ScopePermissions | undefined): ScopePerm {
  return p === 'SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS' ? 'CONSENT' : 'OVERRIDE';
}
