// A Txn-Token exchange whose request_details JSON carries a member named `__proto__` (JSON.parse makes it an own
// member): the TTS answers, copies it into tctx only when the operator allow-lists the name (as a member, never as a
// prototype: nothing of it is inherited by the allow-listed copy), and writes the grant's decision line.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { exchangeParams, o4wExchange } from '../helpers/tts.js';
import { startWorld, type World } from '../helpers/world-tts.js';

let plain: World;
let listed: World;
beforeAll(async () => {
  plain = await startWorld();
  listed = await startWorld({ overrides: { allowedRequestDetails: ['tool', '__proto__'] } });
});
afterAll(async () => {
  await plain?.close();
  await listed?.close();
});

const DETAILS = '{"__proto__":{"tool":"inherited","admin":true},"tool":"get_ticket"}';

async function exchangeWith(w: World): Promise<{ tctx: Record<string, unknown>; tctxText: string }> {
  const subject = await w.idp.mint({ scope: 'tickets:read', claims: { roles: ['user'] } });
  const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject, { scope: 'tickets:read', request_details: DETAILS }));
  expect(r.error, r.text).toBeUndefined();
  expect(r.response.status).toBe(200);
  const v = await jwtVerify(r.ok!.access_token, createRemoteJWKSet(new URL(w.tts.as.jwks_uri!)), { issuer: w.tts.issuer, audience: TRUST_DOMAIN });
  const tctx = v.payload.tctx as Record<string, unknown>;
  return { tctx, tctxText: JSON.stringify(tctx) };
}

describe('an exchange whose request_details carry "__proto__"', () => {
  it('not allow-listed: dropped, the allow-listed tool kept, the grant logged', async () => {
    const n = plain.tts.lines.length;
    const { tctx, tctxText } = await exchangeWith(plain);
    expect(tctx.request_details).toEqual({ tool: 'get_ticket' });
    expect(tctxText).not.toContain('__proto__');
    expect(tctxText).not.toContain('inherited');
    await new Promise((r) => setTimeout(r, 20));
    const lines = plain.tts.lines.slice(n).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([{ hop: 'tts', event: 'exchange', effect: 'grant', workload: 'mcp-support-agent', granted: ['tickets:read'] }]);
  });

  it('allow-listed: a member named __proto__ in the signed tctx, nothing inherited from it, the grant logged', async () => {
    const n = listed.tts.lines.length;
    const { tctxText } = await exchangeWith(listed);
    expect(tctxText).toContain('"request_details":{"tool":"get_ticket","__proto__":{"tool":"inherited","admin":true}}');
    await new Promise((r) => setTimeout(r, 20));
    const lines = listed.tts.lines.slice(n).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([{ hop: 'tts', event: 'exchange', effect: 'grant', workload: 'mcp-support-agent', granted: ['tickets:read'] }]);
    expect(({} as { admin?: unknown }).admin).toBeUndefined();
  });
});
