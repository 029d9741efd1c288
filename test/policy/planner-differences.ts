// Conformance cases where Baton's plan differs from Cerbos 0.55's on purpose: Cerbos's planner disagrees there with
// its own check (CheckResources), and Baton's invariants P-03 (a plan never admits what the check denies) and P-04
// (a plan excludes what the check allows only where the data layer cannot express the condition) win.
// Key: `<suite dir>/<file>#<index of the test in the suite>`.
import type { PlanFilter } from '../../src/policy/plan/types.js';

export interface PlannerDifference {
  invariant: 'P-03' | 'P-04';
  /** why Cerbos's plan is wrong, with what the check answers */
  why: string;
  /** Baton's plan */
  baton: PlanFilter;
}

const eq = (variable: string, value: string) => ({ expression: { operator: 'eq', operands: [{ variable }, { value }] } });

export const PLANNER_DIFFERENCES: Record<string, PlannerDifference> = {
  // harry has roles employee, ex_intern and user. leave_request: employee DENY if V.is_owner, user ALLOW if
  // V.is_owner. Roles are evaluated one by one and any role's ALLOW wins: Cerbos 0.55's CheckResources allows harry's
  // own leave requests (checked against the binary: {owner: harry} -> EFFECT_ALLOW). Its planner applies the employee
  // DENY to every role and plans `owner == harry AND NOT owner == harry` (nothing).
  'common/harry.yaml#13': {
    invariant: 'P-04',
    why: "a DENY of one role does not override another role's ALLOW in the check; Cerbos's planner applies it to all roles",
    baton: { kind: 'KIND_CONDITIONAL', condition: eq('request.resource.attr.owner', 'harry') },
  },
  // `R.attr.custAnal in P.attr.custAllowedValues` with custAllowedValues = "VALUE1" (a string, not a list): `in` has no
  // overload for a string, so the check fails the condition and denies (the binary: {custAnal: VALUE1} ->
  // EFFECT_DENY). Cerbos's planner rewrites `in` over a non-container into `==` and admits custAnal == "VALUE1".
  'common/wrong_attr_data_type.yaml#0': {
    invariant: 'P-03',
    why: "`x in \"VALUE1\"` is an error in the check (denied); Cerbos's planner reads it as `x == \"VALUE1\"`",
    baton: { kind: 'KIND_ALWAYS_DENIED' },
  },
};
