import type { ValidationError } from './schema-validation.js';

export type Effect = 'EFFECT_ALLOW' | 'EFFECT_DENY';

export interface Principal {
  id: string;
  roles: string[];
  attr?: Record<string, unknown> | undefined;
  policyVersion?: string | undefined;
  scope?: string | undefined;
}

export interface Resource {
  kind: string;
  id: string;
  attr?: Record<string, unknown> | undefined;
  policyVersion?: string | undefined;
  scope?: string | undefined;
}

export interface AuxData {
  /** Claims of an already verified JWT (the caller verifies it). */
  jwt?: Record<string, unknown> | undefined;
  /** Several verified JWTs by name, seen by conditions as `request.auxData.jwts.NAME.claims`. */
  jwts?: Record<string, { claims: Record<string, unknown> }> | undefined;
}

export interface CheckInput {
  principal: Principal;
  resource: Resource;
  actions: string[];
  auxData?: AuxData;
}

export interface CheckOptions {
  /** Clock for `now()`/`timeSince()`; defaults to the current time. */
  now?: Date;
  /**
   * Explain the decision: fills `explained` (which rules were considered per action and why each did or did not
   * apply, which derived roles activated, and readable `lines`). Off by default; the normal path collects nothing.
   */
  explain?: boolean;
  /**
   * Name the deciding rule: an action decided by a rule (not by default deny or for want of a policy) carries `rule`,
   * its FQN, the same as `explained.actions[action].rule` would give, without collecting an explanation. Off by
   * default (the result is then exactly as without it).
   */
  decidingRule?: boolean;
}

export interface ActionEffect {
  effect: Effect;
  /** Deciding policy key (e.g. `resource.ticket.vdefault`), or `NO_MATCH`. */
  policy: string;
  /** Scope of the deciding policy; `''` for the root scope. */
  scope: string;
  /** With `decidingRule: true` only: the deciding rule's FQN, when a rule decided (`resource.ticket.vdefault#rule`). */
  rule?: string;
}

export interface OutputEntry {
  /** Rule FQN: `resource.ticket.vdefault#rule-001` (with `/scope` before `#` when scoped). */
  src: string;
  action: string;
  /** The value of the output expression; `null` when it failed to evaluate (as Cerbos reports it). */
  val?: unknown;
  /** Why the output expression failed to evaluate (then `val` is `null`). */
  error?: string;
}

export interface CheckResult {
  resource: { kind: string; id: string; policyVersion: string; scope: string };
  actions: Record<string, ActionEffect>;
  effectiveDerivedRoles: string[];
  outputs: OutputEntry[];
  /** Condition evaluation errors (expression + message), as Cerbos reports them. */
  evaluationErrors?: { expression: string; message: string }[];
  /**
   * With schema enforcement `warn` or `reject`: the attributes' JSON schema validation errors (principal first), as
   * Cerbos reports them; absent when there are none.
   */
  validationErrors?: ValidationError[];
  /** With `explain: true`: why each action got its effect. JSON-serialisable. */
  explained?: Explanation;
}

/** How one rule fared for one action. */
export type RuleOutcome =
  /** the rule applied (its role or an activated derived role) and its condition held */
  | 'matched'
  /** the rule applied but its condition was false */
  | 'condition_not_met'
  /** the rule is for roles (or derived roles of parent roles) the principal does not have */
  | 'role_not_matched'
  /** the rule is for derived roles of the principal's roles, none of which activated */
  | 'derived_role_not_activated'
  /** the rule could apply but was not evaluated: a more specific scope (or an earlier error) decided first */
  | 'not_reached'
  /** the rule's condition (or its derived role's condition) failed to evaluate */
  | 'error';

export interface ConsideredRule {
  /** Rule FQN, e.g. `resource.ticket.vdefault#owner-reads-and-comments`. */
  rule: string;
  /** The rule's own effect (role policy rules: EFFECT_ALLOW, they only permit). */
  effect: Effect;
  outcome: RuleOutcome;
  /** The principal role (or base role) the rule was considered for; absent for principal policies. */
  role?: string;
  /** For `role_not_matched`: the roles the rule names (`*` = any). */
  roles?: string[];
  /** Derived roles the rule names (for `derived_role_not_activated`, `role_not_matched`, and `matched` through one). */
  derivedRoles?: string[];
  /** The condition that was false or failed (the rule's, or for a derived role the derived role's); readable CEL. */
  condition?: string;
  error?: string;
}

/**
 * Why an action got its effect. `reason`: `rule` (the rule `rule` decided), `default_deny` (the policy exists but no
 * rule allowed), `no_policy` (no policy for the resource kind/version/scope), `condition_error` (strict evaluation: the
 * rule `rule` could not be evaluated, which denies), `role_policy` (a role policy of the principal does not permit the
 * action), `schema_validation` (schema enforcement `reject`: the attributes do not validate against the policy's
 * schemas). A deny under SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS has one of the other reasons: no walk
 * names a NO_MATCH_FOR_SCOPE_PERMISSIONS outcome (nor can Cerbos 0.55: docs/mutation.md, ruletable 460).
 */
export interface ActionExplanation {
  effect: Effect;
  policy: string;
  scope: string;
  reason: 'rule' | 'default_deny' | 'no_policy' | 'condition_error' | 'role_policy' | 'schema_validation';
  /** The deciding rule FQN (`policy#rule`), when a rule decided. */
  rule?: string;
  considered: ConsideredRule[];
}

export interface DerivedRoleExplanation {
  name: string;
  parentRoles: string[];
  activated: boolean;
  outcome: 'activated' | 'condition_not_met' | 'parent_role_not_matched' | 'error';
  condition?: string;
  error?: string;
}

export interface Explanation {
  actions: Record<string, ActionExplanation>;
  /** Derived roles met while deciding (evaluated, or skipped because the principal has none of their parent roles). */
  derivedRoles: DerivedRoleExplanation[];
  /** The same, readable: one line per action, then one per derived role. */
  lines: string[];
}

/** A policy file given in memory (Workers) or read from disk. `name` is used in error messages. */
export interface PolicySource {
  name: string;
  content: string;
}
