// The support-desk scenario, headless. Every outcome is read from the decision log (JSON lines), not from printed text.
// It runs twice: with the bundled dev IdP (`npm run demo`) and with oidc-provider, a certified OpenID provider whose
// authorization code flow signs alice in (`npm run demo -- --idp oidc-provider`); the outcomes must be the same.
import { beforeAll, describe, expect, it } from 'vitest';
import { runScenario, type ScenarioResult } from '../../examples/support-desk/scenario.node.js';

describe.each(['dev', 'oidc-provider'] as const)('support-desk scenario (IdP: %s)', (idp) => {
  let result: ScenarioResult;
  const lines: string[] = [];
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown> & { hop: string; event: string; effect: string; txn?: string });

  beforeAll(async () => {
    result = await runScenario({ log: (line) => lines.push(line), idp });
  }, 60_000);

  it('alice signed in at the chosen IdP', () => {
    const login = result.steps.find((s) => s.key === 'login')!;
    expect(login.summary).toContain(idp === 'dev' ? "the demo IdP's login shortcut" : "oidc-provider's authorization code flow with PKCE (2 forms: login, consent)");
    expect(login.summary).toContain(`metadata names ${result.urls.idp}`);
  });

  describe('outcomes', () => {
    it('the MCP server refuses an unauthenticated request with 401 and points at its protected resource metadata', () => {
      expect(result.unauthenticated.status).toBe(401);
      expect(result.unauthenticated.wwwAuthenticate).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    });

    it("(a) alice's tickets are read at the tickets service, allowed as owner", () => {
      const allowed = parsed().filter((r) => r.hop === 'tickets' && r.event === 'authorize' && r.effect === 'allow');
      const ids = new Set(allowed.map((r) => (r.resource as { id: string }).id));
      expect(ids).toEqual(new Set(['T-1001', 'T-1002']));
      for (const r of allowed) {
        expect(r.sub).toBe('alice');
        expect(r.rule).toBe('resource.ticket.vdefault#owner-reads-and-comments');
        expect(r.chain).toEqual(['mcp-support-agent']);
      }
    });

    it("(a) alice's tickets are listed with one query planned by the engine: the plan's kind, filter and rule are logged", () => {
      const plans = parsed().filter((r) => r.hop === 'tickets' && r.event === 'plan');
      expect(plans).toHaveLength(1);
      expect(plans[0]).toMatchObject({
        effect: 'conditional',
        sub: 'alice',
        action: 'read',
        resource: { kind: 'ticket' },
        chain: ['mcp-support-agent'],
        plan: { kind: 'KIND_CONDITIONAL', filter: '(eq request.resource.attr.owner "alice")', rules: ['resource.ticket.vdefault#owner-reads-and-comments'] },
        rule: 'resource.ticket.vdefault#owner-reads-and-comments',
      });
      // the list the agent got is exactly what the plan admits (T-2001 is bob's)
      const list = result.steps.find((s) => s.key === 'a')!.calls[0]!;
      expect((JSON.parse(list.text) as { id: string }[]).map((t) => t.id)).toEqual(['T-1001', 'T-1002']);
    });

    it("(b) alice's latest order is read at the orders service", () => {
      const reads = parsed().filter((r) => r.hop === 'orders' && r.event === 'authorize');
      expect(reads.map((r) => [r.effect, r.action, (r.resource as { id: string }).id, r.sub])).toEqual([['allow', 'read', 'O-5002', 'alice']]);
    });

    it("(c) bob's ticket is refused at the tickets service, with the deciding rule named", () => {
      const t2001 = parsed().filter((r) => r.hop === 'tickets' && (r.resource as { id?: string } | undefined)?.id === 'T-2001');
      expect(t2001).toHaveLength(1);
      expect(t2001[0]).toMatchObject({ event: 'authorize', effect: 'deny', sub: 'alice', action: 'read', policy: 'resource.ticket.vdefault', rule: 'resource.ticket.vdefault#default-deny' });
      // the Txn-Token itself was fine: the TTS granted tickets:read for this call; the refusal is the service's policy
      const txn = t2001[0]!.txn;
      expect(parsed().filter((r) => r.txn === txn && r.hop === 'tts')).toMatchObject([{ event: 'exchange', effect: 'grant', granted: ['tickets:read'] }]);
      // and the agent got a tool error, not bob's data
      const step = result.steps.find((s) => s.key === 'c')!;
      expect(step.calls.map((c) => c.isError)).toEqual([true]);
    });

    it('(d) refund_order is never granted: the TTS refuses orders:refund by policy, no service sees a refund', () => {
      const all = parsed();
      expect(all.filter((r) => r.hop === 'tts' && r.effect === 'grant' && (r.granted as string[]).includes('orders:refund'))).toEqual([]);
      const denied = all.filter((r) => r.hop === 'tts' && r.event === 'exchange' && r.effect === 'deny');
      expect(denied).toMatchObject([{ requested: ['orders:refund'], error: 'invalid_scope', sub: 'alice', workload: 'mcp-support-agent' }]);
      expect(all.filter((r) => r.event === 'scope_policy')).toMatchObject([{ action: 'orders:refund', effect: 'deny', rule: 'resource.txn_token.vdefault#never-refund-via-agent' }]);
      expect(all.filter((r) => r.event === 'tool_call' && r.tool === 'refund_order')).toMatchObject([{ effect: 'deny', error: 'invalid_scope', reason_code: 'mcp.exchange_refused' }]);
      expect(denied).toMatchObject([{ reason_code: 'scope.none_granted' }]);
      expect(all.filter((r) => r.action === 'refund' && r.hop === 'orders')).toEqual([]);
      expect(result.received.filter((r) => r.path.includes('refund'))).toEqual([]);
    });

    it("no request past the MCP server carried alice's access token; every one carried a Txn-Token", () => {
      expect(result.received.length).toBeGreaterThanOrEqual(5);
      const at = result.userAccessToken;
      expect(at.split('.')).toHaveLength(3);
      for (const r of result.received) {
        expect(r.headers.authorization).toBeUndefined();
        for (const v of Object.values(r.headers)) expect(v.includes(at)).toBe(false);
        expect(r.headers['txn-token']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
        expect(r.headers['txn-token']).not.toBe(at);
      }
    });

    it('the decision log never holds a raw token', () => {
      const joined = lines.join('\n');
      expect(joined.includes(result.userAccessToken)).toBe(false);
      expect(joined).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
      for (const r of result.received) expect(joined.includes(r.headers['txn-token']!)).toBe(false);
    });

    it('every line of a transaction shares its txn: one Txn-Token per tool call, joined across TTS, MCP server and service', () => {
      const all = parsed();
      const granted = all.filter((r) => r.hop === 'tts' && r.event === 'exchange' && r.effect === 'grant');
      const toolCalls = all.filter((r) => r.event === 'tool_call' && r.effect === 'grant');
      expect(granted.length).toBe(toolCalls.length);
      expect(new Set(granted.map((r) => r.txn)).size).toBe(granted.length);
      for (const step of result.steps) {
        // within a step, each service line's txn is the txn of a tool call of that step, whose TTS line shares it
        const stepTxns = new Set(step.records.filter((r) => r.event === 'tool_call' && r.effect === 'grant').map((r) => r.txn));
        for (const r of step.records.filter((x) => x.hop === 'tickets' || x.hop === 'orders')) expect(stepTxns.has(r.txn)).toBe(true);
        for (const t of stepTxns) {
          const of = step.records.filter((r) => r.txn === t);
          expect(of.map((r) => r.hop)).toContain('tts');
          expect(of.map((r) => r.hop)).toContain('mcp');
          expect(new Set(of.map((r) => r.sub))).toEqual(new Set(['alice']));
        }
      }
      // step (c) end to end: TTS grant, MCP tool call and the tickets refusal carry one txn
      const c = result.steps.find((s) => s.key === 'c')!;
      const txns = new Set(c.records.filter((r) => r.event !== 'scope_policy').map((r) => r.txn));
      expect(txns.size).toBe(1);
      expect([...txns][0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(c.records.map((r) => `${r.hop}:${r.event}:${r.effect}`)).toEqual(['tts:exchange:grant', 'mcp:tool_call:grant', 'tickets:authorize:deny']);
    });
  });
});
