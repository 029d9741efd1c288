// Renders decision-log records as a readable trace (the demo's output). The JSON lines stay the source of truth.
import type { DecisionRecord } from '../../src/log/index.js';

const short = (txn: unknown) => (typeof txn === 'string' ? txn.slice(0, 8) : '-');
const list = (v: unknown) => (Array.isArray(v) && v.length > 0 ? v.join(' ') : '(none)');
const chain = (v: unknown) => (Array.isArray(v) && v.length > 0 ? `[${v.join(' ← ')}]` : '[]');

export function describe(r: DecisionRecord): string {
  const effect = r.effect.toUpperCase();
  if (r.hop === 'tts' && r.event === 'scope_policy') return `TTS      policy DENY  scope ${r.action ?? ''} for ${r.workload ?? '?'}  rule ${r.rule ?? '?'}`;
  if (r.hop === 'tts') {
    const dropped = Array.isArray(r.dropped)
      ? (r.dropped as Array<{ scope: string; reason: string; policy?: string }>).map((d) => `${d.scope} dropped (${d.reason}${d.policy !== undefined ? `: ${d.policy}` : ''})`).join('; ')
      : '';
    const base = `TTS      ${r.event} ${effect}  user ${r.sub ?? '?'} via ${r.workload ?? '?'}  chain ${chain(r.chain)}  asked ${list(r.requested)} → granted ${list(r.granted)}  txn ${short(r.txn)}`;
    return [base, dropped && `         ${dropped}`, r.effect === 'deny' ? `         ${r.error ?? ''}: ${r.reason ?? ''}` : ''].filter(Boolean).join('\n');
  }
  if (r.event === 'tool_call') {
    const why = r.effect === 'deny' ? `  ✗ ${r.error ?? ''}: ${r.reason ?? ''}` : '';
    return `MCP      tool ${String(r.tool)} ${effect}  Txn-Token scope ${list(r.granted)}  request_details ${JSON.stringify(r.request_details ?? {})}  txn ${short(r.txn)}${why}`;
  }
  const res = r.resource === undefined ? '' : `${r.resource.kind} ${r.resource.id ?? ''}`;
  const hop = r.hop.padEnd(8);
  if (r.event === 'verify') return `${hop} verify ${effect}  ${r.error ?? ''}: ${r.reason ?? ''}  txn ${short(r.txn)}`;
  if (r.event === 'plan') {
    const plan = r.plan as { kind?: string; filter?: string } | undefined;
    return `${hop} plan ${(plan?.kind ?? '').replace('KIND_', '')}  ${r.action ?? ''} ${r.resource?.kind ?? ''}  user ${r.sub ?? '?'} chain ${chain(r.chain)}  filter ${plan?.filter ?? '?'}  rule ${r.rule ?? r.policy ?? '?'}  txn ${short(r.txn)}`;
  }
  return `${hop} ${r.event} ${effect}  ${r.action ?? ''} ${res}  user ${r.sub ?? '?'} chain ${chain(r.chain)}  rule ${r.rule ?? r.policy ?? '?'}${r.effect === 'deny' ? `\n         reason: ${r.reason ?? ''}` : ''}  txn ${short(r.txn)}`;
}
