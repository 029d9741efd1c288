// The compiled policy set and the questions the engine asks it. Like Cerbos's rule table, the set hides how it indexes
// policies (by kind, principal or role, version and scope) behind a few queries: only this module builds index keys.
import type { CompiledPrincipalPolicy, CompiledResourcePolicy, CompiledRolePolicy, ScopePerm } from './compiled.js';
import { scopeChain } from './policy-keys.js';

export interface CompiledPolicySet {
  /** Resource, principal and role policies loaded (derived roles and exports are not counted). */
  readonly policyCount: number;
  /** Every loaded policy key, with the file it came from. */
  readonly sources: ReadonlyMap<string, string>;
  /** Some role policy exists (else a principal's roles are its base roles everywhere). */
  readonly hasRolePolicies: boolean;
  /** Some principal policy exists (else principal rules need not be looked up). */
  readonly hasPrincipalPolicies: boolean;
  /**
   * The scopes a resource check at `scope` searches, most specific first. A scope exists when any resource or role
   * policy, of any kind or version, is at it (Cerbos decides existence across the store, not per kind). Strict search
   * (`lenient` false): the requested scope itself must exist, else none; lenient: from the nearest existing ancestor.
   */
  resourceScopes(scope: string, lenient: boolean): readonly string[];
  /** The same for principal checks: a scope exists when any principal policy, whoever its principal, is at it. */
  principalScopes(scope: string, lenient: boolean): readonly string[];
  /** The resource policy for `kind` at exactly this version and scope. */
  resourcePolicy(kind: string, version: string, scope: string): CompiledResourcePolicy | undefined;
  /** The principal policy of principal `id` at exactly this version and scope. */
  principalPolicy(id: string, version: string, scope: string): CompiledPrincipalPolicy | undefined;
  /** The role policy of `role` at exactly this version and scope. */
  rolePolicy(role: string, version: string, scope: string): CompiledRolePolicy | undefined;
  /** Some role policy at exactly this version and scope has a rule for resources of `kind`. */
  hasRoleRulesFor(kind: string, version: string, scope: string): boolean;
  /** role -> the parent roles that role policies of any version at exactly `scope` give it (in load order). */
  parentRoles(scope: string): ReadonlyMap<string, readonly string[]>;
  /** Some principal policy (whoever its principal) is at exactly this version and scope. */
  hasPrincipalPoliciesAt(version: string, scope: string): boolean;
  /**
   * A scope's permissions as the resource and principal policies there declare them (the last loaded wins, principal
   * policies after resource policies); undefined where only role policies are (they say nothing about it).
   */
  scopePermissions(scope: string): ScopePerm | undefined;
}

const NO_PARENTS: ReadonlyMap<string, readonly string[]> = new Map();
const NO_SCOPES: readonly string[] = Object.freeze([]);
const key2 = (a: string, b: string) => `${a}\u0000${b}`;

/** Filled by the loader (compile.ts), one policy at a time; `build` makes the set. */
export class PolicySetBuilder {
  /** `${kind}\u0000${version}` -> scope -> policy */
  readonly resource = new Map<string, Map<string, CompiledResourcePolicy>>();
  /** `${principalId}\u0000${version}` -> scope -> policy */
  readonly principal = new Map<string, Map<string, CompiledPrincipalPolicy>>();
  /** `${version}\u0000${scope}` -> role -> policy, in the order each (version, scope) was first loaded */
  readonly role = new Map<string, Map<string, CompiledRolePolicy>>();
  readonly resourceScopeSet = new Set<string>();
  readonly principalScopeSet = new Set<string>();
  count = 0;

  addResource(p: CompiledResourcePolicy): void {
    add(this.resource, key2(p.kind, p.version), p.scope, p);
    this.resourceScopeSet.add(p.scope);
    this.count++;
  }
  addPrincipal(p: CompiledPrincipalPolicy): void {
    add(this.principal, key2(p.principal, p.version), p.scope, p);
    this.principalScopeSet.add(p.scope);
    this.count++;
  }
  addRole(p: CompiledRolePolicy): void {
    add(this.role, key2(p.version, p.scope), p.role, p);
    this.resourceScopeSet.add(p.scope);
    this.count++;
  }
  /** The resource policies of each kind and version, by scope (for the loader's checks). */
  resourceFamilies(): Iterable<ReadonlyMap<string, CompiledResourcePolicy>> {
    return this.resource.values();
  }
  /** The principal policies of each principal and version, by scope. */
  principalFamilies(): Iterable<ReadonlyMap<string, CompiledPrincipalPolicy>> {
    return this.principal.values();
  }
  build(sources: ReadonlyMap<string, string>): PolicySet {
    return new PolicySet(this, sources);
  }
}

function add<T>(m: Map<string, Map<string, T>>, a: string, b: string, v: T): void {
  let inner = m.get(a);
  if (!inner) m.set(a, (inner = new Map()));
  inner.set(b, v);
}

export class PolicySet implements CompiledPolicySet {
  readonly policyCount: number;
  readonly hasRolePolicies: boolean;
  readonly hasPrincipalPolicies: boolean;
  readonly #resource: ReadonlyMap<string, ReadonlyMap<string, CompiledResourcePolicy>>;
  readonly #principal: ReadonlyMap<string, ReadonlyMap<string, CompiledPrincipalPolicy>>;
  readonly #role: ReadonlyMap<string, ReadonlyMap<string, CompiledRolePolicy>>;
  readonly #resourceScopes: ReadonlySet<string>;
  readonly #principalScopes: ReadonlySet<string>;
  readonly #parents = new Map<string, Map<string, readonly string[]>>();
  readonly #perms = new Map<string, ScopePerm>();
  readonly #principalAt = new Set<string>();

  constructor(b: PolicySetBuilder, readonly sources: ReadonlyMap<string, string>) {
    this.#resource = b.resource;
    this.#principal = b.principal;
    this.#role = b.role;
    this.#resourceScopes = b.resourceScopeSet;
    this.#principalScopes = b.principalScopeSet;
    this.policyCount = b.count;
    this.hasRolePolicies = b.role.size > 0;
    this.hasPrincipalPolicies = b.principal.size > 0;
    for (const [k, byRole] of b.role) {
      const scope = k.slice(k.indexOf('\u0000') + 1);
      let parents = this.#parents.get(scope);
      if (!parents) this.#parents.set(scope, (parents = new Map()));
      for (const [role, rp] of byRole) parents.set(role, [...(parents.get(role) ?? []), ...rp.parentRoles]);
    }
    for (const byScope of b.resource.values()) for (const [scope, p] of byScope) this.#perms.set(scope, p.perm);
    for (const byScope of b.principal.values()) {
      for (const [scope, p] of byScope) {
        this.#perms.set(scope, p.perm);
        this.#principalAt.add(key2(p.version, scope));
      }
    }
  }

  resourceScopes(scope: string, lenient: boolean): readonly string[] {
    return existingScopes(this.#resourceScopes, scope, lenient);
  }
  principalScopes(scope: string, lenient: boolean): readonly string[] {
    return existingScopes(this.#principalScopes, scope, lenient);
  }
  resourcePolicy(kind: string, version: string, scope: string): CompiledResourcePolicy | undefined {
    return this.#resource.get(key2(kind, version))?.get(scope);
  }
  principalPolicy(id: string, version: string, scope: string): CompiledPrincipalPolicy | undefined {
    return this.#principal.get(key2(id, version))?.get(scope);
  }
  rolePolicy(role: string, version: string, scope: string): CompiledRolePolicy | undefined {
    return this.#role.get(key2(version, scope))?.get(role);
  }
  hasRoleRulesFor(kind: string, version: string, scope: string): boolean {
    const byRole = this.#role.get(key2(version, scope));
    if (byRole) for (const rp of byRole.values()) if (rp.rules.some((r) => r.matchResource(kind))) return true;
    return false;
  }
  parentRoles(scope: string): ReadonlyMap<string, readonly string[]> {
    return this.#parents.get(scope) ?? NO_PARENTS;
  }
  hasPrincipalPoliciesAt(version: string, scope: string): boolean {
    return this.#principalAt.has(key2(version, scope));
  }
  scopePermissions(scope: string): ScopePerm | undefined {
    return this.#perms.get(scope);
  }
}

function existingScopes(existing: ReadonlySet<string>, scope: string, lenient: boolean): readonly string[] {
  if (!existing.has(scope) && !lenient) return NO_SCOPES;
  const out: string[] = [];
  for (const s of scopeChain(scope)) if (existing.has(s)) out.push(s);
  return out;
}
