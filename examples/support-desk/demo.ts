// npm run demo: the support-desk scenario, end to end, with a readable trace per step.
// npm run demo -- --idp oidc-provider: the same, with a certified OpenID provider (oidc-provider) as the IdP.
// Everything runs on loopback and is torn down at the end; the process exits by itself.
import { parseArgs } from 'node:util';
import { describe } from './trace.js';
import { runScenario, type ScenarioStep } from './scenario.node.js';

const IDPS = ['dev', 'oidc-provider'] as const;
let idp: (typeof IDPS)[number];
try {
  const { values } = parseArgs({ options: { idp: { type: 'string', default: 'dev' } }, strict: true });
  if (!(IDPS as readonly string[]).includes(values.idp!)) throw new Error(`--idp must be one of ${IDPS.join(', ')}`);
  idp = values.idp as (typeof IDPS)[number];
} catch (e) {
  console.error(`demo: ${(e as Error).message}\nusage: npm run demo [-- --idp dev|oidc-provider]`);
  process.exit(2);
}

const lines: string[] = [];
const out = (s = '') => console.log(s);

function printStep(step: ScenarioStep): void {
  out(`\n━━ ${step.key === 'login' ? 'login' : `(${step.key})`} ${step.title}`);
  for (const c of step.calls) out(`   agent → ${c.tool}(${JSON.stringify(c.args)})  ${c.isError ? '✗ tool error' : '✓'}`);
  for (const r of step.records) out(describe(r).replace(/^/gm, '   '));
  out(`   ⇒ ${step.summary.replace(/\n/g, '\n     ')}`);
}

out('Baton support-desk demo: an AI agent acting for alice through an MCP server.');
if (idp === 'oidc-provider')
  out('IdP: oidc-provider (OpenID Certified), development mode: dev login/consent pages, in-memory storage; Baton knows only its issuer.');
const result = await runScenario({ log: (line) => lines.push(line), onStep: printStep, idp });
out(`\nservices reached: ${result.urls.tickets} (tickets), ${result.urls.orders} (orders); MCP server ${result.urls.mcp}`);
const leaked = result.received.filter((r) => Object.values(r.headers).some((v) => v.includes(result.userAccessToken)));
out(`requests received downstream: ${result.received.length}; carrying alice's access token: ${leaked.length}`);
const txns = new Set(result.records.map((r) => r.txn).filter((t) => t !== undefined));
out(`decision log: ${lines.length} JSON lines across ${txns.size} transactions (one Txn-Token per tool call). The lines:`);
for (const l of lines) out(l);
