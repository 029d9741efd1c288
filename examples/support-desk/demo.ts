// npm run demo: the support-desk scenario, end to end, with a readable trace per step.
// Everything runs on loopback and is torn down at the end; the process exits by itself.
import { describe } from './trace.js';
import { runScenario, type ScenarioStep } from './scenario.node.js';

const lines: string[] = [];
const out = (s = '') => console.log(s);

function printStep(step: ScenarioStep): void {
  out(`\n━━ ${step.key === 'login' ? 'login' : `(${step.key})`} ${step.title}`);
  for (const c of step.calls) out(`   agent → ${c.tool}(${JSON.stringify(c.args)})  ${c.isError ? '✗ tool error' : '✓'}`);
  for (const r of step.records) out(describe(r).replace(/^/gm, '   '));
  out(`   ⇒ ${step.summary.replace(/\n/g, '\n     ')}`);
}

out('Baton support-desk demo: an AI agent acting for alice through an MCP server.');
const result = await runScenario({ log: (line) => lines.push(line), onStep: printStep });
out(`\nservices reached: ${result.urls.tickets} (tickets), ${result.urls.orders} (orders); MCP server ${result.urls.mcp}`);
const leaked = result.received.filter((r) => Object.values(r.headers).some((v) => v.includes(result.userAccessToken)));
out(`requests received downstream: ${result.received.length}; carrying alice's access token: ${leaked.length}`);
const txns = new Set(result.records.map((r) => r.txn).filter((t) => t !== undefined));
out(`decision log: ${lines.length} JSON lines across ${txns.size} transactions (one Txn-Token per tool call). The lines:`);
for (const l of lines) out(l);
