import type { Engine } from '../policy/index.js';
import type { ScopePolicy, ScopePolicyInput } from './scope.js';

export const TXN_TOKEN_KIND = 'txn_token';

/**
 * The scope decision through the embedded engine (T-12, T-24). One check, the requested scopes as actions:
 *   principal = the user: id = sub, roles and attributes from the subject token, plus
 *               attr.workload = the requesting client id and attr.chain = the earlier workloads (outermost first)
 *   resource  = { kind: "txn_token", id: audience, attr: { workload, audience, request_details, request_context } }
 * A scope is kept only on EFFECT_ALLOW; an engine error denies everything (fail closed).
 */
export function engineScopePolicy(engine: Engine): ScopePolicy {
  return {
    allowedScopes(input: ScopePolicyInput, candidates: readonly string[]) {
      try {
        const r = engine.check({
          principal: { id: input.principal.id, roles: [...input.principal.roles], attr: { ...input.principal.attr, workload: input.workload, chain: [...input.chain] } },
          resource: {
            kind: TXN_TOKEN_KIND,
            id: input.audience,
            attr: { workload: input.workload, audience: input.audience, request_details: input.requestDetails ?? {}, request_context: input.requestContext ?? {} },
          },
          actions: [...candidates],
        });
        const allowed: string[] = [];
        const denied: Array<{ scope: string; policy?: string }> = [];
        for (const s of candidates) {
          const a = r.actions[s];
          if (a?.effect === 'EFFECT_ALLOW') allowed.push(s);
          else denied.push({ scope: s, ...(a?.policy !== undefined ? { policy: a.policy } : {}) });
        }
        return { allowed, denied };
      } catch {
        return { allowed: [], denied: candidates.map((scope) => ({ scope, policy: 'error' })) };
      }
    },
  };
}
