import type { CheckInput, CheckOptions, Engine } from '../policy/index.js';
import type { ScopePolicy, ScopePolicyInput } from './scope.js';

export const TXN_TOKEN_KIND = 'txn_token';

/** One check per exchange, naming the rule that decided each scope (no explanation is collected). */
const DECIDING_RULE: CheckOptions = Object.freeze({ decidingRule: true });

/**
 * The scope decision through the embedded engine (T-12, T-24). One check, the requested scopes as actions:
 *   principal = the user as every service sees it (`principalFrom`, src/txn/principal.ts): id = sub, roles and
 *               attributes from the subject token, attr.workload = the requesting client id and attr.chain = the
 *               earlier workloads (outermost first)
 *   resource  = { kind: "txn_token", id: audience, attr: { workload, audience, request_details, request_context } }
 * A scope is kept only on EFFECT_ALLOW; an engine error denies everything (fail closed). Denied scopes carry the
 * deciding policy and, when a rule (not default deny) decided, the rule (`resource.txn_token.vdefault#never-refund-via-agent`),
 * which the check names as it decides (CheckOptions.decidingRule: what an explanation would name, without one).
 */
export function engineScopePolicy(engine: Engine): ScopePolicy {
  return {
    allowedScopes(input: ScopePolicyInput, candidates: readonly string[]) {
      try {
        // built once per exchange, all candidate scopes in one check; the principal is the exchange's own (a fresh
        // object from principalFrom), handed over without another copy (the engine reads its input, never writes it)
        const check: CheckInput = {
          principal: input.principal as CheckInput['principal'],
          resource: {
            kind: TXN_TOKEN_KIND,
            id: input.audience,
            attr: { workload: input.workload, audience: input.audience, request_details: input.requestDetails ?? {}, request_context: input.requestContext ?? {} },
          },
          actions: candidates as string[],
        };
        const r = engine.check(check, DECIDING_RULE);
        const allowed: string[] = [];
        const denied: Array<{ scope: string; policy?: string; rule?: string }> = [];
        for (const s of candidates) {
          const a = r.actions[s];
          if (a?.effect === 'EFFECT_ALLOW') allowed.push(s);
          else if (a === undefined) denied.push({ scope: s });
          else if (a.rule === undefined) denied.push({ scope: s, policy: a.policy });
          else denied.push({ scope: s, policy: a.policy, rule: a.rule });
        }
        return { allowed, denied };
      } catch {
        return { allowed: [], denied: candidates.map((scope) => ({ scope, policy: 'error' })) };
      }
    },
  };
}
