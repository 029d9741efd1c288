// What the loader produces: compiled policies and rules (every CEL expression compiled once, action and resource
// patterns as matchers). The set that holds them and answers the engine's questions is policy-set.ts.
import type { CelProgram, CompiledCondition } from './cel/index.js';
import type { Matcher } from './glob.js';
import type { EffectName } from './schema.js';
import type { PolicySchemas } from './schema-validation.js';

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
  /** The condition or the set's variables read `runtime` (so its outcome depends on where in a walk it is evaluated). */
  readonly readsRuntime: boolean;
}

export interface CompiledResourceRule {
  readonly name: string;
  readonly src: string;
  readonly matchAction: Matcher;
  /** The rule's action patterns, deduplicated (Cerbos makes one rule-table row per action pattern and role). */
  readonly actions: readonly string[];
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
  /** The policy's own `schemas` (compiled when the policies were loaded with their `_schemas/` files). */
  schemas?: PolicySchemas | undefined;
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
  /** The rule's resource pattern as written. */
  readonly resource: string;
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
