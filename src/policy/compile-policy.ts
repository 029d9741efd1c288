// Compiling one policy document of each kind (resource, principal, role; a derived-roles set) into what the engine
// evaluates, reporting every problem to the Ctx with its JSON path.
import type { CompiledDerivedRole, CompiledPrincipalPolicy, CompiledPrincipalRule, CompiledResourcePolicy, CompiledResourceRule, CompiledRolePolicy, CompiledRoleRule, ParamSet } from './compiled.js';
import { buildParams, compileOutput, conditionSource, condOrIssue, perm, ruleName, ruleUsers, usedParams, type Ctx, type Exports } from './compile-params.js';
import { anyMatcher, compileGlob } from './glob.js';
import { principalPolicyKey, resourcePolicyKey, rolePolicyKey } from './policy-keys.js';
import type { DerivedRolesDoc, PrincipalPolicyDoc, ResourcePolicyDoc, RolePolicyDoc } from './schema.js';

type ResourceRuleDoc = NonNullable<ResourcePolicyDoc['rules']>[number];

/** A derived-roles set: its roles by name, each with the set's constants and the set's variables its condition reads. */
export function compileDerivedRoles(ctx: Ctx, exportsIdx: Exports, doc: DerivedRolesDoc, legacy: Record<string, string> | undefined): Map<string, CompiledDerivedRole> {
  const { params, varNames } = buildParams(ctx, exportsIdx, '$.derivedRoles', doc.variables, doc.constants, legacy);
  const m = new Map<string, CompiledDerivedRole>();
  doc.definitions.forEach((d, i) => {
    const path = `$.derivedRoles.definitions[${i}]`;
    if (m.has(d.name)) ctx.err(`${path}.name`, `derived role '${d.name}' is defined more than once`);
    const cond = d.condition ? condOrIssue(ctx, d.condition, `${path}.condition`, params, varNames) : undefined;
    const cs = conditionSource(d.condition);
    const drParams = usedParams(ctx, params, [cond]);
    m.set(d.name, {
      name: d.name,
      parentRoles: new Set(d.parentRoles),
      anyParent: d.parentRoles.includes('*'),
      ...(cond ? { condition: cond } : {}),
      ...(cs !== undefined ? { conditionSource: cs } : {}),
      params: drParams,
      readsRuntime: [cs ?? '', ...drParams.vars.map((v) => v.prog.source)].some((src) => /\bruntime\b/.test(src)),
    });
  });
  return m;
}

export function checkSchemaRefs(ctx: Ctx, schemas: Record<string, unknown> | undefined, available: ReadonlyMap<string, string>): void {
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

export function compileResource(
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
  const rules = (p.rules ?? []).map((r, i) => compileResourceRule(ctx, key, r, i, drs, usedDrs, params, varNames));
  return {
    key,
    kind: p.resource,
    version: p.version,
    scope,
    perm: perm(p.scopePermissions),
    rules,
    derivedRoles: [...drs.values()].filter((d) => usedDrs.has(d)),
    params: usedParams(ctx, params, rules.flatMap(ruleUsers)),
    byAction: new Map(),
    // set by the loader when the policy names schemas (declared here so every resource policy has the same shape)
    schemas: undefined,
  };
}

/** One rule of a resource policy; the derived roles it names are added to `usedDrs`. */
function compileResourceRule(
  ctx: Ctx,
  key: string,
  r: ResourceRuleDoc,
  i: number,
  drs: ReadonlyMap<string, CompiledDerivedRole>,
  usedDrs: Set<CompiledDerivedRole>,
  params: ParamSet,
  varNames: ReadonlySet<string>,
): CompiledResourceRule {
  const path = `$.resourcePolicy.rules[${i}]`;
  if ((r.roles ?? []).length === 0 && (r.derivedRoles ?? []).length === 0) ctx.err(path, 'rule must specify at least one of roles or derivedRoles');
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
  return {
    name,
    src: `${key}#${name}`,
    matchAction: anyMatcher(r.actions),
    actions: [...new Set(r.actions)],
    roles: new Set(r.roles ?? []),
    anyRole: (r.roles ?? []).includes('*'),
    derivedRoles: ruleDrs,
    effect: r.effect,
    ...(cond ? { condition: cond } : {}),
    ...(cs !== undefined ? { conditionSource: cs } : {}),
    ...(out ? { output: out } : {}),
  };
}

export function compilePrincipal(
  ctx: Ctx,
  exportsIdx: Exports,
  p: PrincipalPolicyDoc,
  legacyVars: Record<string, string> | undefined,
): CompiledPrincipalPolicy {
  const scope = p.scope ?? '';
  const key = principalPolicyKey(p.principal, p.version, scope);
  const { params, varNames } = buildParams(ctx, exportsIdx, '$.principalPolicy', p.variables, p.constants, legacyVars);
  const rules: CompiledPrincipalRule[] = [];
  (p.rules ?? []).forEach((r, i) => {
    const matchResource = compileGlob(r.resource);
    r.actions.forEach((a, j) => {
      const path = `$.principalPolicy.rules[${i}].actions[${j}]`;
      // Cerbos names an unnamed action rule after its resource and its place among that resource's actions
      const name = a.name && a.name.length > 0 ? a.name : `${r.resource}_rule-${String(j + 1).padStart(3, '0')}`;
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
  return { key, principal: p.principal, version: p.version, scope, perm: perm(p.scopePermissions), rules, params: usedParams(ctx, params, rules.flatMap(ruleUsers)) };
}

export function compileRole(ctx: Ctx, exportsIdx: Exports, p: RolePolicyDoc): CompiledRolePolicy {
  const scope = p.scope ?? '';
  const version = p.version ?? 'default';
  const key = rolePolicyKey(p.role, version, scope);
  const { params, varNames } = buildParams(ctx, exportsIdx, '$.rolePolicy', p.variables, p.constants, undefined);
  const rules: CompiledRoleRule[] = (p.rules ?? []).map((r, i) => {
    const path = `$.rolePolicy.rules[${i}]`;
    const cond = r.condition ? condOrIssue(ctx, r.condition, `${path}.condition`, params, varNames) : undefined;
    const cs = conditionSource(r.condition);
    // Cerbos leaves a role-policy rule without a name unnamed (its outputs name the policy followed by `#`)
    const name = r.name ?? '';
    const out = compileOutput(ctx, r.output, `${path}.output`, params, varNames);
    return {
      name,
      src: `${key}#${name}`,
      ...(out ? { output: out } : {}),
      resource: r.resource,
      matchResource: compileGlob(r.resource),
      matchAction: anyMatcher(r.allowActions),
      ...(cond ? { condition: cond } : {}),
      ...(cs !== undefined ? { conditionSource: cs } : {}),
    };
  });
  return { key, role: p.role, version, scope, perm: perm(p.scopePermissions), parentRoles: p.parentRoles ?? [], rules, params: usedParams(ctx, params, rules.flatMap(ruleUsers)) };
}
