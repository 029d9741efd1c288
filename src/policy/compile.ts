// Loading and compiling Cerbos policies: parse (YAML or JSON, one document per file), validate with zod, resolve imports,
// compile every CEL expression once, and build the indexes the evaluator uses. Any problem is reported with file,
// JSON path and message, and nothing is loaded.
import type * as z from 'zod';
import { compileCel, compileCondition, withSharedPrograms, type CelProgram, type CompiledCondition } from './cel/index.js';
import { parsePolicyText } from './documents.js';
import { PolicyLoadError, type PolicyIssue } from './errors.js';
import { anyMatcher, compileGlob, type Matcher } from './glob.js';
import {
  PolicyDocSchema,
  type ConstantsDoc,
  type DerivedRolesDoc,
  type EffectName,
  type OutputDoc,
  type PolicyDoc,
  type PrincipalPolicyDoc,
  type ResourcePolicyDoc,
  type RolePolicyDoc,
  type ScopePermissions,
  type VariablesDoc,
} from './schema.js';
import type { PolicySource } from './types.js';

export type ScopePerm = 'OVERRIDE' | 'CONSENT';

/** Variables and constants visible to a set of expressions (one policy, or one derived-roles set). */
export interface ParamSet {
  readonly id: number;
  readonly constants: Record<string, unknown>;
  /** Variables in dependency order. */
  readonly vars: readonly { name: string; prog: CelProgram }[];
}

export interface CompiledOutput {
  ruleActivated?: CelProgram;
  conditionNotMet?: CelProgram;
}

export interface CompiledDerivedRole {
  readonly name: string;
  readonly parentRoles: ReadonlySet<string>;
  readonly anyParent: boolean;
  readonly condition?: CompiledCondition;
  readonly conditionSource?: string;
  readonly params: ParamSet;
}

export interface CompiledResourceRule {
  readonly name: string;
  readonly src: string;
  readonly matchAction: Matcher;
  readonly roles: ReadonlySet<string>;
  readonly anyRole: boolean;
  readonly derivedRoles: readonly CompiledDerivedRole[];
  readonly effect: EffectName;
  readonly condition?: CompiledCondition;
  readonly conditionSource?: string;
  readonly output?: CompiledOutput;
}

export interface CompiledResourcePolicy {
  readonly key: string;
  readonly kind: string;
  readonly version: string;
  readonly scope: string;
  readonly perm: ScopePerm;
  readonly rules: readonly CompiledResourceRule[];
  readonly derivedRoles: readonly CompiledDerivedRole[];
  readonly params: ParamSet;
  /** action -> rules whose action patterns match it (memoised, bounded). */
  readonly byAction: Map<string, readonly CompiledResourceRule[]>;
}

export interface CompiledPrincipalRule {
  readonly name: string;
  readonly src: string;
  readonly matchResource: Matcher;
  readonly matchAction: Matcher;
  readonly effect: EffectName;
  readonly condition?: CompiledCondition;
  readonly conditionSource?: string;
  readonly output?: CompiledOutput;
}

export interface CompiledPrincipalPolicy {
  readonly key: string;
  readonly principal: string;
  readonly version: string;
  readonly scope: string;
  readonly perm: ScopePerm;
  readonly rules: readonly CompiledPrincipalRule[];
  readonly params: ParamSet;
}

export interface CompiledRoleRule {
  readonly name: string;
  readonly src: string;
  readonly output?: CompiledOutput;
  readonly matchResource: Matcher;
  readonly matchAction: Matcher;
  readonly condition?: CompiledCondition;
  readonly conditionSource?: string;
}

export interface CompiledRolePolicy {
  readonly key: string;
  readonly role: string;
  readonly version: string;
  readonly scope: string;
  readonly perm: ScopePerm;
  readonly parentRoles: readonly string[];
  readonly rules: readonly CompiledRoleRule[];
  readonly params: ParamSet;
}

export interface CompiledPolicySet {
  /** `${kind}\u0000${version}` -> scope -> policy */
  readonly resource: Map<string, Map<string, CompiledResourcePolicy>>;
  /** `${principalId}\u0000${version}` -> scope -> policy */
  readonly principal: Map<string, Map<string, CompiledPrincipalPolicy>>;
  /** `${version}\u0000${scope}` -> role -> policy */
  readonly role: Map<string, Map<string, CompiledRolePolicy>>;
  /** All scopes (resource or role policies) per version, for scope search. */
  readonly resourceScopes: Map<string, Set<string>>;
  /**
   * Scopes that exist for resource checks: those of every resource or role policy, whatever its
   * kind or version, even one without rules (Cerbos decides whether a requested scope exists across the whole store, not per kind).
   */
  readonly resourceScopeSet: ReadonlySet<string>;
  /** Scopes that exist for principal checks: those of every principal policy, whoever its principal. */
  readonly principalScopeSet: ReadonlySet<string>;
  readonly policyCount: number;
  /** Every loaded policy key, with the file it came from. */
  readonly sources: ReadonlyMap<string, string>;
}

interface LoadedDoc {
  file: string;
  doc: PolicyDoc;
}

const NO_CONSTANTS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const key2 = (a: string, b: string) => `${a}\u0000${b}`;

// Names in policy keys are written the way Cerbos writes them: a name of the pre-0.30 shape (letters first, then word
// characters, `@ . - /`, in `:`-separated parts) has every run of characters other than word characters and `.`
// replaced by `_` (`album:object` -> `album_object`); any other name is kept as it is.
const OLD_NAME = /^[A-Za-z][\w@.\-/]*(:[A-Za-z][\w@.\-/]*)*$/;
const sanitize = (v: string) => (OLD_NAME.test(v) ? v.replace(/[^\w.]+/g, '_') : v);
/** A scope and its ancestors, most specific first, ending with the root scope `""` (`a.b` → `a.b`, `a`, ``). */
export function scopeChain(scope: string): string[] {
  const out = [scope];
  let s = scope;
  while (s) {
    const i = s.lastIndexOf('.');
    s = i < 0 ? '' : s.slice(0, i);
    out.push(s);
  }
  return out;
}

export function resourcePolicyKey(kind: string, version: string, scope: string): string {
  return `resource.${sanitize(kind)}.v${sanitize(version)}${scope ? `/${scope}` : ''}`;
}
export function principalPolicyKey(id: string, version: string, scope: string): string {
  return `principal.${sanitize(id)}.v${sanitize(version)}${scope ? `/${scope}` : ''}`;
}
export function rolePolicyKey(role: string, version: string, scope: string): string {
  return `role.${sanitize(role)}.v${sanitize(version)}${scope ? `/${scope}` : ''}`;
}

function perm(p: ScopePermissions | undefined): ScopePerm {
  return p === 'SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS' ? 'CONSENT' : 'OVERRIDE';
}

function zodPath(path: readonly PropertyKey[]): string {
  let s = '$';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return s;
}

/** Parse policy sources (YAML or JSON, one policy document per file) and validate each document's shape. */
export function parsePolicySources(sources: readonly PolicySource[], issues: PolicyIssue[]): LoadedDoc[] {
  const out: LoadedDoc[] = [];
  for (const src of sources) {
    const list = parsePolicyText(src.content);
    // Like Cerbos: one policy per file; a second YAML document (not merely a leading or trailing `---`) is refused.
    if (list.filter((d) => d.error !== undefined || d.value != null).length > 1) {
      issues.push({ file: src.name, path: '$', message: 'more than one YAML document detected: a policy file holds exactly one policy' });
      continue;
    }
    list.forEach((d, i) => {
      const file = list.length > 1 ? `${src.name}#${i + 1}` : src.name;
      if (d.error !== undefined) {
        issues.push({ file, path: '$', message: `invalid YAML/JSON: ${d.error}` });
        return;
      }
      const value: unknown = d.value;
      if (value === null || value === undefined) return;
      const parsed = PolicyDocSchema.safeParse(value);
      if (!parsed.success) {
        for (const iss of parsed.error.issues) issues.push({ file, path: zodPath(iss.path), message: issueMessage(iss) });
        return;
      }
      out.push({ file, doc: parsed.data });
    });
  }
  return out;
}

function issueMessage(iss: z.core.$ZodIssue): string {
  if (iss.code === 'unrecognized_keys') return `unknown field(s): ${iss.keys.join(', ')}`;
  return iss.message;
}

const RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);
function identifierProblem(name: string): string | undefined {
  if (RESERVED.has(name)) return `"${name}" is a reserved keyword and can't be used as an identifier`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `"${name}" is not a valid identifier`;
  return undefined;
}

/** A JSON-path member segment, quoted when the key itself contains a dot. */
const seg = (k: string) => (k.includes('.') ? `'${k}'` : k);

class Ctx {
  issues: PolicyIssue[] = [];
  file = '';
  private nextParamId = 0;
  err(path: string, message: string): void {
    this.issues.push({ file: this.file, path, message });
  }
  paramId(): number {
    return this.nextParamId++;
  }
}

function celOrIssue(ctx: Ctx, src: string, path: string): CelProgram | undefined {
  try {
    return compileCel(src);
  } catch (e) {
    ctx.err(path, `invalid expression \`${src.trim()}\`: ${(e as Error).message}`);
    return undefined;
  }
}

function condOrIssue(ctx: Ctx, cond: unknown, path: string, params: ParamSet, varNames: ReadonlySet<string>): CompiledCondition | undefined {
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

function conditionSource(cond: unknown): string | undefined {
  if (cond === undefined) return undefined;
  const m = (cond as { match?: { expr?: string } }).match;
  return typeof m?.expr === 'string' ? m.expr : JSON.stringify(m);
}

interface Exports {
  variables: Map<string, { file: string; defs: Record<string, string> }>;
  constants: Map<string, { file: string; defs: Record<string, unknown> }>;
}

/** Build the variables/constants of one policy. Reports missing imports, redefinitions, bad CEL, cycles. */
function buildParams(
  ctx: Ctx,
  exportsIdx: Exports,
  root: string,
  variables: VariablesDoc | undefined,
  constants: ConstantsDoc | undefined,
  legacyVars: Record<string, string> | undefined,
): { params: ParamSet; varNames: Set<string> } {
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

  const defs = new Map<string, { src: string; path: string }>();
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

  const progs = new Map<string, CelProgram>();
  const names = new Set(defs.keys());
  const params = { id: ctx.paramId(), constants: Object.keys(consts).length > 0 ? consts : NO_CONSTANTS, vars: [] as { name: string; prog: CelProgram }[] };
  for (const [name, d] of defs) {
    const prog = celOrIssue(ctx, d.src, d.path);
    if (!prog) continue;
    checkRefs(ctx, prog, d.path, params, names);
    progs.set(name, prog);
  }
  // topological order; report cycles
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
    params.vars.push({ name, prog });
  };
  for (const name of progs.keys()) visit(name, []);
  return { params, varNames: names };
}

function compileOutput(ctx: Ctx, out: OutputDoc | undefined, path: string, params: ParamSet, names: ReadonlySet<string>): CompiledOutput | undefined {
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

function ruleName(name: string | undefined, i: number): string {
  return name && name.length > 0 ? name : `rule-${String(i + 1).padStart(3, '0')}`;
}

/** Load, validate and compile a list of policy sources. Throws PolicyLoadError listing every problem. */
export interface CompileOptions {
  /**
   * JSON schemas available to `schemas.principalSchema/resourceSchema` refs (`cerbos:///NAME` -> the file `_schemas/NAME`),
   * keyed by NAME. When given, every ref must name an existing schema that parses as a JSON schema (object or
   * boolean); when absent, refs are not checked (schema validation of requests is not implemented).
   */
  schemas?: ReadonlyMap<string, string>;
}

export function compilePolicies(sources: readonly PolicySource[], options: CompileOptions = {}): CompiledPolicySet {
  return withSharedPrograms(() => compileAll(sources, options));
}

function compileAll(sources: readonly PolicySource[], options: CompileOptions): CompiledPolicySet {
  const ctx = new Ctx();
  const loaded = parsePolicySources(sources, ctx.issues).filter((l) => l.doc.disabled !== true);

  const exportsIdx: Exports = { variables: new Map(), constants: new Map() };
  const derivedSets = new Map<string, { file: string; doc: DerivedRolesDoc; legacy: Record<string, string> | undefined; compiled?: Map<string, CompiledDerivedRole> }>();
  const seen = new Map<string, string>();
  const dup = (file: string, key: string, path: string) => {
    const prev = seen.get(key);
    if (prev !== undefined) ctx.issues.push({ file, path, message: `duplicate policy definition: ${key} is also defined in ${prev}` });
    else seen.set(key, file);
  };

  for (const { file, doc } of loaded) {
    if (doc.exportVariables || doc.exportConstants) {
      const [kind, defs] = doc.exportVariables ? ['exportVariables', doc.exportVariables.definitions] : ['exportConstants', doc.exportConstants!.definitions];
      ctx.file = file;
      for (const k of Object.keys(defs)) {
        const bad = identifierProblem(k);
        if (bad) ctx.err(`$.${kind}.definitions.${seg(k)}`, `invalid ${kind === 'exportVariables' ? 'variable' : 'constant'} name: ${bad}`);
      }
    }
    if (doc.exportVariables) {
      dup(file, `export_variables.${doc.exportVariables.name}`, '$.exportVariables.name');
      exportsIdx.variables.set(doc.exportVariables.name, { file, defs: doc.exportVariables.definitions });
    } else if (doc.exportConstants) {
      dup(file, `export_constants.${doc.exportConstants.name}`, '$.exportConstants.name');
      exportsIdx.constants.set(doc.exportConstants.name, { file, defs: doc.exportConstants.definitions });
    } else if (doc.derivedRoles) {
      dup(file, `derived_roles.${doc.derivedRoles.name}`, '$.derivedRoles.name');
      derivedSets.set(doc.derivedRoles.name, { file, doc: doc.derivedRoles, legacy: doc.variables });
    }
  }

  const getDerivedSet = (name: string): Map<string, CompiledDerivedRole> | undefined => {
    const s = derivedSets.get(name);
    if (!s) return undefined;
    if (s.compiled) return s.compiled;
    const saved = ctx.file;
    ctx.file = s.file;
    const { params, varNames } = buildParams(ctx, exportsIdx, '$.derivedRoles', s.doc.variables, s.doc.constants, s.legacy);
    const m = new Map<string, CompiledDerivedRole>();
    s.doc.definitions.forEach((d, i) => {
      const path = `$.derivedRoles.definitions[${i}]`;
      if (m.has(d.name)) ctx.err(`${path}.name`, `derived role '${d.name}' is defined more than once`);
      const cond = d.condition ? condOrIssue(ctx, d.condition, `${path}.condition`, params, varNames) : undefined;
      const cs = conditionSource(d.condition);
      m.set(d.name, {
        name: d.name,
        parentRoles: new Set(d.parentRoles),
        anyParent: d.parentRoles.includes('*'),
        ...(cond ? { condition: cond } : {}),
        ...(cs !== undefined ? { conditionSource: cs } : {}),
        params,
      });
    });
    ctx.file = saved;
    s.compiled = m;
    return m;
  };
  // compile every derived-roles set even if unused, so errors surface at load
  for (const name of derivedSets.keys()) getDerivedSet(name);

  const set: CompiledPolicySet = {
    resource: new Map(),
    principal: new Map(),
    role: new Map(),
    resourceScopes: new Map(),
    resourceScopeSet: new Set(),
    principalScopeSet: new Set(),
    policyCount: 0,
    sources: seen,
  };
  const resourceScopeSet = new Set<string>();
  const principalScopeSet = new Set<string>();
  let count = 0;

  for (const { file, doc } of loaded) {
    ctx.file = file;
    if (doc.resourcePolicy) {
      if (options.schemas) checkSchemaRefs(ctx, doc.resourcePolicy.schemas, options.schemas);
      const rp = compileResource(ctx, exportsIdx, doc.resourcePolicy, doc.variables, getDerivedSet);
      dup(file, rp.key, '$.resourcePolicy');
      const k = key2(rp.kind, rp.version);
      let m = set.resource.get(k);
      if (!m) set.resource.set(k, (m = new Map()));
      m.set(rp.scope, rp);
      resourceScopeSet.add(rp.scope);
      count++;
    } else if (doc.principalPolicy) {
      const pp = compilePrincipal(ctx, exportsIdx, doc.principalPolicy, doc.variables);
      dup(file, pp.key, '$.principalPolicy');
      const k = key2(pp.principal, pp.version);
      let m = set.principal.get(k);
      if (!m) set.principal.set(k, (m = new Map()));
      m.set(pp.scope, pp);
      principalScopeSet.add(pp.scope);
      count++;
    } else if (doc.rolePolicy) {
      const rp = compileRole(ctx, exportsIdx, doc.rolePolicy);
      dup(file, rp.key, '$.rolePolicy');
      const k = key2(rp.version, rp.scope);
      let m = set.role.get(k);
      if (!m) set.role.set(k, (m = new Map()));
      m.set(rp.role, rp);
      resourceScopeSet.add(rp.scope);
      count++;
    }
  }

  // Scoped policies need every ancestor scope to exist (same kind/version, or principal id/version).
  const ancestors = (scope: string) => scopeChain(scope).slice(1);
  for (const [k, scopes] of set.resource) {
    for (const [scope, p] of scopes) {
      for (const a of ancestors(scope)) {
        if (!scopes.has(a)) {
          ctx.issues.push({ file: seen.get(p.key) ?? '', path: '$.resourcePolicy.scope', message: `missing ancestor policy ${resourcePolicyKey(p.kind, p.version, a)} for scoped policy ${p.key}` });
          break;
        }
      }
    }
    const version = k.split('\u0000')[1]!;
    let vs = set.resourceScopes.get(version);
    if (!vs) set.resourceScopes.set(version, (vs = new Set()));
    for (const s of scopes.keys()) vs.add(s);
  }
  for (const scopes of set.principal.values()) {
    for (const [scope, p] of scopes) {
      for (const a of ancestors(scope)) {
        if (!scopes.has(a)) {
          ctx.issues.push({ file: seen.get(p.key) ?? '', path: '$.principalPolicy.scope', message: `missing ancestor policy ${principalPolicyKey(p.principal, p.version, a)} for scoped policy ${p.key}` });
          break;
        }
      }
    }
  }
  for (const k of set.role.keys()) {
    const [version, scope] = k.split('\u0000') as [string, string];
    let vs = set.resourceScopes.get(version);
    if (!vs) set.resourceScopes.set(version, (vs = new Set()));
    vs.add(scope);
  }

  if (ctx.issues.length > 0) throw new PolicyLoadError(ctx.issues);
  return { ...set, resourceScopeSet, principalScopeSet, policyCount: count };
}

function checkSchemaRefs(ctx: Ctx, schemas: Record<string, unknown> | undefined, available: ReadonlyMap<string, string>): void {
  if (!schemas) return;
  for (const [key, what] of [['principalSchema', 'principal'], ['resourceSchema', 'resource']] as const) {
    const s = schemas[key];
    if (s === undefined) continue;
    const path = `$.resourcePolicy.schemas.${key}.ref`;
    const ref = typeof s === 'object' && s !== null ? (s as { ref?: unknown }).ref : undefined;
    if (typeof ref !== 'string' || !ref.startsWith('cerbos:///')) {
      ctx.err(path, `invalid schema: ${what} schema ref must be a string of the form cerbos:///NAME`);
      continue;
    }
    const name = ref.slice('cerbos:///'.length);
    const content = available.get(name);
    if (content === undefined) {
      ctx.err(path, `invalid schema: failed to load ${what} schema "${ref}": schema _schemas/${name} doesn't exist`);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(content);
    } catch (e) {
      ctx.err(path, `invalid schema: failed to load ${what} schema "${ref}": ${(e as Error).message}`);
      continue;
    }
    if (typeof parsed !== 'boolean' && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)))
      ctx.err(path, `invalid schema: failed to load ${what} schema "${ref}": a JSON schema must be an object or a boolean`);
  }
}

function compileResource(
  ctx: Ctx,
  exportsIdx: Exports,
  p: ResourcePolicyDoc,
  legacyVars: Record<string, string> | undefined,
  getDerivedSet: (name: string) => Map<string, CompiledDerivedRole> | undefined,
): CompiledResourcePolicy {
  const scope = p.scope ?? '';
  const key = resourcePolicyKey(p.resource, p.version, scope);
  const { params, varNames } = buildParams(ctx, exportsIdx, '$.resourcePolicy', p.variables, p.constants, legacyVars);
  const drs = new Map<string, CompiledDerivedRole>();
  const drOrigin = new Map<string, string>();
  (p.importDerivedRoles ?? []).forEach((name, i) => {
    const s = getDerivedSet(name);
    if (!s) return ctx.err(`$.resourcePolicy.importDerivedRoles[${i}]`, `derived roles import '${name}' cannot be found`);
    for (const [n, dr] of s) {
      if (drOrigin.has(n)) {
        ctx.err(`$.resourcePolicy.importDerivedRoles[${i}]`, `derived role '${n}' is ambiguous: defined in both '${drOrigin.get(n)}' and '${name}'`);
        continue;
      }
      drOrigin.set(n, name);
      drs.set(n, dr);
    }
  });
  const usedDrs = new Set<CompiledDerivedRole>();
  const rules: CompiledResourceRule[] = [];
  (p.rules ?? []).forEach((r, i) => {
    const path = `$.resourcePolicy.rules[${i}]`;
    if ((r.roles ?? []).length === 0 && (r.derivedRoles ?? []).length === 0)
      ctx.err(path, 'rule must specify at least one of roles or derivedRoles');
    const ruleDrs: CompiledDerivedRole[] = [];
    (r.derivedRoles ?? []).forEach((d, j) => {
      const dr = drs.get(d);
      if (!dr) ctx.err(`${path}.derivedRoles[${j}]`, `unknown derived role '${d}' (not defined in any imported derived roles set)`);
      else {
        ruleDrs.push(dr);
        usedDrs.add(dr);
      }
    });
    const name = ruleName(r.name, i);
    const cond = r.condition ? condOrIssue(ctx, r.condition, `${path}.condition`, params, varNames) : undefined;
    const out = compileOutput(ctx, r.output, `${path}.output`, params, varNames);
    const cs = conditionSource(r.condition);
    rules.push({
      name,
      src: `${key}#${name}`,
      matchAction: anyMatcher(r.actions),
      roles: new Set(r.roles ?? []),
      anyRole: (r.roles ?? []).includes('*'),
      derivedRoles: ruleDrs,
      effect: r.effect,
      ...(cond ? { condition: cond } : {}),
      ...(cs !== undefined ? { conditionSource: cs } : {}),
      ...(out ? { output: out } : {}),
    });
  });
  return {
    key,
    kind: p.resource,
    version: p.version,
    scope,
    perm: perm(p.scopePermissions),
    rules,
    derivedRoles: [...drs.values()].filter((d) => usedDrs.has(d)),
    params,
    byAction: new Map(),
  };
}

function compilePrincipal(
  ctx: Ctx,
  exportsIdx: Exports,
  p: PrincipalPolicyDoc,
  legacyVars: Record<string, string> | undefined,
): CompiledPrincipalPolicy {
  const scope = p.scope ?? '';
  const key = principalPolicyKey(p.principal, p.version, scope);
  const { params, varNames } = buildParams(ctx, exportsIdx, '$.principalPolicy', p.variables, p.constants, legacyVars);
  const rules: CompiledPrincipalRule[] = [];
  let n = 0;
  (p.rules ?? []).forEach((r, i) => {
    const matchResource = compileGlob(r.resource);
    r.actions.forEach((a, j) => {
      const path = `$.principalPolicy.rules[${i}].actions[${j}]`;
      const name = ruleName(a.name, n++);
      const cond = a.condition ? condOrIssue(ctx, a.condition, `${path}.condition`, params, varNames) : undefined;
      const out = compileOutput(ctx, a.output, `${path}.output`, params, varNames);
      const cs = conditionSource(a.condition);
      rules.push({
        name,
        src: `${key}#${name}`,
        matchResource,
        matchAction: compileGlob(a.action),
        effect: a.effect,
        ...(cond ? { condition: cond } : {}),
        ...(cs !== undefined ? { conditionSource: cs } : {}),
        ...(out ? { output: out } : {}),
      });
    });
  });
  return { key, principal: p.principal, version: p.version, scope, perm: perm(p.scopePermissions), rules, params };
}

function compileRole(ctx: Ctx, exportsIdx: Exports, p: RolePolicyDoc): CompiledRolePolicy {
  const scope = p.scope ?? '';
  const version = p.version ?? 'default';
  const key = rolePolicyKey(p.role, version, scope);
  const { params, varNames } = buildParams(ctx, exportsIdx, '$.rolePolicy', p.variables, p.constants, undefined);
  const rules: CompiledRoleRule[] = (p.rules ?? []).map((r, i) => {
    const path = `$.rolePolicy.rules[${i}]`;
    const cond = r.condition ? condOrIssue(ctx, r.condition, `${path}.condition`, params, varNames) : undefined;
    const cs = conditionSource(r.condition);
    const name = ruleName(r.name, i);
    const out = compileOutput(ctx, r.output, `${path}.output`, params, varNames);
    return {
      name,
      src: `${key}#${name}`,
      ...(out ? { output: out } : {}),
      matchResource: compileGlob(r.resource),
      matchAction: anyMatcher(r.allowActions),
      ...(cond ? { condition: cond } : {}),
      ...(cs !== undefined ? { conditionSource: cs } : {}),
    };
  });
  return { key, role: p.role, version, scope, perm: perm(p.scopePermissions), parentRoles: p.parentRoles ?? [], rules, params };
}
