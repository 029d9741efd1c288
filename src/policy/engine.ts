// The decision engine: Cerbos semantics (principal policy first, then resource policy with derived roles and role
// policies, along the scope chain, default deny) with one deliberate difference: by default a DENY rule whose
// condition fails to evaluate is treated as matched (fail closed). `lenient: true` restores Cerbos's behaviour.
// The engine is three steps: input (input.ts: validated at the door), evaluation (evaluate.ts and the rule-table walk
// of ruletable.ts, over the compiled set's queries, policy-set.ts) and explanation (explain.ts, only when asked).
import { compilePolicies, type CompiledPolicySet } from './compile.js';
import { EngineCore, type EngineOptions } from './evaluate.js';
import { validActions, validAuxData, validPrincipal, validResource } from './input.js';
import { planResources } from './plan/planner.js';
import type { PlanInput, PlanOptions, PlanResult } from './plan/types.js';
import type { AuxData, CheckInput, CheckOptions, CheckResult, PolicySource, Principal, Resource } from './types.js';

export type { EngineOptions };

export interface Engine {
  check(input: CheckInput, opts?: CheckOptions): CheckResult;
  /** Query planning (Cerbos PlanResources): which resources of a kind the check would allow (see plan/planner.ts). */
  plan(input: PlanInput, opts?: PlanOptions): PlanResult;
  checkBatch(principal: Principal, resources: readonly { resource: Resource; actions: string[] }[], opts?: CheckOptions & { auxData?: AuxData }): CheckResult[];
  readonly policyCount: number;
}

export function createEngine(options: EngineOptions): Engine {
  const set: CompiledPolicySet = Array.isArray(options.policies)
    ? compilePolicies(options.policies as readonly PolicySource[])
    : (options.policies as CompiledPolicySet);
  const core = new EngineCore(set, options);
  return {
    policyCount: set.policyCount,
    check(input, opts) {
      const principal = validPrincipal(input?.principal);
      const resource = validResource(input?.resource);
      const actions = validActions(input?.actions);
      return core.run(principal, resource, actions, validAuxData(input?.auxData), opts);
    },
    plan(input, opts) {
      return planResources(core, input, opts);
    },
    checkBatch(principalIn, resources, opts) {
      const principal = validPrincipal(principalIn);
      const aux = validAuxData(opts?.auxData);
      return resources.map((r, i) => core.run(principal, validResource(r?.resource, `resources[${i}].resource`), validActions(r?.actions, `resources[${i}].actions`), aux, opts));
    },
  };
}
