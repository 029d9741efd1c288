// The compiled policy set and the questions the engine asks it. Like Cerbos's rule table, the set hides how it indexes
// policies (by kind, principal or role, version and scope) behind a few queries: the engine and the query planner
// never build or parse an index key.
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
  /** The resource policies that have `schemas`, in load order (none: no request is validated against a schema). */
  readonly schemaPolicies: readonly CompiledResourcePolicy[];
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

/** Three names to a value, as nested maps (no key is ever built by joining names). */
type Nested<T> = Map<string, Map<string, Map<string, T>>>;
function get3<T>(m: Nested<T>, a: string, b: string, c: string): T | undefined {
  return m.get(a)?.get(b)?.get(c);
}
/** Adds `v`; returns the innermost map when this call made it. */
function put3<T>(m: Nested<T>, a: string, b: string, c: string, v: T): Map<string, T> | undefined {
  let x = m.get(a);
  if (!x) m.set(a, (x = new Map()));
  let y = x.get(b);
  const made = y === undefined ? new Map<string, T>() : undefined;
  if (made) x.set(b, (y = made));
  y!.set(c, v);
  return made;
}

/** Filled by the loader (compile.ts), one policy at a time; `build` makes the set. */
export class PolicySetBuilder {
  /** kind -> version -> scope -> policy */
  readonly resource: Nested<CompiledResourcePolicy> = new Map();
  /** principal id -> version -> scope -> policy */
  readonly principal: Nested<CompiledPrincipalPolicy> = new Map();
  /** version -> scope -> role -> policy */
  readonly role: Nested<CompiledRolePolicy> = new Map();
  /** the role policies of one version and scope, in the order each (version, scope) was first loaded */
  readonly roleGroups: { scope: string; byRole: ReadonlyMap<string, CompiledRolePolicy> }[] = [];
  /** the resource (principal) policies of one kind (principal) and version by scope, in the order first loaded */
  private readonly resourceList: ReadonlyMap<string, CompiledResourcePolicy>[] = [];
  private readonly principalList: ReadonlyMap<string, CompiledPrincipalPolicy>[] = [];
  readonly resourceScopeSet = new Set<string>();
  readonly principalScopeSet = new Set<string>();
  count = 0;
  readonly schemaPolicies: CompiledResourcePolicy[] = [];

  addResource(p: CompiledResourcePolicy): void {
    if (p.schemas) this.schemaPolicies.push(p);
    const made = put3(this.resource, p.kind, p.version, p.scope, p);
    if (made) this.resourceList.push(made);
    this.resourceScopeSet.add(p.scope);
    this.count++;
  }
  addPrincipal(p: CompiledPrincipalPolicy): void {
    const made = put3(this.principal, p.principal, p.version, p.scope, p);
    if (made) this.principalList.push(made);
    this.principalScopeSet.add(p.scope);
    this.count++;
  }
  addRole(p: CompiledRolePolicy): void {
    const made = put3(this.role, p.version, p.scope, p.role, p);
    if (made) this.roleGroups.push({ scope: p.scope, byRole: made });
    this.resourceScopeSet.add(p.scope);
    this.count++;
  }
  /** The resource policies of each kind and version, by scope, in load order (for the loader's checks). */
  resourceFamilies(): Iterable<ReadonlyMap<string, CompiledResourcePolicy>> {
    return this.resourceList;
  }
  /** The principal policies of each principal and version, by scope, in load order. */
  principalFamilies(): Iterable<ReadonlyMap<string, CompiledPrincipalPolicy>> {
    return this.principalList;
  }
  build(sources: ReadonlyMap<string, string>): PolicySet {
    return new PolicySet(this, sources);
  }
}

/** Bound on the memo of scope searches (scopes are caller-controlled). */
const CACHE_MAX = 4096;

export class PolicySet implements CompiledPolicySet {
  readonly policyCount: number;
  readonly hasRolePolicies: boolean;
  readonly hasPrincipalPolicies: boolean;
  readonly schemaPolicies: readonly CompiledResourcePolicy[];
  readonly #resource: Nested<CompiledResourcePolicy>;
  readonly #principal: Nested<CompiledPrincipalPolicy>;
  readonly #role: Nested<CompiledRolePolicy>;
  readonly #resourceScopes: ReadonlySet<string>;
  readonly #principalScopes: ReadonlySet<string>;
  readonly #parents = new Map<string, Map<string, readonly string[]>>();
  readonly #perms = new Map<string, ScopePerm>();
  /** version -> scopes with a principal policy */
  readonly #principalAt = new Map<string, Set<string>>();
  /** scope searches by requested scope: [strict, lenient] */
  readonly #searches = new Map<string, [readonly string[] | undefined, readonly string[] | undefined][]>();

  constructor(b: PolicySetBuilder, readonly sources: ReadonlyMap<string, string>) {
    this.#resource = b.resource;
    this.#principal = b.principal;
    this.#role = b.role;
    this.#resourceScopes = b.resourceScopeSet;
    this.#principalScopes = b.principalScopeSet;
    this.policyCount = b.count;
    this.schemaPolicies = b.schemaPolicies;
    this.hasRolePolicies = b.role.size > 0;
    this.hasPrincipalPolicies = b.principal.size > 0;
    for (const { scope, byRole } of b.roleGroups) {
      let parents = this.#parents.get(scope);
      if (!parents) this.#parents.set(scope, (parents = new Map()));
      for (const [role, rp] of byRole) parents.set(role, [...(parents.get(role) ?? []), ...rp.parentRoles]);
    }
    for (const byScope of b.resourceFamilies()) for (const [scope, p] of byScope) this.#perms.set(scope, p.perm);
    for (const byScope of b.principalFamilies()) {
      for (const [scope, p] of byScope) {
        this.#perms.set(scope, p.perm);
        let at = this.#principalAt.get(p.version);
        if (!at) this.#principalAt.set(p.version, (at = new Set()));
        at.add(scope);
      }
    }
  }

  resourceScopes(scope: string, lenient: boolean): readonly string[] {
    return this.#search(0, this.#resourceScopes, scope, lenient);
  }
  principalScopes(scope: string, lenient: boolean): readonly string[] {
    return this.#search(1, this.#principalScopes, scope, lenient);
  }
  #search(family: 0 | 1, existing: ReadonlySet<string>, scope: string, lenient: boolean): readonly string[] {
    let both = this.#searches.get(scope);
    if (!both) {
      if (this.#searches.size >= CACHE_MAX) this.#searches.clear();
      this.#searches.set(scope, (both = [[undefined, undefined], [undefined, undefined]]));
    }
    const slot = both[family]!;
    const i = lenient ? 1 : 0;
    return (slot[i] ??= existingScopes(existing, scope, lenient));
  }
  resourcePolicy(kind: string, version: string, scope: string): CompiledResourcePolicy | undefined {
    return get3(this.#resource, kind, version, scope);
  }
  principalPolicy(id: string, version: string, scope: string): CompiledPrincipalPolicy | undefined {
    return get3(this.#principal, id, version, scope);
  }
  rolePolicy(role: string, version: string, scope: string): CompiledRolePolicy | undefined {
    return get3(this.#role, version, scope, role);
  }
  hasRoleRulesFor(kind: string, version: string, scope: string): boolean {
    const byRole = this.#role.get(version)?.get(scope);
    if (byRole) for (const rp of byRole.values()) if (rp.rules.some((r) => r.matchResource(kind))) return true;
    return false;
  }
  parentRoles(scope: string): ReadonlyMap<string, readonly string[]> {
    return this.#parents.get(scope) ?? NO_PARENTS;
  }
  hasPrincipalPoliciesAt(version: string, scope: string): boolean {
    return this.#principalAt.get(version)?.has(scope) === true;
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
