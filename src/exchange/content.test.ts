// The chain and content steps (mint.ts) without HTTP (T-17, T-18, T-22, T-23; R-04..R-06): what goes into the token.
import { describe, expect, it } from 'vitest';
import { refusal, unitTts } from '../../test/helpers/tts-context.js';
import { TT_ACCESS_TOKEN, type TxnTokenClaims } from '../txn/index.js';
import { extendChain, firstContent, pickAllowed, replacementContent } from './mint.js';
import type { ExchangeRequest } from './request.js';
import type { Subject } from './subject.js';

const req = (o: Partial<ExchangeRequest> = {}): ExchangeRequest => ({
  audience: 'support.example', scopes: ['tickets:read'], subjectToken: 't', subjectTokenType: TT_ACCESS_TOKEN, requestContext: undefined, requestDetails: undefined, ...o,
});
const subject: Subject = { sub: 'alice', scopes: ['tickets:read'], roles: ['user'], attr: { tenant: 'acme' }, act: undefined, authn: ['pwd'], exp: 1_000_100, kind: 'access_token', issuer: 'i' };

describe('the chain step (T-22, T-23, R-05)', () => {
  it('T-22 R-05 the requesting workload becomes the outermost actor; the earlier chain nests inside', async () => {
    const u = await unitTts();
    expect(extendChain(u.ctx, 'hop', { sub: 'agent', act: { sub: 'assistant' } })).toEqual({ act: { sub: 'hop', act: { sub: 'agent', act: { sub: 'assistant' } } }, earlier: ['agent', 'assistant'] });
  });
  it('T-23 a chain longer than maxChainDepth is invalid_request', async () => {
    const u = await unitTts({ overrides: { maxChainDepth: 2 } });
    expect(await refusal(() => extendChain(u.ctx, 'hop', { sub: 'a', act: { sub: 'b' } }))).toMatchObject({ error: 'invalid_request', reason: 'chain.too_deep' });
  });
});

describe('the content of a first exchange (T-17, T-18)', () => {
  it('T-18 tctx: roles, attributes, allow-listed request_details; rctx: allow-listed request_context, req_ip and authn never from the body', async () => {
    const u = await unitTts({ overrides: { allowedRequestContext: ['channel', 'req_ip', 'authn'] } });
    const c = firstContent(u.ctx, req({ requestDetails: { tool: 'x', sub: 'bob' }, requestContext: { channel: 'chat', req_ip: '6.6.6.6', authn: 'forged' } }), subject, '10.0.0.1', 1_000_000);
    expect(c.tctx).toEqual({ roles: ['user'], attr: { tenant: 'acme' }, request_details: { tool: 'x' } });
    expect(c.rctx).toEqual({ channel: 'chat', req_ip: '10.0.0.1', authn: ['pwd'] });
  });
  it('T-17 the lifetime is tokenTtl, never beyond the subject token', async () => {
    const u = await unitTts({ overrides: { tokenTtl: 60 } });
    expect(firstContent(u.ctx, req(), { ...subject, exp: undefined }, undefined, 1_000_000).exp).toBe(1_000_060);
    expect(firstContent(u.ctx, req(), subject, undefined, 1_000_000).exp).toBe(1_000_060);
    expect(firstContent(u.ctx, req(), { ...subject, exp: 1_000_010 }, undefined, 1_000_000).exp).toBe(1_000_010);
  });
  it('T-18 only own, allow-listed members are picked (a caller cannot inject claims)', () => {
    expect(pickAllowed({ tool: 1, sub: 'bob' }, ['tool', 'toString', 'constructor'])).toEqual({ tool: 1 });
  });
  it('T-18 an allow-listed __proto__ is copied as a member, never as the copy\'s prototype', () => {
    const details = JSON.parse('{"tool":"x","__proto__":{"polluted":true}}') as Record<string, unknown>;
    const out = pickAllowed(details, ['tool', '__proto__']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(out))).toEqual(JSON.parse('{"tool":"x","__proto__":{"polluted":true}}'));
    expect(Object.keys(out)).toEqual(['tool', '__proto__']);
  });
});

describe('the content of a replacement (R-04, R-06)', () => {
  const input = { txn: 't', sub: 'alice', scope: 'tickets:read', req_wl: 'agent', iat: 1, exp: 1_000_030, aud: 'support.example', tctx: { roles: ['user'], request_details: { ticket_id: 'T-1' } }, rctx: { req_ip: '10.0.0.1' } } as TxnTokenClaims;
  it('R-04 tctx members may be added, never changed; R-06 exp never beyond the input', async () => {
    const u = await unitTts();
    const c = replacementContent(u.ctx, req({ requestDetails: { tool: 'lookup', ticket_id: 'T-1' } }), input, 1_000_000);
    expect(c.tctx).toEqual({ roles: ['user'], request_details: { ticket_id: 'T-1', tool: 'lookup' } });
    expect(c.rctx).toEqual({ req_ip: '10.0.0.1' });
    expect(c.exp).toBe(1_000_030);
    expect(await refusal(() => replacementContent(u.ctx, req({ requestDetails: { ticket_id: 'T-2' } }), input, 1_000_000))).toMatchObject({ reason: 'replace.tctx_changed' });
  });
});
