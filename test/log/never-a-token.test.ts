/**
 * Issue 10 finding 5: the decision log. "Never a raw token" (V-11), checked on every path that writes a decision —
 * exchange, replacement, revocation at the TTS; verify and authorize at a receiving service; the MCP helper — with
 * granted and refused requests, on the entries a sink receives and on the lines they are written as. Also: nothing
 * an unauthenticated caller sent is logged, strings are bounded, and U+2028/U+2029/U+0085 and the other line-breaking
 * or control characters are escaped, so one entry is always one line.
 * Real HTTP on loopback (the TTS, the client SDK), the real verifier and policy engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSecret, createTokenExchangeClient } from '../../src/client/index.js';
import { createDecisionLogger, MAX_LOG_STRING, memoryLines, memorySink, renderDecisionLine, stdoutWriter, useStdoutWriter } from '../../src/log/index.js';
import { createBatonMcp } from '../../src/mcp/index.js';
import { authorize, createVerifier, type Verifier } from '../../src/verify/index.js';
import { GRANT_TOKEN_EXCHANGE, TT_TXN_TOKEN, TT_UNSIGNED_JSON } from '../../src/txn/index.js';
import { jwtsIn, LINE_BREAKS, tamperPayload } from '../helpers/jwt.js';
import { basic, TRUST_DOMAIN } from '../helpers/names.js';
import { exchangeParams, o4wExchange, rawPost } from '../helpers/tts.js';
import { SECRETS, startWorld, type World } from '../helpers/world-tts.js';
import { loadEngine } from '../helpers/world-verify.js';



/** What the log must never hold: each credential whole, and each long segment of it (a JWT's payload or signature). */
function expectNoCredential(texts: readonly string[], credentials: readonly string[]): void {
  expect(texts.length).toBeGreaterThan(0);
  for (const text of texts) {
    expect(jwtsIn(text), text.slice(0, 300)).toEqual([]);
    for (const c of credentials) {
      expect(c.length).toBeGreaterThan(0);
      expect(text.includes(c), `a credential in: ${text.slice(0, 300)}`).toBe(false);
      for (const seg of c.split('.')) if (seg.length >= 16) expect(text.includes(seg), `a credential segment in: ${text.slice(0, 300)}`).toBe(false);
    }
  }
}

/** One line each, valid JSON, no raw line break of any kind. */
function expectOneLineEach(lines: readonly string[]): void {
  for (const l of lines) {
    expect(LINE_BREAKS.test(l), JSON.stringify(l.slice(0, 200))).toBe(false);
    expect(() => JSON.parse(l)).not.toThrow();
  }
}

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

/** Lines and entries the TTS wrote while `f` ran. */
async function ttsLog(f: () => Promise<void>): Promise<{ lines: string[]; entries: object[] }> {
  const a = w.tts.lines.length;
  const b = w.tts.decisions.length;
  await f();
  return { lines: w.tts.lines.slice(a), entries: w.tts.decisions.slice(b) };
}

describe('issue 10 finding 5: never a token in the decision log, on every path', () => {
  it('issue 10 finding 5: exchange (granted, refused by scope, by a forged subject, by client authentication): no token, no secret', async () => {
    const subject = await w.idp.mint();
    const forged = tamperPayload(await w.idp.mint(), (c) => ({ ...c, scope: 'orders:refund' }));
    let issued = '';
    const { lines, entries } = await ttsLog(async () => {
      const ok = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject, { request_details: JSON.stringify({ tool: subject }) }));
      issued = ok.ok!.access_token;
      await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject, { scope: 'admin' }));
      await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(forged));
      await rawPost(w.tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(subject) }), { authorization: basic('mcp-support-agent', 'wrong-secret-123') });
    });
    expect(entries.map((e) => (e as { effect: string }).effect)).toEqual(['grant', 'deny', 'deny', 'deny']);
    expectOneLineEach(lines);
    expectNoCredential([...lines, JSON.stringify(entries)], [subject, forged, issued, SECRETS.agent, 'wrong-secret-123']);
  });

  it('issue 10 finding 5: replacement (granted and refused): no token', async () => {
    const first = (await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint()))).ok!.access_token;
    let second = '';
    const { lines, entries } = await ttsLog(async () => {
      second = (await o4wExchange(w.tts.as, 'poster', w.auth.poster, exchangeParams(first, { subject_token_type: TT_TXN_TOKEN }))).ok!.access_token;
      await o4wExchange(w.tts.as, 'poster', w.auth.poster, exchangeParams(second, { subject_token_type: TT_TXN_TOKEN, scope: 'orders:refund' }));
      await o4wExchange(w.tts.as, 'poster', w.auth.poster, exchangeParams(tamperPayload(second, (c) => ({ ...c, sub: 'bob' })), { subject_token_type: TT_TXN_TOKEN }));
    });
    expect(entries).toMatchObject([{ event: 'replace', effect: 'grant' }, { event: 'replace', effect: 'deny' }, { event: 'replace', effect: 'deny' }]);
    expectOneLineEach(lines);
    expectNoCredential([...lines, JSON.stringify(entries)], [first, second, SECRETS.poster]);
  });

  it('issue 10 finding 5: revocation (by token, refused, an invalid token): no token', async () => {
    const t = (await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint()))).ok!.access_token;
    const post = (params: Record<string, string>, auth: string) =>
      fetch(`${w.tts.url}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, body: new URLSearchParams(params).toString() });
    const { lines, entries } = await ttsLog(async () => {
      expect((await post({ token: t }, basic('narrow', SECRETS.narrow))).status).toBe(400); // not in the chain
      expect((await post({ token: t }, basic('mcp-support-agent', SECRETS.agent))).status).toBe(200);
      expect((await post({ token: tamperPayload(t, (c) => c) + 'x' }, basic('mcp-support-agent', SECRETS.agent))).status).toBe(200);
      expect((await post({ token: t }, basic('mcp-support-agent', 'wrong-secret-123'))).status).toBe(401);
    });
    expect(entries).toMatchObject([{ event: 'revoke', effect: 'deny' }, { event: 'revoke', effect: 'grant' }, { event: 'revoke', effect: 'grant' }, { event: 'revoke', effect: 'deny' }]);
    expectOneLineEach(lines);
    expectNoCredential([...lines, JSON.stringify(entries)], [t, SECRETS.agent, SECRETS.narrow, 'wrong-secret-123']);
  });

  describe('at a receiving service', () => {
    let verifier: Verifier;
    const sink = memorySink();
    const logger = createDecisionLogger({ sink });
    beforeAll(() => {
      verifier = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: w.tts.issuer, jwks: w.tts.node.service.keys.jwks(), service: 'tickets', onDecision: logger.sink });
    });
    afterAll(async () => {
      await verifier?.close();
    });

    it('issue 10 finding 5: verify (accepted, tampered, forged, a token of another kind, a Bearer value), on a sink and on the default stdout lines: no token', async () => {
      const t = (await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint()))).ok!.access_token;
      const at = await w.idp.mint();
      const bad = [tamperPayload(t, (c) => ({ ...c, scope: 'orders:refund' })), at, `Bearer ${t}`, `${t}, ${t}`, t.slice(0, -4)];
      const stdoutLines = memoryLines(); // what the default sink writes to standard output, line by line
      const stdout = stdoutLines.lines;
      const writer = stdoutWriter();
      useStdoutWriter(stdoutLines);
      const withDefaultSink = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: w.tts.issuer, jwks: w.tts.node.service.keys.jwks(), service: 'tickets' });
      try {
        const n = sink.lines.length;
        await verifier.verify(t);
        for (const v of bad) {
          await expect(verifier.verify(v)).rejects.toThrow();
          await expect(withDefaultSink.verify(v)).rejects.toThrow();
        }
        const lines = sink.lines.slice(n);
        expect(lines).toHaveLength(bad.length);
        expect(stdout).toHaveLength(bad.length);
        expectOneLineEach([...lines, ...stdout]);
        expectNoCredential([...lines, ...stdout, JSON.stringify(sink.records)], [t, at]);
      } finally {
        useStdoutWriter(writer);
        await withDefaultSink.close();
      }
    });

    it('issue 10 finding 5: authorize (allowed and denied): no token', async () => {
      const t = (await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint()))).ok!.access_token;
      const ctx = await verifier.verify(t);
      const engine = loadEngine();
      const n = sink.lines.length;
      expect(authorize(ctx, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine, scope: 'tickets:read' }).allowed).toBe(true);
      expect(authorize(ctx, { kind: 'ticket', id: t, attr: { owner: 'bob' } }, 'read', { engine, scope: 'tickets:read' }).allowed).toBe(false);
      const lines = sink.lines.slice(n);
      expect(lines).toHaveLength(2);
      expectOneLineEach(lines);
      expectNoCredential(lines, [t]);
    });
  });

  it('issue 10 finding 5: the MCP helper (granted, refused, unauthenticated; a token among the tool arguments): no token', async () => {
    const client = createTokenExchangeClient({ issuer: w.tts.url, clientId: 'mcp-support-agent', auth: clientSecret(SECRETS.agent), trustDomain: TRUST_DOMAIN, allowInsecureHttp: true });
    const sink = memorySink();
    const logger = createDecisionLogger({ sink });
    const baton = createBatonMcp({ client, onDecision: logger.sink });
    const userToken = await w.idp.mint();
    let seen = '';
    const getTicket = baton.tool('get_ticket', { scope: 'tickets:read', details: ['ticket_id'] }, async (_args: { ticket_id: string }, { txn }) => {
      seen = txn.token;
      return { content: [{ type: 'text', text: 'ok' }] };
    });
    const refund = baton.tool('refund', { scope: 'admin' }, async () => ({ content: [{ type: 'text', text: 'never' }] }));
    const extra = { authInfo: { token: userToken, clientId: 'chat', scopes: [], extra: { sub: 'alice' } } };
    expect((await getTicket({ ticket_id: userToken }, extra)).isError).toBeUndefined();
    expect((await refund({}, extra)).isError).toBe(true);
    expect((await getTicket({ ticket_id: 'T-1' }, {})).isError).toBe(true);
    expect(sink.records.map((r) => r.effect)).toEqual(['grant', 'deny', 'deny']);
    expect(sink.records.map((r) => r.reason_code)).toEqual([undefined, 'mcp.exchange_refused', 'mcp.unauthenticated']);
    expectOneLineEach(sink.lines);
    expectNoCredential([...sink.lines, JSON.stringify(sink.records)], [userToken, seen, SECRETS.agent]);
  });
});

describe('issue 10 finding 5: bounded, escaped fields', () => {
  it("issue 10 finding 5: an unauthenticated request's 64 KB audience (a JWT inside) never reaches the log", async () => {
    const subject = await w.idp.mint();
    const audience = `${'a'.repeat(30_000)} ${subject} ${'b'.repeat(30_000)}`;
    const { lines, entries } = await ttsLog(async () => {
      const r = await rawPost(w.tts.url, new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(subject, { audience }) }), { authorization: basic('mcp-support-agent', 'not-the-secret') });
      expect(r.response.status).toBe(401);
    });
    expect(entries).toEqual([{ time: expect.any(String), hop: 'tts', event: 'exchange', effect: 'deny', error: 'invalid_client', reason: 'client authentication failed', reason_code: 'client.secret_mismatch', request_id: expect.any(String) }]);
    expect(lines[0]!.length).toBeLessThan(300);
    expectNoCredential(lines, [subject]);
  });

  it('issue 10 finding 5: an authenticated caller\'s long audience is cut at 512 characters, and a JWT in it is redacted', async () => {
    const subject = await w.idp.mint();
    const audience = `${subject} ${'z'.repeat(20_000)}`;
    const { lines, entries } = await ttsLog(async () => {
      expect((await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject, { audience }))).response.status).toBe(400);
    });
    const logged = (entries[0] as { audience: string }).audience;
    expect(logged.startsWith('[redacted jwt] zzz')).toBe(true);
    expect(logged).toMatch(new RegExp(`…\\[\\d+ more characters\\]$`));
    expect(logged.length).toBeLessThan(MAX_LOG_STRING + 40);
    expectNoCredential(lines, [subject]);
  });

  it('issue 10 finding 5: U+2028, U+2029, U+0085 and other line-breaking or control characters in a logged field are escaped: one entry, one line', async () => {
    const sub = 'alice\u2028{"hop":"tts","effect":"grant"}\u2029\u0085\u000b\u000c\r\n\u202e\u200b\u007f\u009b[2J';
    const unsigned = JSON.stringify({ sub, scope: 'tickets:read' });
    const { lines } = await ttsLog(async () => {
      const r = await o4wExchange(w.tts.as, 'unsigned-ok', w.auth.unsigned, exchangeParams(unsigned, { subject_token_type: TT_UNSIGNED_JSON }));
      expect(r.response.status, r.text).toBe(200);
    });
    expect(lines).toHaveLength(1);
    expectOneLineEach(lines);
    expect(lines[0]).toContain('\\u2028');
    expect(lines[0]).toContain('\\u0085');
    expect(lines[0]).toContain('\\u202e');
    // escaping is lossless: the line parses back to the same sub
    expect((JSON.parse(lines[0]!) as { sub: string }).sub).toBe(sub);
    // the same renderer for any hop's entry
    const line = renderDecisionLine({ hop: 'tickets', event: 'verify', effect: 'deny', sub, reason: sub });
    expectOneLineEach([line]);
    expect((JSON.parse(line) as { sub: string }).sub).toBe(sub);
  });

  it('issue 10 finding 5: the scrubber reads a bounded prefix with linear patterns: adversarial 1 MB strings are scrubbed, and cut', () => {
    // a quadratic pattern took 21 s for 64 KB of base64url characters (what an authenticated caller may put in
    // audience); at 1 MB it would not finish. The test's timeout is only a hang guard.
    for (const s of ['z'.repeat(1 << 20), 'eyJ'.repeat(350_000), 'a.'.repeat(500_000), `${'Bearer '.repeat(150_000)}x`, `${'A'.repeat(1 << 20)}.`]) {
      const line = renderDecisionLine({ hop: 'tts', event: 'exchange', effect: 'deny', audience: s });
      expect(line.length).toBeLessThan(MAX_LOG_STRING + 200);
      expect((JSON.parse(line) as { audience: string }).audience).toMatch(/…\[\d+ more characters\]$/);
    }
    // a JWT cut short by the bound is still redacted (a header and a dot are enough)
    const subjectish = `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${'p'.repeat(20_000)}`;
    expect(renderDecisionLine({ hop: 'x', event: 'y', effect: 'deny', reason: subjectish })).toContain('[redacted jwt]');
  });
});

