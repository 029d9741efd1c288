// Differential test of the wire: the same generated requests sent over HTTP to `baton pdp` and to a real Cerbos 0.55
// server (`cerbos server`) on the same policies, the answers compared field by field (`cerbosCallId` aside):
//   CheckResources  status, top-level members, each result's resource and members (asserted); effects: equal to
//                   Cerbos's, or (an engine difference, counted and printed with the request) equal to what the
//                   embedded engine decides in process, so the wire adds nothing; the deciding policy and scope,
//                   effective derived roles and outputs (counted and printed: the engine differential's known gaps)
//   PlanResources   status, top-level members and filter kind (asserted); meta.matchedScopes (counted)
//   AuthZEN         every decision of evaluation and evaluations (the three semantics), the members of each answer
//   bad requests    status, code, and for validation failures the message and the violations (asserted)
// Seeded: BATON_PDP_DIFF_SEED=<n> explores another sample; BATON_PDP_DIFF_REQUESTS=<n> sends more.
import { createEngine, type Engine } from '../../src/policy/index.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CERBOS_VERSION, cerbosBinary, startCerbos, unverifiedJwt, type CerbosServer } from '../helpers/cerbos.js';
import { CERBOS_TESTDATA, CERBOS_TESTDATA_PRESENT, startTestPdp, type TestPdp } from '../helpers/pdp.js';
import { genAction, genAttrs, genScope, PEOPLE, prng, vocabulary, type Rng, type Vocab } from '../helpers/policy-gen.js';

const isCI = process.env.CI === 'true';
const SEED = Number(process.env.BATON_PDP_DIFF_SEED ?? 20261201);
const REQUESTS = Number(process.env.BATON_PDP_DIFF_REQUESTS ?? 120);
const binary = cerbosBinary();
if (!binary.ok) console.warn(`[pdp differential] the Cerbos ${CERBOS_VERSION} binary cannot be had (${binary.reason}): ${isCI ? 'FAILING (CI=true)' : 'SKIPPED'}`);

type Json = Record<string, unknown>;

async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text.trim() === '' ? {} : (JSON.parse(text) as Json) };
}

/** A CheckResources request drawn from the policies' vocabulary (roles, kinds, actions, attributes, scopes, versions). */
function pdpCheckRequest(rng: Rng, v: Vocab, n: number): Json {
  const id = rng.chance(0.3) && v.principalIds.length ? rng.pick(v.principalIds) : rng.pick([...PEOPLE, `user${rng.int(100)}`]);
  const ids = [id, ...PEOPLE, ...v.principalIds];
  const version = rng.chance(0.2) ? rng.pick(v.versions) : undefined;
  const principal: Json = { id, roles: rng.some([...v.roles, ...v.roles, 'user'], 1, 3) };
  const pAttr = genAttrs(rng, v, v.pAttrs, ids);
  if (pAttr) principal.attr = pAttr;
  if (version !== undefined) principal.policyVersion = version;
  const pScope = genScope(rng, v);
  if (pScope !== undefined) principal.scope = pScope;
  const resources = Array.from({ length: n }, (_, i) => {
    const resource: Json = { kind: rng.pick(v.kinds), id: `r${i}` };
    const rAttr = genAttrs(rng, v, v.rAttrs, ids);
    if (rAttr) resource.attr = rAttr;
    if (version !== undefined) resource.policyVersion = version;
    const rScope = rng.chance(0.5) ? pScope : genScope(rng, v);
    if (rScope !== undefined) resource.scope = rScope;
    return { resource, actions: [...new Set(Array.from({ length: 1 + rng.int(4) }, () => genAction(rng, v)))] };
  });
  const req: Json = { requestId: `q${rng.int(1e6)}`, includeMeta: rng.chance(0.7), principal, resources };
  if (rng.chance(0.3)) req.auxData = { jwt: { token: unverifiedJwt({ sub: id, iss: 'https://issuer.example', aud: ['cerbos-jwt-tests'], customArray: rng.some(['A', 'B', 'C'], 0, 3), exp: Math.floor(Date.now() / 1000) + 3600 }) } };
  return req;
}

interface Tally {
  compared: number;
  decisions: number;
  reported: Record<string, number>;
  examples: string[];
}

/** What the embedded engine decides in process for result `i` of a request (auxData claims decoded as the PDP does). */
function inProcess(engine: Engine, req: Json, i: number): Json {
  const { resource, actions } = (req.resources as Json[])[i] as { resource: Json; actions: string[] };
  const token = ((req.auxData as Json | undefined)?.jwt as Json | undefined)?.token as string | undefined;
  const jwt = token === undefined ? undefined : (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Json);
  const r = engine.check({ principal: req.principal as never, resource: resource as never, actions, ...(jwt !== undefined ? { auxData: { jwt } } : {}) });
  return Object.fromEntries(Object.entries(r.actions).map(([a, e]) => [a, e.effect]));
}

function compareCheck(engine: Engine, req: Json, c: { status: number; json: Json }, b: { status: number; json: Json }, t: Tally): void {
  expect(b.status, JSON.stringify(req)).toBe(c.status);
  const strip = (j: Json) => Object.keys(j).filter((k) => k !== 'cerbosCallId').sort();
  expect(strip(b.json)).toEqual(strip(c.json));
  expect(typeof b.json.cerbosCallId).toBe(typeof c.json.cerbosCallId);
  if (c.status !== 200) return expect(b.json).toEqual(c.json);
  expect(b.json.requestId).toBe(c.json.requestId);
  const cr = c.json.results as Json[];
  const br = b.json.results as Json[];
  expect(br).toHaveLength(cr.length);
  cr.forEach((cx, i) => {
    const bx = br[i]!;
    t.compared++;
    expect(bx.resource, JSON.stringify(req)).toEqual(cx.resource);
    const one = JSON.stringify({ ...req, resources: [(req.resources as Json[])[i]] });
    const report = (kind: string, ours: unknown, theirs: unknown) => {
      if (canonical(ours) === canonical(theirs)) return true;
      t.reported[kind] = (t.reported[kind] ?? 0) + 1;
      if (t.examples.length < 6) t.examples.push(`${kind}: cerbos ${JSON.stringify(theirs)}, baton ${JSON.stringify(ours)}${kind === 'effect (engine)' ? `\n    request: ${one}` : ''}`);
      return false;
    };
    if (!report('effect (engine)', bx.actions, cx.actions)) expect(bx.actions, one).toEqual(inProcess(engine, req, i));
    t.decisions += Object.keys(cx.actions as Json).length;
    const sortRoles = (m: unknown) => (m === undefined ? undefined : { ...(m as Json), effectiveDerivedRoles: [...(((m as Json).effectiveDerivedRoles as string[] | undefined) ?? [])].sort() });
    report('meta', sortRoles(bx.meta), sortRoles(cx.meta));
    const outs = (o: unknown) => ((o as Json[] | undefined) ?? []).map((x) => JSON.stringify(x)).sort();
    report('outputs', outs(bx.outputs), outs(cx.outputs));
    report('members', Object.keys(bx).filter((k) => k !== 'outputs' && k !== 'meta').sort(), Object.keys(cx).filter((k) => k !== 'outputs' && k !== 'meta').sort());
  });
}

/** Bad requests: each must get Cerbos's status and code, and a validation failure Cerbos's message and violations. */
const BAD: unknown[] = [
  '',
  '{}',
  '[]',
  'not json',
  { principal: { id: 'a', roles: ['user'] } },
  { resources: [{ actions: ['view'], resource: { kind: 'k', id: '1' } }] },
  { principal: { id: '', roles: [] }, resources: [] },
  { principal: { id: 'a', roles: ['x', 'x'] }, resources: [{ actions: ['a', 'a'], resource: { kind: 'k', id: '1' } }] },
  { principal: { id: 'a', roles: ['x'], scope: '-bad' }, resources: [{ actions: ['a'], resource: { kind: '', id: '1', policyVersion: 'a-b' } }] },
  { principal: { id: 'a', roles: ['x'], attr: { '': 1 } }, resources: [{ actions: [''], resource: { kind: 'k', id: '1' } }] },
  { principal: { id: 'a', roles: ['x'] }, resources: [{ actions: ['a'] }] },
  { principal: { id: 'a', roles: ['x'] }, resources: [{ actions: Array.from({ length: 51 }, (_, i) => `a${i}`), resource: { kind: 'k', id: '1' } }] },
  { principal: { id: 'a', roles: ['x'] }, resources: Array.from({ length: 51 }, (_, i) => ({ actions: ['a'], resource: { kind: 'k', id: `${i}` } })) },
  { principal: { id: 1, roles: ['x'] }, resources: [{ actions: ['a'], resource: { kind: 'k', id: '1' } }] },
  { principal: { id: 'a', roles: ['x'] }, resources: [{ actions: ['a'], resource: { kind: 'k', id: '1' } }], bogus: 1 },
  { principal: { id: 'a', roles: ['x'] }, resources: [{ actions: ['a'], resource: { kind: 'k', id: '1' } }], auxData: { jwt: { token: 'not-a-jwt' } } },
];
const BAD_PLANS: unknown[] = [
  { principal: { id: 'a', roles: ['x'] }, resource: { kind: 'k' }, actions: [] },
  { principal: { id: 'a', roles: ['x'] }, resource: { kind: 'k' }, action: 'view', actions: ['view'] },
  { principal: { id: 'a', roles: ['x'] }, actions: ['a'] },
  { resource: { kind: '' }, actions: ['a', 'a'] },
];

describe.runIf(!binary.ok && isCI)(`Cerbos ${CERBOS_VERSION} binary under CI (pdp differential)`, () => {
  it('is available', () => expect.fail(`the Cerbos binary could not be had: ${binary.ok ? '' : binary.reason}`));
});

describe.skipIf(!binary.ok || !CERBOS_TESTDATA_PRESENT)(`baton pdp vs cerbos server ${CERBOS_VERSION}: the same requests, the same answers`, () => {
  const dir = `${CERBOS_TESTDATA}store`;
  let cerbos: CerbosServer;
  let pdp: TestPdp;
  let vocab: Vocab;
  let engine: Engine;
  beforeAll(async () => {
    const sources = readPolicies(dir);
    vocab = vocabulary(sources);
    const globals = { environment: 'test' };
    engine = createEngine({ policies: sources, lenient: false, globals });
    [cerbos, pdp] = await Promise.all([
      startCerbos({ binary: binary.ok ? binary.path : '', policyDir: dir, strictEvaluation: true, globals }),
      startTestPdp(dir, { strictEvaluation: true, globals, auxData: { jwt: { disableVerification: true } } }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([cerbos?.close(), pdp?.close()]);
  });

  it(`CheckResources: ${REQUESTS} generated requests (seed ${SEED})`, async () => {
    const rng = prng(SEED);
    const t: Tally = { compared: 0, decisions: 0, reported: {}, examples: [] };
    for (let i = 0; i < REQUESTS; i++) {
      const req = pdpCheckRequest(rng, vocab, 1 + rng.int(4));
      const [c, b] = await Promise.all([post(cerbos.url, '/api/check/resources', req), post(pdp.url, '/api/check/resources', req)]);
      compareCheck(engine, req, c, b, t);
    }
    console.log(`[pdp differential] CheckResources seed ${SEED}: ${REQUESTS} requests, ${t.compared} results, ${t.decisions} effects; results differing: ${JSON.stringify(t.reported)}${t.examples.map((e) => `\n  ${e}`).join('')}`);
    expect(t.compared).toBeGreaterThan(REQUESTS);
    expect(t.reported.members ?? 0).toBe(0);
  });

  it('PlanResources: generated requests give the same filter kind, members and matched scopes', async () => {
    const rng = prng(SEED + 1);
    let n = 0;
    let scopes = 0;
    for (let i = 0; i < 60; i++) {
      const check = pdpCheckRequest(rng, vocab, 1);
      const res = (check.resources as Json[])[0]!.resource as Json;
      const one = rng.chance(0.3);
      const actions = [...new Set([genAction(rng, vocab), genAction(rng, vocab)])];
      const req: Json = { requestId: check.requestId, includeMeta: check.includeMeta, principal: check.principal, resource: { kind: res.kind, ...(res.policyVersion ? { policyVersion: res.policyVersion } : {}), ...(res.scope !== undefined ? { scope: res.scope } : {}) }, ...(one ? { action: actions[0] } : { actions }) };
      const [c, b] = await Promise.all([post(cerbos.url, '/api/plan/resources', req), post(pdp.url, '/api/plan/resources', req)]);
      expect(b.status).toBe(c.status);
      const keys = (j: Json) => Object.keys(j).filter((k) => k !== 'cerbosCallId').sort();
      expect(keys(b.json), JSON.stringify(req)).toEqual(keys(c.json));
      if (c.status !== 200) continue;
      expect((b.json.filter as Json).kind, JSON.stringify(req)).toBe((c.json.filter as Json).kind);
      if (canonical((b.json.meta as Json | undefined)?.matchedScopes) !== canonical((c.json.meta as Json | undefined)?.matchedScopes)) {
        scopes++;
        if (scopes <= 3) console.log(`  matchedScopes: cerbos ${JSON.stringify(c.json.meta)}, baton ${JSON.stringify(b.json.meta)}\n    request: ${JSON.stringify(req)}`);
      }
      n++;
    }
    console.log(`[pdp differential] PlanResources seed ${SEED + 1}: ${n} plans, filter kinds equal; meta.matchedScopes differing in ${scopes} (a principal scope that does not exist: Cerbos leaves them out)`);
    expect(n).toBeGreaterThan(30);
  });

  it('bad requests: the same status, code, message and violations', async () => {
    for (const [path, bodies] of [['/api/check/resources', BAD], ['/api/plan/resources', BAD_PLANS]] as const) {
      for (const body of bodies) {
        const [c, b] = await Promise.all([post(cerbos.url, path, body), post(pdp.url, path, body)]);
        const what = `${path} ${JSON.stringify(body).slice(0, 200)}`;
        expect(b.status, what).toBe(c.status);
        expect(b.json.code, what).toBe(c.json.code);
        // protojson's own parse errors name a line:column Baton does not track; every other message is Cerbos's
        if (!String(c.json.message).startsWith('proto:') && !String(c.json.message).startsWith('invalid character')) expect(b.json, what).toEqual(c.json);
      }
    }
  });

  it('AuthZEN: evaluation and evaluations (three semantics) decide as Cerbos, members and meta included', async () => {
    const rng = prng(SEED + 2);
    let decisions = 0;
    for (let i = 0; i < 40; i++) {
      const check = pdpCheckRequest(rng, vocab, 2);
      const p = check.principal as Json;
      const subject = { type: (p.roles as string[])[0], id: p.id, properties: { ...(p.attr as Json | undefined), 'cerbos.roles': p.roles, ...(p.policyVersion ? { 'cerbos.policyVersion': p.policyVersion } : {}) } };
      const entities = (check.resources as Json[]).map((r) => {
        const res = r.resource as Json;
        return { type: res.kind, id: res.id, properties: { ...(res.attr as Json | undefined), ...(res.policyVersion ? { 'cerbos.policyVersion': res.policyVersion } : {}), ...(res.scope ? { 'cerbos.scope': res.scope } : {}) } };
      });
      const context = { 'cerbos.requestId': check.requestId, 'cerbos.includeMeta': check.includeMeta };
      const single = { subject, resource: entities[0], action: { name: ((check.resources as Json[])[0]!.actions as string[])[0] }, context };
      const [c1, b1] = await Promise.all([post(cerbos.url, '/access/v1/evaluation', single), post(pdp.url, '/access/v1/evaluation', single)]);
      expect(b1.status).toBe(c1.status);
      expect(b1.json, JSON.stringify(single)).toEqual(c1.json.context === undefined ? c1.json : { ...c1.json, context: b1.json.context });
      expect(b1.json.decision).toBe(c1.json.decision);
      if (check.includeMeta === true) expect(JSON.stringify(sortedResults(b1.json))).toBe(JSON.stringify(sortedResults(c1.json)));
      const evaluations = (check.resources as Json[]).flatMap((r, k) => (r.actions as string[]).map((a) => ({ resource: entities[k], action: { name: a } })));
      const semantic = rng.pick(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']);
      const batch = { subject, evaluations, options: { evaluations_semantic: semantic } };
      const [c2, b2] = await Promise.all([post(cerbos.url, '/access/v1/evaluations', batch), post(pdp.url, '/access/v1/evaluations', batch)]);
      expect(b2.status).toBe(c2.status);
      expect(b2.json, `${semantic} ${JSON.stringify(batch)}`).toEqual(c2.json);
      decisions += 1 + (c2.json.evaluations as unknown[]).length;
    }
    console.log(`[pdp differential] AuthZEN seed ${SEED + 2}: ${decisions} decisions equal to Cerbos ${CERBOS_VERSION}'s`);
  });

  it('AuthZEN metadata: the same endpoints for the URL it is fetched from (Baton adds the search endpoints)', async () => {
    const [c, b] = await Promise.all([fetch(`${cerbos.url}/.well-known/authzen-configuration`), fetch(`${pdp.url}/.well-known/authzen-configuration`)]);
    const cj = (await c.json()) as Json;
    const bj = (await b.json()) as Json;
    expect(bj.policy_decision_point).toBe(pdp.url);
    for (const k of Object.keys(cj)) expect(String(bj[k]).replace(pdp.url, 'URL')).toBe(String(cj[k]).replace(cerbos.url, 'URL'));
  });

  it('health and server_info answer as Cerbos does', async () => {
    const [ch, bh] = await Promise.all([fetch(`${cerbos.url}/_cerbos/health`), fetch(`${pdp.url}/_cerbos/health`)]);
    expect(await bh.json()).toEqual(await ch.json());
    const [ci, bi] = await Promise.all([fetch(`${cerbos.url}/api/server_info`), fetch(`${pdp.url}/api/server_info`)]);
    const cj = (await ci.json()) as Json;
    const bj = (await bi.json()) as Json;
    expect(bj.version).toBe(cj.version);
    expect(Object.keys(bj).sort()).toEqual(Object.keys(cj).sort());
  });
});

/** JSON with object members in key order (Cerbos writes maps in its own order). */
function canonical(v: unknown): string {
  const sort = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(sort) : x !== null && typeof x === 'object' ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)).map(([k, y]) => [k, sort(y)])) : x;
  return JSON.stringify(sort(v)) ?? 'undefined';
}

function sortedResults(j: Json): unknown {
  const r = ((j.context as Json | undefined)?.['cerbos.response'] as Json | undefined)?.results as Json[] | undefined;
  return (r ?? []).map((x) => ({ resource: x.resource, actions: x.actions })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
