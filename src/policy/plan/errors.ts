/**
 * Thrown by engine.plan when a plan cannot be made, in the situations where Cerbos's planner fails too (its HTTP API
 * answers 500 "Resources query plan request failed"): a comprehension whose body fails to evaluate for every
 * resource (for example it reads a principal attribute that is missing), or an exists/all over a known list whose
 * predicate fails to evaluate for one of the items. A caller must treat it as "no resource is known to be allowed".
 */
export class PlanError extends Error {
  override readonly name = 'PlanError';
  readonly code = 'plan_failed';
  constructor(
    message: string,
    /** The condition expression the planner could not plan. */
    readonly expression: string,
  ) {
    super(message);
  }
}
