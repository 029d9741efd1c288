// Issue 14 (speed work on the decision point must not change behaviour): the answers `baton pdp` gives and the decision
// lines it writes to standard output (its default logger, rendered when the batch is written), for a fixed set of
// Cerbos API and AuthZEN requests, with and without a Txn-Token, are byte for byte the ones recorded in
// fixtures/wire-and-log.json before the fast paths were written (2026-12-01, main at 7da4762). Call ids, times and
// transaction ids differ per run and are masked. `BATON_RECORD_WIRE=1` records the fixture again (only on purpose).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pdpFileSchema } from '../../src/config/pdp.js';
import { createDecisionLogger, memoryLines, stdoutWriter, useStdoutWriter, type LineWriter } from '../../src/log/index.js';
import { startPdp, type RunningPdp } from '../../src/node.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { supportDeskPdp } from '../helpers/pdp.js';
import { POLICY_DIR, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/wire-and-log.json', import.meta.url));

type Ask = { path: string; body: unknown; token?: 'read' | 'orders' };
const alice = { id: 'alice', roles: ['user'], attr: { workload: 'web-portal' } };
const order = { kind: 'order', id: 'o-1', attr: { owner: 'alice', amount: 120 } };
const ticket = (owner: string, id = 't1') => ({ kind: 'ticket', id, attr: { owner } });
const azTicket = (owner: string, id = 't1') => ({ type: 'ticket', id, properties: { owner } });
const subject = { type: 'user', id: 'alice', properties: { workload: 'web-portal' } };

/** Every branch of the two hot routes (and their neighbours): one answer and at most one decision line each. */
const ASKS: Ask[] = [
  { path: '/api/check/resources', body: { requestId: 'bench', principal: alice, resources: [{ resource: order, actions: ['read', 'refund', 'cancel'] }] } },
  { path: '/api/check/resources', body: { principal: alice, resources: [{ resource: order, actions: ['read'] }] } },
  { path: '/api/check/resources', body: { requestId: 'r2', includeMeta: true, principal: { ...alice, roles: ['user', 'support'] }, resources: [{ resource: ticket('alice'), actions: ['read', 'comment', 'close'] }, { resource: ticket('bob', 't2'), actions: ['read'] }, { resource: order, actions: ['refund'] }] } },
  { path: '/api/check/resources', body: { request_id: 'r3', include_meta: true, principal: { id: 'bob', roles: ['user'], scope: '.' }, resources: [{ resource: { ...ticket('alice'), scope: '' }, actions: ['read', 'close'] }] } },
  { path: '/api/check/resources', body: { principal: alice, resources: [{ resource: order, actions: ['read', 'read'] }] } },
  { path: '/api/check/resources', body: { principal: alice, resources: [] } },
  { path: '/api/check/resources', body: { principal: alice, resources: [{ resource: order, actions: ['read'] }], auxData: { jwt: { token: 'a.b.c' } } } },
  { path: '/api/check/resources', body: '{"principal":' },
  { path: '/api/check/resources', body: { requestId: 'n', auxData: null, principal: { id: 'alice', roles: ['user'], attr: null, policy_version: 'default', scope: null }, resources: [{ actions: ['read'], resource: { kind: 'order', id: 'o-1', policy_version: 'default', attr: { owner: 'alice' }, scope: null } }] } },
  { path: '/api/check/resources', body: { requestId: 'a', request_id: 'b', principal: alice, resources: [{ resource: order, actions: ['read'] }] } },
  { path: '/api/check/resources', body: { principal: { ...alice, nickname: 'al' }, resources: [{ resource: order, actions: ['read'] }] } },
  { path: '/api/check/resources', body: { principal: { ...alice, roles: ['user', '', 'user'] }, resources: [{ resource: { ...order, attr: { '': 1 } }, actions: ['', 'read', 'read'] }, { actions: ['read'] }] } },
  { path: '/api/check/resources', body: { principal: alice, resources: [{ resource: order, actions: ['read', 7] }] } },
  { path: '/api/check/resources', body: { principal: { id: '', roles: [], policyVersion: 'v-1', scope: 'a..b' }, resources: [{ resource: { kind: '', id: '', scope: '..' }, actions: [] }] } },
  { path: '/api/check/resources', body: '' },
  { path: '/api/check/resources', body: { requestId: 'tx', includeMeta: true, resources: [{ resource: ticket('alice'), actions: ['read', 'comment', 'archive'] }, { resource: ticket('bob', 't2'), actions: ['read'] }] }, token: 'read' },
  { path: '/api/check/resources', body: { resources: [{ resource: order, actions: ['read', 'refund'] }] }, token: 'orders' },
  { path: '/access/v1/evaluation', body: { subject, resource: { type: 'order', id: 'o-1', properties: { owner: 'alice', amount: 120 } }, action: { name: 'read' } } },
  { path: '/access/v1/evaluation', body: { subject: { type: 'user', id: 'alice' }, resource: azTicket('bob', 't2'), action: { name: 'read' } } },
  { path: '/access/v1/evaluation', body: { subject: { type: 'user', id: 'alice' }, resource: azTicket('alice'), action: { name: 'comment' }, context: { 'cerbos.includeMeta': true, 'cerbos.requestId': 'az-1' } } },
  { path: '/access/v1/evaluation', body: { subject: { type: 'user', id: 'alice' }, resource: azTicket('bob', 't2'), action: { name: 'read' }, context: { 'cerbos.includeMeta': true } } },
  { path: '/access/v1/evaluation', body: { subject: { type: 'agent', id: 'alice', properties: { 'cerbos.roles': ['user', 'support', ''], 'cerbos.scope': '' } }, resource: { ...azTicket('bob', 't2'), properties: { owner: 'bob', 'cerbos.policyVersion': 'default' } }, action: { name: 'close' } } },
  { path: '/access/v1/evaluation', body: { subject, resource: azTicket('alice'), action: { name: 'read' }, context: { 'cerbos.auxData': { jwt: { token: 'a.b.c' } } } } },
  { path: '/access/v1/evaluation', body: { subject, resource: azTicket('alice'), action: { name: 'read' }, context: { 'cerbos.auxData': { jwt: {} } } } },
  { path: '/access/v1/evaluation', body: { subject, resource: azTicket('alice') } },
  { path: '/access/v1/evaluation', body: { subject: { type: '', id: 'alice' }, resource: { type: 'ticket', id: '' }, action: { name: 'read', properties: { '': 1 } }, context: { '': 2 } } },
  { path: '/access/v1/evaluation', body: { subject, resource: azTicket('alice'), action: { name: 'read' }, extra: 1 } },
  { path: '/access/v1/evaluation', body: { subject: { type: 'user', id: 'alice', properties: null }, resource: { ...azTicket('alice'), properties: { owner: 'alice', note: null } }, action: { name: 'read', properties: null }, context: null } },
  { path: '/access/v1/evaluation', body: { subject: { ...subject, age: 3 }, resource: azTicket('alice'), action: { name: 'read' } } },
  { path: '/access/v1/evaluation', body: { subject, resource: azTicket('alice'), action: { name: 7 } } },
  { path: '/access/v1/evaluation', body: { resource: azTicket('alice'), action: { name: 'read' } } },
  { path: '/access/v1/evaluation', body: { resource: azTicket('alice'), action: { name: 'comment' } }, token: 'read' },
  { path: '/access/v1/evaluation', body: { resource: azTicket('alice'), action: { name: 'read' }, context: { 'cerbos.includeMeta': true } }, token: 'read' },
  { path: '/access/v1/evaluations', body: { subject, evaluations: [{ resource: azTicket('alice'), action: { name: 'read' } }, { resource: azTicket('bob', 't2'), action: { name: 'read' } }, { resource: azTicket('alice'), action: { name: 'comment' } }] } },
  { path: '/access/v1/evaluations', body: { subject, options: { evaluations_semantic: 'deny_on_first_deny' }, context: { 'cerbos.includeMeta': true }, evaluations: [{ resource: azTicket('alice'), action: { name: 'read' } }, { resource: azTicket('bob', 't2'), action: { name: 'read' } }, { resource: azTicket('alice'), action: { name: 'comment' } }] } },
  { path: '/access/v1/evaluations', body: { subject, resource: azTicket('alice'), action: { name: 'read' } } },
  { path: '/access/v1/evaluations', body: { resource: azTicket('alice'), evaluations: [{ action: { name: 'read' } }, { action: { name: 'comment' } }] }, token: 'read' },
];

interface Seen {
  ask: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  lines: string[];
}

/** Per-run values masked: call ids (ULIDs), times, transaction ids. */
const mask = (s: string): string =>
  s
    .replace(/"cerbosCallId":"[0-9A-Z]{26}"/g, '"cerbosCallId":"<ulid>"')
    .replace(/"time":"[^"]+"/g, '"time":"<time>"')
    .replace(/"txn":"[^"]+"/g, '"txn":"<txn>"');

describe('issue 14: baton pdp answers and logs as it did before the speed work', () => {
  let world: VerifyWorld;
  let running: RunningPdp;
  let lines: LineWriter & { lines: string[] };
  let before: LineWriter;
  beforeAll(async () => {
    world = await startVerifyWorld();
    before = stdoutWriter();
    lines = memoryLines();
    useStdoutWriter(lines);
    const config = pdpFileSchema.parse({ ...supportDeskPdp({ trustDomain: TRUST_DOMAIN, issuer: world.tts.issuer, jwks: world.jwks }), port: 0 });
    running = await startPdp({ config, policies: POLICY_DIR, onDecision: createDecisionLogger().sink, say: () => {} });
  });
  afterAll(async () => {
    await running?.close({ graceMs: 1000 });
    useStdoutWriter(before);
    await world?.close();
  });

  it('every answer (status, headers, body) and every decision line is the recorded one', async () => {
    const tokens = { read: await world.exchange({ scope: 'tickets:read' }), orders: await world.exchange({ scope: 'orders:read' }) };
    const seen: Seen[] = [];
    for (const a of ASKS) {
      const from = lines.lines.length;
      const res = await fetch(running.url + a.path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(a.token !== undefined ? { 'txn-token': tokens[a.token] } : {}) },
        body: typeof a.body === 'string' ? a.body : JSON.stringify(a.body),
      });
      const body = await res.text();
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'content-length', 'www-authenticate']) if (res.headers.has(h)) headers[h] = res.headers.get(h)!;
      seen.push({ ask: `${a.path}${a.token !== undefined ? ` (Txn-Token ${a.token})` : ''} ${typeof a.body === 'string' ? a.body : JSON.stringify(a.body)}`, status: res.status, headers, body: mask(body), lines: lines.lines.slice(from).map(mask) });
    }
    for (const t of Object.values(tokens)) expect(JSON.stringify(seen)).not.toContain(t.split('.')[2]);
    if (process.env.BATON_RECORD_WIRE === '1') writeFileSync(FIXTURE, `${JSON.stringify(seen, null, 1)}\n`);
    const want = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Seen[];
    expect(seen.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(seen[i], want[i]!.ask).toEqual(want[i]);
  });
});
