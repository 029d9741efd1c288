export type Effect = 'EFFECT_ALLOW' | 'EFFECT_DENY';

export interface Principal {
  id: string;
  roles: string[];
  attr?: Record<string, unknown>;
  policyVersion?: string;
  scope?: string;
}

export interface Resource {
  kind: string;
  id: string;
  attr?: Record<string, unknown>;
  policyVersion?: string;
  scope?: string;
}

export interface AuxData {
  /** Claims of an already verified JWT (the caller verifies it). */
  jwt?: Record<string, unknown>;
  /** Several verified JWTs by name, seen by conditions as `request.auxData.jwts.NAME.claims`. */
  jwts?: Record<string, { claims: Record<string, unknown> }>;
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
  /** Collect a human-readable trace of the decision. */
  explain?: boolean;
}

export interface ActionEffect {
  effect: Effect;
  /** Deciding policy key (e.g. `resource.ticket.vdefault`), or `NO_MATCH`. */
  policy: string;
  /** Scope of the deciding policy; `''` for the root scope. */
  scope: string;
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
  explanation?: string[];
}

/** A policy file given in memory (Workers) or read from disk. `name` is used in error messages. */
export interface PolicySource {
  name: string;
  content: string;
}
