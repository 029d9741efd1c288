// Issue 10 on Workers, inside workerd: the verifier's remote key set (findings 7, 8) reading the TTS Worker's JWKS
// through a service-binding-style fetch (SELF), with its byte cap; the decision-log renderer (finding 5); the TTS
// Worker's refusals of findings 1, 2 and 12 answered as on Node.
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { renderDecisionLine } from '../../src/log/index.js';
import { createVerifier, TxnTokenError } from '../../src/verify/index.js';
import { claimsOf } from '../helpers/jwt.js';
import { agentAssertion, BASE, exchangeForm, post, userToken } from '../helpers/workers.js';

async function txnToken(): Promise<string> {
  const res = await post('/token', await exchangeForm({ scope: 'tickets:read' }, { subject: await userToken() }));
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

describe('issue 10 on Workers', () => {
  it('issue 10 finding 7: the verifier fetches the JWKS through a given fetch (a service binding) and verifies; its cache is byte-bounded', async () => {
    let fetches = 0;
    const v = createVerifier({
      trustDomain: 'support.example',
      jwksUri: `${BASE}/.well-known/jwks.json`,
      onDecision: null,
      jwksFetch: (input, init) => {
        fetches++;
        return SELF.fetch(input, init);
      },
    });
    const token = await txnToken();
    const ctx = await v.verify(token);
    expect(ctx.txn).toBe(claimsOf(token).txn);
    expect(fetches).toBe(1);
    const stats = v.cacheStats();
    expect(stats.entries).toBe(1);
    expect(stats.bytes).toBeGreaterThan(token.length);
    await v.close();
  });

  it('issue 10 finding 7: a JWKS answer larger than jwksMaxBytes is refused unavailable in workerd too, unread past the cap', async () => {
    let pulled = 0;
    const huge = (): Promise<Response> => {
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          pulled += 16 * 1024;
          c.enqueue(new Uint8Array(16 * 1024).fill(0x20));
          if (pulled > 50 * 1024 * 1024) c.close();
        },
      });
      return Promise.resolve(new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }));
    };
    const v = createVerifier({ trustDomain: 'support.example', jwksUri: `${BASE}/.well-known/jwks.json`, onDecision: null, jwksFetch: huge });
    const e = await v.verify(await txnToken()).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(TxnTokenError);
    expect((e as TxnTokenError).code).toBe('unavailable');
    expect((e as TxnTokenError).message).toMatch(/larger than 65536 bytes/);
    expect(pulled).toBeLessThan(1024 * 1024);
    await v.close();
  });

  it('issue 10 finding 5: a decision line is one line in workerd (U+2028, U+2029, U+0085 escaped), never a token', async () => {
    const token = await txnToken();
    const line = renderDecisionLine({ hop: 'tickets', event: 'verify', effect: 'deny', sub: 'a\u2028b\u2029c\u0085d', reason: `bad ${token}` });
    expect(/[\n\r\u2028\u2029\u0085]/.test(line)).toBe(false);
    expect(line).not.toContain(token.split('.')[2]!);
    expect((JSON.parse(line) as { sub: string }).sub).toBe('a\u2028b\u2029c\u0085d');
  });

  it('issue 10 findings 2 and 12: the TTS Worker refuses an array aud in a client assertion (401) and an empty sub (400)', async () => {
    const arrayAud = await post('/token', await exchangeForm({}, { assertion: await agentAssertion({ aud: [BASE, 'https://evil.example'] }) }));
    expect(arrayAud.status).toBe(401);
    expect(await arrayAud.json()).toMatchObject({ error: 'invalid_client', error_description: 'client assertion rejected: aud must be a single string, not an array' });
    const emptySub = await post('/token', await exchangeForm({}, { subject: await userToken({ sub: '' }) }));
    expect(emptySub.status).toBe(400);
    expect(await emptySub.json()).toMatchObject({ error: 'invalid_request', error_description: 'subject token rejected: sub must not be empty' });
  });
});
