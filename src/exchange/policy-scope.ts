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
        if (denied.length > 0) nameDecidingRulesLater(engine, check, now, denied);
        return { allowed, denied };
      } catch {
        return { allowed: [], denied: candidates.map((scope) => ({ scope, policy: 'error' })) };
      }
    },
  };
}

/**
 * The deciding rule of a denied scope, for the decision log only: an explained re-check of the denied scopes, run
 * when the log first reads `rule` (for the default stdout log, when its batch is written, off the exchange), at most
 * once per exchange, never when nothing is logged. The decision itself is the first (unexplained) check; if
 * explaining fails or disagrees, the entry simply has no rule (`rule` reads undefined, which the log leaves out).
 */
function nameDecidingRulesLater(engine: Engine, check: CheckInput, now: Date, denied: Array<{ scope: string; policy?: string; rule?: string }>): void {
  let named: Map<string, string> | undefined;
  const ruleOf = (d: { scope: string; policy?: string }): string | undefined => {
    named ??= decidingRules(engine, check, now, denied);
    return named.get(d.scope);
  };
  for (const d of denied) Object.defineProperty(d, 'rule', { enumerable: true, configurable: true, get: () => ruleOf(d) });
}

function decidingRules(engine: Engine, check: CheckInput, now: Date, denied: ReadonlyArray<{ scope: string; policy?: string }>): Map<string, string> {
  const out = new Map<string, string>();
  try {
    const x = engine.check({ ...check, actions: denied.map((d) => d.scope) }, { explain: true, now }).explained;
    for (const d of denied) {
      const a = x?.actions[d.scope];
      if (a?.rule !== undefined && a.effect === 'EFFECT_DENY' && a.policy === d.policy) out.set(d.scope, a.rule);
    }
  } catch {
    // the first check decided; an explanation is only a nicety for the log
  }
  return out;
}
