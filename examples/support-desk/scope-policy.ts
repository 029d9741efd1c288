// The TTS scope decision through the embedded engine, like src/exchange/policy-scope.ts, but asking the engine to
// explain itself so that the decision log names the deciding rule (`resource.txn_token.vdefault#never-refund-via-agent`).
import type { ScopePolicy, ScopePolicyInput } from '../../src/exchange/scope.js';
import type { Engine } from '../../src/policy/index.js';

export interface ScopeDenial {
  time: string;
  hop: 'tts';
  event: 'scope_policy';
  effect: 'deny';
  sub: string;
  workload: string;
  chain: string[];
  action: string;
  resource: { kind: 'txn_token'; id: string };
  rule: string;
  reason: string;
}

/** `onDeny` gets one entry per scope the policy refuses (the TTS's own line says only what was granted). */
export function explainedScopePolicy(engine: Pick<Engine, 'check'>, onDeny?: (e: ScopeDenial) => void): ScopePolicy {
  return {
    allowedScopes(input: ScopePolicyInput, candidates: readonly string[]) {
      try {
        const r = engine.check(
          {
            principal: { id: input.principal.id, roles: [...input.principal.roles], attr: { ...input.principal.attr, workload: input.workload, chain: [...input.chain] } },
            resource: {
              kind: 'txn_token',
              id: input.audience,
              attr: { workload: input.workload, audience: input.audience, request_details: input.requestDetails ?? {}, request_context: input.requestContext ?? {} },
            },
            actions: [...candidates],
          },
          { explain: true },
        );
        const allowed: string[] = [];
        const denied: Array<{ scope: string; policy?: string }> = [];
        for (const s of candidates) {
          const a = r.actions[s];
          if (a?.effect === 'EFFECT_ALLOW') allowed.push(s);
          else {
            const rule = r.explained?.actions[s]?.rule;
            const policy = rule ?? (a?.policy !== undefined ? `${a.policy}#default-deny` : 'NO_MATCH');
            denied.push({ scope: s, policy });
            onDeny?.({
              time: new Date().toISOString(), hop: 'tts', event: 'scope_policy', effect: 'deny', sub: input.principal.id, workload: input.workload,
              chain: [input.workload, ...input.chain], action: s, resource: { kind: 'txn_token', id: input.audience }, rule: policy,
              reason: `scope ${s} is not granted to ${input.workload} by ${policy}`,
            });
          }
        }
        return { allowed, denied };
      } catch {
        return { allowed: [], denied: candidates.map((scope) => ({ scope, policy: 'error' })) };
      }
    },
  };
}
