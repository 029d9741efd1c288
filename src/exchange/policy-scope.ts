import type { CheckInput, Engine } from '../policy/index.js';
import type { ScopePolicy, ScopePolicyInput } from './scope.js';

export const TXN_TOKEN_KIND = 'txn_token';

/**
 * The scope decision through the embedded engine (T-12, T-24). One check, the requested scopes as actions:
 *   principal = the user as every service sees it (`principalFrom`, src/txn/principal.ts): id = sub, roles and
 *               attributes from the subject token, attr.workload = the requesting client id and attr.chain = the
 *               earlier workloads (outermost first)
 *   resource  = { kind: "txn_token", id: audience, attr: { workload, audience, request_details, request_context } }
 * A scope is kept only on EFFECT_ALLOW; an engine error denies everything (fail closed). Denied scopes carry the
 * deciding policy and, when a rule (not default deny) decided, the rule (`resource.txn_token.vdefault#never-refund-via-agent`).
 */
export function engineScopePolicy(engine: Engine): ScopePolicy {
  return {
    allowedScopes(input: ScopePolicyInput, candidates: readonly string[]) {
      try {
        const check: CheckInput = {
          principal: { id: input.principal.id, roles: [...input.principal.roles], attr: { ...input.principal.attr } },
          resource: {
            kind: TXN_TOKEN_KIND,
            id: input.audience,
            attr: { workload: input.workload, audience: input.audience, request_details: input.requestDetails ?? {}, request_context: input.requestContext ?? {} },
          },
          actions: [...candidates],
        };
        // one instant for the decision and its explanation (conditions may use now())
        const now = new Date();
        const r = engine.check(check, { now });
        const allowed: string[] = [];
        const denied: Array<{ scope: string; policy?: string; rule?: string }> = [];
        for (const s of candidates) {
          const a = r.actions[s];
          if (a?.effect === 'EFFECT_ALLOW') allowed.push(s);
          else denied.push({ scope: s, ...(a?.policy !== undefined ? { policy: a.policy } : {}) });
        }
        if (denied.length > 0) nameDecidingRules(engine, check, now, denied);
        return { allowed, denied };
      } catch {
        return { allowed: [], denied: candidates.map((scope) => ({ scope, policy: 'error' })) };
      }
    },
  };
}

/**
 * Denials are rare: only then is the check run again, explained, for the denied scopes alone, to name the deciding
 * rule in the decision log. The decision itself stays the first (unexplained) one; if explaining fails or disagrees,
 * the entry simply has no rule.
 */
function nameDecidingRules(engine: Engine, check: CheckInput, now: Date, denied: Array<{ scope: string; policy?: string; rule?: string }>): void {
  try {
    const x = engine.check({ ...check, actions: denied.map((d) => d.scope) }, { explain: true, now }).explained;
    for (const d of denied) {
      const a = x?.actions[d.scope];
      if (a?.rule !== undefined && a.effect === 'EFFECT_DENY' && a.policy === d.policy) d.rule = a.rule;
    }
  } catch {
    // the first check decided; an explanation is only a nicety for the log
  }
}
