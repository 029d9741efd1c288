// Loading and compiling Cerbos policies: parse (YAML or JSON, one document per file), validate with zod, resolve imports,
// compile every CEL expression once (compile-params.ts, compile-policy.ts), and put the policies into the set the
// engine queries (policy-set.ts). Any problem is reported with file, JSON path and message, and nothing is loaded.
import type * as z from 'zod';
import { withSharedPrograms } from './cel/index.js';
import type { CompiledDerivedRole } from './compiled.js';
import { compileDerivedRoles, compilePrincipal, compileResource, compileRole, checkSchemaRefs } from './compile-policy.js';
import { Ctx, identifierProblem, seg, type Exports } from './compile-params.js';
import { parsePolicyText } from './documents.js';
import { PolicyLoadError, type PolicyIssue } from './errors.js';
import { PolicySetBuilder, type CompiledPolicySet } from './policy-set.js';
import { principalPolicyKey, resourcePolicyKey, scopeChain } from './policy-keys.js';
import { PolicyDocSchema, type DerivedRolesDoc, type PolicyDoc } from './schema.js';
import { JsonSchemaError, SchemaCompiler, type CompiledSchema } from './jsonschema.js';
import { refCheck, schemaRefsOf, type PolicySchemas } from './schema-validation.js';
import type { PolicySource } from './types.js';

export type * from './compiled.js';
export { principalPolicyKey, resourcePolicyKey, rolePolicyKey, scopeChain } from './policy-keys.js';

export type { CompiledPolicySet };

interface LoadedDoc {
  file: string;
  doc: PolicyDoc;
}

function zodPath(path: readonly PropertyKey[]): string {
  let s = '$';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return s;
}

/** A source named `_schemas/NAME` is the JSON schema `cerbos:///NAME` (the `_schemas/` folder of a policy directory). */
export const SCHEMA_DIR = '_schemas/';

/** Parse policy sources (YAML or JSON, one policy document per file) and validate each document's shape. */
export function parsePolicySources(sources: readonly PolicySource[], issues: PolicyIssue[]): LoadedDoc[] {
  const out: LoadedDoc[] = [];
  for (const src of sources) {
    if (src.name.startsWith(SCHEMA_DIR)) continue;
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

/** Load, validate and compile a list of policy sources. Throws PolicyLoadError listing every problem. */
export interface CompileOptions {
  /**
   * JSON schemas available to `schemas.principalSchema/resourceSchema` refs (`cerbos:///NAME` -> the file `_schemas/NAME`),
   * keyed by NAME. When given, every ref must name an existing schema that parses as a JSON schema (object or
   * boolean); when absent (and no `_schemas/` source is given), refs are not checked.
   * Sources named `_schemas/NAME` (as `readPolicies` returns a directory's `_schemas/*.json`) are added to these.
   * When any schema is available, every referenced schema is compiled at load (a schema that does not compile, or uses
   * a keyword the validator does not enforce, is a load error naming the file); when none is, refs are not checked and
   * only schema enforcement `none` can use the policies.
   */
  schemas?: ReadonlyMap<string, string>;
}

export function compilePolicies(sources: readonly PolicySource[], options: CompileOptions = {}): CompiledPolicySet {
  return withSharedPrograms(() => compileAll(sources, options));
}

/** Policy keys (and export names) already loaded, with their file: a second definition is reported. */
class Seen {
  readonly files = new Map<string, string>();
  constructor(private readonly ctx: Ctx) {}
  add(file: string, key: string, path: string): void {
    const prev = this.files.get(key);
    if (prev !== undefined) this.ctx.issues.push({ file, path, message: `duplicate policy definition: ${key} is also defined in ${prev}` });
    else this.files.set(key, file);
  }
}

interface DerivedSet {
  file: string;
  doc: DerivedRolesDoc;
  legacy: Record<string, string> | undefined;
  compiled?: Map<string, CompiledDerivedRole>;
}

function compileAll(sources: readonly PolicySource[], options: CompileOptions): CompiledPolicySet {
  const ctx = new Ctx();
  let available = options.schemas;
  for (const src of sources)
    if (src.name.startsWith(SCHEMA_DIR)) {
      if (available === options.schemas) available = new Map(options.schemas ?? []);
      (available as Map<string, string>).set(src.name.slice(SCHEMA_DIR.length), src.content);
    }
  const schemaCompiler = available ? new SchemaCompiler(available) : undefined;
  const loaded = parsePolicySources(sources, ctx.issues).filter((l) => l.doc.disabled !== true);
  const seen = new Seen(ctx);
  const exportsIdx: Exports = { variables: new Map(), constants: new Map() };
  const derivedSets = new Map<string, DerivedSet>();
  for (const l of loaded) collectExports(ctx, seen, exportsIdx, derivedSets, l);

  const getDerivedSet = (name: string): Map<string, CompiledDerivedRole> | undefined => {
    const s = derivedSets.get(name);
    if (!s) return undefined;
    if (s.compiled) return s.compiled;
    const saved = ctx.file;
    ctx.file = s.file;
    s.compiled = compileDerivedRoles(ctx, exportsIdx, s.doc, s.legacy);
    ctx.file = saved;
    return s.compiled;
  };
  // compile every derived-roles set even if unused, so errors surface at load
  for (const name of derivedSets.keys()) getDerivedSet(name);

  const b = new PolicySetBuilder();
  for (const { file, doc } of loaded) {
    ctx.file = file;
    if (doc.resourcePolicy) {
      const before = ctx.issues.length;
      if (available) checkSchemaRefs(ctx, doc.resourcePolicy.schemas, available);
      const schemas = ctx.issues.length === before ? policySchemas(ctx, doc.resourcePolicy.schemas, schemaCompiler) : undefined;
      const rp = compileResource(ctx, exportsIdx, doc.resourcePolicy, doc.variables, getDerivedSet);
      if (schemas) rp.schemas = schemas;
      seen.add(file, rp.key, '$.resourcePolicy');
      b.addResource(rp);
    } else if (doc.principalPolicy) {
      const pp = compilePrincipal(ctx, exportsIdx, doc.principalPolicy, doc.variables);
      seen.add(file, pp.key, '$.principalPolicy');
      b.addPrincipal(pp);
    } else if (doc.rolePolicy) {
      const rp = compileRole(ctx, exportsIdx, doc.rolePolicy);
      seen.add(file, rp.key, '$.rolePolicy');
      b.addRole(rp);
    }
  }
  checkAncestors(ctx, seen.files, b);
  if (ctx.issues.length > 0) throw new PolicyLoadError(ctx.issues);
  return b.build(seen.files);
}

/** A resource policy's `schemas`, each referenced schema compiled (when the schema files are at hand). */
function policySchemas(ctx: Ctx, raw: Record<string, unknown> | undefined, compiler: SchemaCompiler | undefined): PolicySchemas | undefined {
  const refs = schemaRefsOf(raw);
  if (!refs) return undefined;
  const out: PolicySchemas = {};
  for (const key of ['principal', 'resource'] as const) {
    const r = refs[key];
    if (!r) continue;
    let schema: CompiledSchema | undefined;
    if (compiler) {
      try {
        schema = compiler.compile(r.ref);
      } catch (e) {
        if (!(e instanceof JsonSchemaError)) throw e;
        ctx.err(`$.resourcePolicy.schemas.${key}Schema.ref`, `invalid schema: failed to compile ${key} schema "${r.ref}": ${e.message}`);
        continue;
      }
    }
    out[key] = refCheck(r, schema);
  }
  return out;
}

/** Exported variables and constants, and derived-roles sets, by name (compiled when first imported). */
function collectExports(ctx: Ctx, seen: Seen, exportsIdx: Exports, derivedSets: Map<string, DerivedSet>, { file, doc }: LoadedDoc): void {
  if (doc.exportVariables || doc.exportConstants) {
    const [kind, defs] = doc.exportVariables ? ['exportVariables', doc.exportVariables.definitions] : ['exportConstants', doc.exportConstants!.definitions];
    ctx.file = file;
    for (const k of Object.keys(defs)) {
      const bad = identifierProblem(k);
      if (bad) ctx.err(`$.${kind}.definitions.${seg(k)}`, `invalid ${kind === 'exportVariables' ? 'variable' : 'constant'} name: ${bad}`);
    }
  }
  if (doc.exportVariables) {
    seen.add(file, `export_variables.${doc.exportVariables.name}`, '$.exportVariables.name');
    exportsIdx.variables.set(doc.exportVariables.name, { file, defs: doc.exportVariables.definitions });
  } else if (doc.exportConstants) {
    seen.add(file, `export_constants.${doc.exportConstants.name}`, '$.exportConstants.name');
    exportsIdx.constants.set(doc.exportConstants.name, { file, defs: doc.exportConstants.definitions });
  } else if (doc.derivedRoles) {
    seen.add(file, `derived_roles.${doc.derivedRoles.name}`, '$.derivedRoles.name');
    derivedSets.set(doc.derivedRoles.name, { file, doc: doc.derivedRoles, legacy: doc.variables });
  }
}

/** Scoped policies need every ancestor scope to exist (same kind/version, or principal id/version). */
function checkAncestors(ctx: Ctx, files: ReadonlyMap<string, string>, b: PolicySetBuilder): void {
  const ancestors = (scope: string) => scopeChain(scope).slice(1);
  for (const scopes of b.resourceFamilies()) {
    for (const [scope, p] of scopes) {
      const missing = ancestors(scope).find((a) => !scopes.has(a));
      if (missing !== undefined) ctx.issues.push({ file: files.get(p.key) ?? '', path: '$.resourcePolicy.scope', message: `missing ancestor policy ${resourcePolicyKey(p.kind, p.version, missing)} for scoped policy ${p.key}` });
    }
  }
  for (const scopes of b.principalFamilies()) {
    for (const [scope, p] of scopes) {
      const missing = ancestors(scope).find((a) => !scopes.has(a));
      if (missing !== undefined) ctx.issues.push({ file: files.get(p.key) ?? '', path: '$.principalPolicy.scope', message: `missing ancestor policy ${principalPolicyKey(p.principal, p.version, missing)} for scoped policy ${p.key}` });
    }
  }
}
