import type { ValidationError } from '../schema-validation.js';
import type { AuxData, Principal } from '../types.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** A filter operand, exactly as Cerbos's PlanResources response writes it. */
export type PlanOperand = { expression: PlanExpression } | { value: JsonValue } | { variable: string };
export interface PlanExpression {
  operator: string;
  operands: PlanOperand[];
}

export type PlanFilterKind = 'KIND_ALWAYS_ALLOWED' | 'KIND_ALWAYS_DENIED' | 'KIND_CONDITIONAL';

/** Cerbos's `filter`: always allowed, always denied, or allowed where `condition` holds for the resource. */
export interface PlanFilter {
  kind: PlanFilterKind;
  /** Present for KIND_CONDITIONAL only. */
  condition?: PlanOperand;
}

/** What a plan is asked for: like a check, but the resource is only described (no id; attributes optional). */
export interface PlanInput {
  principal: Principal;
  resource: {
    kind: string;
    policyVersion?: string;
    scope?: string;
    /** Attributes known for every resource of the query (the planner treats them as given, others as unknown). */
    attr?: Record<string, unknown>;
  };
  /** One action, or several (`actions`): the resource must be allowed for all of them. Exactly one of the two. */
  action?: string;
  actions?: string[];
  auxData?: AuxData;
}

export interface PlanOptions {
  /** Clock for `now()`/`timeSince()`; defaults to the current time. */
  now?: Date;
}

/** One rule that can take part in the plan's decision (for the decision log). */
export interface PlanRule {
  /** Rule FQN, e.g. `resource.ticket.vdefault#owner-reads-and-comments`. */
  rule: string;
  action: string;
  effect: 'EFFECT_ALLOW' | 'EFFECT_DENY';
}

export interface PlanResult {
  /** The resource kind, version and scope the plan is for (Cerbos: `resourceKind`, `policyVersion`, `scope`). */
  kind: string;
  policyVersion: string;
  scope: string;
  actions: string[];
  filter: PlanFilter;
  /** Cerbos's `meta.filterDebug`: the filter as an s-expression, or `NO_MATCH` when no policy applies. */
  filterDebug: string;
  /** Cerbos's `meta.matchedScopes`: per action, the policy scope the plan came from. */
  matchedScopes: Record<string, string>;
  /** The rules that can decide the plan's outcome (allow rules whose condition is not always false, deny rules that can apply). */
  rules: PlanRule[];
  /** Conditions that failed to evaluate while planning (expression + message), as Cerbos reports them. */
  evaluationErrors?: { expression: string; message: string }[];
  /**
   * Schema validation errors (Cerbos's `validationErrors`): with schema enforcement `warn` or `reject`, the principal's
   * attribute errors and the resource's (its `required` errors left out: a plan's resource attributes are partial).
   */
  validationErrors: ValidationError[];
}
