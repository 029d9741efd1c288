// Differential test of schema enforcement: the same generated requests sent to `baton pdp` and to a real Cerbos 0.55
// server (`cerbos server` with `schema.enforcement: reject`, then `warn`), on
//   - Cerbos's conformance store (its `_schemas/`: principal.json, resources/leave_request.json, ...; scoped
//     leave_request policies whose root policy names the schemas), and
//   - a store written here whose schemas use every keyword Baton's validator implements (numbers, patterns, formats,
//     $ref within and across files, anyOf/oneOf/not/if-then, additionalProperties), with `ignoreWhen.actions` globs
//     and a scoped policy without schemas of its own,
// with attribute values drawn to satisfy or violate the schemas. Compared field by field: every result's
// validationErrors (path, message, source; within one source as a set, since Cerbos's order there follows Go's map
// order), its effects, and with includeMeta the matched policy and scope; plans: validationErrors, filter kind and
// filterDebug; AuthZEN: the decision and the `cerbos.response` context. Seeded: BATON_SCHEMA_DIFF_SEED=<n>.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CERBOS_VERSION, cerbosBinary, startCerbos, type CerbosServer } from '../helpers/cerbos.js';
import { CERBOS_TESTDATA, CERBOS_TESTDATA_PRESENT, startTestPdp, type TestPdp } from '../helpers/pdp.js';
import { prng, type Rng } from '../helpers/policy-gen.js';

const isCI = process.env.CI === 'true';
const SEED = Number(process.env.BATON_SCHEMA_DIFF_SEED ?? 20261202);
const REQUESTS = Number(process.env.BATON_SCHEMA_DIFF_REQUESTS ?? 80);
const binary = cerbosBinary();

type Json = Record<string, unknown>;

async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text.trim() === '' ? {} : (JSON.parse(text) as Json) };
}

/** What Cerbos lists in Go map order, sorted: one source's errors (principal errors stay first), derived roles, outputs. */
function normalised(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalised);
  if (v === null || typeof v !== 'object') return v;
  const o: Json = {};
  for (const [k, x] of Object.entries(v)) if (k !== 'cerbosCallId') o[k] = normalised(x);
  // Go map order too, in Cerbos: effective derived roles and outputs
  if (Array.isArray(o.effectiveDerivedRoles)) o.effectiveDerivedRoles = [...(o.effectiveDerivedRoles as string[])].sort();
  if (Array.isArray(o.outputs)) o.outputs = [...(o.outputs as unknown[])].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  if (Array.isArray(o.validationErrors)) {
    const rank = (e: Json) => (e.source === 'SOURCE_PRINCIPAL' ? 0 : 1);
    const key = (e: Json) => `${String(e.path)}\u0000${String(e.message)}`;
    o.validationErrors = (o.validationErrors as Json[])
      // `additionalProperties 'b', 'c' not allowed`: the names in Go map order too
      .map((e) => ({ ...e, message: String(e.message).replace(/^additionalProperties (.*) not allowed$/, (_, names: string) => `additionalProperties ${names.split(', ').sort().join(', ')} not allowed`) }))
      .sort((a, b) => rank(a) - rank(b) || key(a).localeCompare(key(b)));
  }
  return o;
}

// ------------------------------------------------------------------------------------------------ value generation

/** A value for a property: usually one the schema accepts, else one it refuses (another type, out of range, ...). */
type Gen = ((rng: Rng) => unknown) & { values: readonly unknown[] };
const pick = (...xs: unknown[]): Gen => Object.assign((rng: Rng) => rng.pick(xs), { values: xs });

interface Target {
  kinds: { kind: string; versions: string[]; scopes: string[]; actions: string[] }[];
  principal: Record<string, Gen>;
  resource: Record<string, Record<string, Gen>>;
}

const CONFORMANCE: Target = {
  kinds: [
    { kind: 'leave_request', versions: ['default', '20210210', 'staging', 'nope'], scopes: ['', 'acme', 'acme.hr', 'acme.hr.uk', 'acme.hr.uk.london', 'nope'], actions: ['view:public', 'approve', 'create', 'defer', 'delete', 'view', 'remind'] },
    { kind: 'purchase_order', versions: ['default'], scopes: ['', 'acme'], actions: ['view', 'create', 'approve', 'delete'] },
    { kind: 'salary_record', versions: ['default', '20210210'], scopes: [''], actions: ['view:public', 'delete', 'edit'] },
  ],
  principal: {
    department: pick('marketing', 'engineering', 'accounting', 7, null),
    geography: pick('GB', 'US', 12, ['GB']),
    team: pick('design', 'backend', true),
    managed_geographies: pick('GB', 3),
    orgId: pick('o1', 1.5),
    jobRoles: pick(['a', 'b'], ['a', 3], 'a'),
    tags: pick({ brands: ['x'] }, { brands: 'x' }, { regions: [1] }, 'tags'),
  },
  resource: {
    leave_request: {
      department: pick('marketing', 'engineering', 'sales', 0),
      geography: pick('GB', 'US', false),
      team: pick('design', 'backend', 42),
      id: pick('XX1', 5),
      owner: pick('john', 'mary', 1),
      status: pick('PENDING_APPROVAL', 'APPROVED', 3),
      dev_record: pick(true, false, 'yes'),
    },
    purchase_order: { ownerOrgId: pick('o1', 2), tags: pick({ brand: 'b' }, { brand: 1 }, 'x') },
    salary_record: { department: pick('engineering', 3), owner: pick('mark', false), dev_record: pick(true, 'no') },
  },
};

// the store written here: every keyword the validator implements
const RICH_PRINCIPAL = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    department: { enum: ['marketing', 'engineering'] },
    level: { type: 'integer', minimum: 1, maximum: 10 },
    score: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 100, multipleOf: 0.5 },
    code: { type: 'string', pattern: '^[A-Z]{3}$', minLength: 2, maxLength: 4 },
    tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3, uniqueItems: true },
    pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] },
    joined: { type: 'string', format: 'date' },
    seen: { format: 'date-time' },
    ip: { format: 'ipv4' },
    uid: { format: 'uuid' },
    host: { format: 'hostname' },
    ip6: { format: 'ipv6' },
    mail: { format: 'email' },
    span: { format: 'duration' },
    prio: { enum: [1, 2, 3] },
    kind: { const: 'staff' },
    meta: { type: 'object', additionalProperties: false, properties: { a: { type: 'boolean' } }, minProperties: 1, maxProperties: 2 },
    geo: { $ref: '#/$defs/geo' },
    either: { anyOf: [{ type: 'string' }, { type: 'number', minimum: 5 }] },
    one: { oneOf: [{ type: 'number' }, { minimum: 0 }] },
    nope: { not: { type: 'string' } },
    big: { type: 'number', maximum: 1000 },
    nullable: { type: ['string', 'null'] },
    labels: { type: 'object', patternProperties: { '^x-': { type: 'string' } }, propertyNames: { maxLength: 5 } },
    has: { type: 'array', contains: { const: 'k' } },
  },
  required: ['department'],
  dependentRequired: { card: ['billing'] },
  $defs: { geo: { type: 'string', enum: ['GB', 'US'] } },
  if: { properties: { kind: { const: 'staff' } }, required: ['kind'] },
  then: { required: ['level'] },
};
const RICH_DOC = {
  type: 'object',
  properties: { owner: { $ref: 'common.json#/$defs/owner' }, size: { type: 'integer', minimum: 0 }, state: { $ref: 'cerbos:///resources/common.json#/$defs/state' } },
  required: ['owner', 'size'],
};
const RICH_COMMON = { $defs: { owner: { type: 'string', minLength: 1 }, state: { enum: ['open', 'closed'] } } };

const RICH: Target = {
  kinds: [{ kind: 'doc', versions: ['default'], scopes: ['', 'acme', 'nope'], actions: ['read', 'write', 'delete', 'list', 'list:all', 'view:x'] }],
  principal: {
    department: pick('marketing', 'engineering', 'sales', 5),
    level: pick(1, 10, 0, 11, 2.5, '3'),
    score: pick(0.5, 99.5, 0, 100, 1.25, 7, 1e-7),
    code: pick('ABC', 'AB', 'abc', 'ABCDE', 'A'),
    tags: pick(['a'], [], ['a', 'b', 'c', 'd'], ['a', 'a'], ['a', 1]),
    pair: pick(['a', 1], [1, 'a'], ['a', 1, true]),
    joined: pick('2024-02-29', '2023-02-29', '2024-13-01', 7),
    seen: pick('2024-01-01T10:00:00Z', '2024-01-01T10:00:00+01:00', '2024-01-01 10:00:00Z', 'x', '2024-01-01T23:59:60Z', '2024-01-01T22:59:60Z', '2024-01-01T10:00:00.123z'),
    ip: pick('10.0.0.1', '10.0.0.256', '1.2.3', '00.1.2.3', '01.1.2.3', '+1.2.3.4'),
    uid: pick('123e4567-e89b-12d3-a456-426614174000', 'nope'),
    host: pick('example.com', '-x.example', 'a_b.example', 'a.-b.example', 'x-.example'),
    ip6: pick('::1', '2001:db8::1', '::ffff:10.0.0.1', '1::2::3', '1.2.3.4', 'fe80::1%eth0', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8', 'g::1'),
    mail: pick('a@b.com', 'first.last+tag@example.co.uk', '"quoted local"@example.com', 'x@[10.0.0.1]', 'a@', '@b.com', 'a..b@x.com', '.a@x.com', 'a@x_y.com', 'plain'),
    span: pick('P1D', 'PT1H30M', 'P1Y2M3DT4H5M6S', 'P2W', 'P', 'P1H', 'PT', 'P1W2D', '1D'),
    prio: pick(1, 3, 4, '1'),
    kind: pick('staff', 'guest'),
    meta: pick({ a: true }, { a: 1 }, { b: 1 }, {}, { a: true, b: 1, c: 2 }),
    geo: pick('GB', 'FR', 1),
    either: pick('x', 7, 3, true),
    one: pick(-1, 1, 'x'),
    nope: pick(1, 'x'),
    big: pick(10, 1000, 1000.5, 1234567, 2e21),
    nullable: pick(null, 'x', 1),
    labels: pick({ 'x-a': 'v' }, { 'x-a': 1 }, { toolong: 'v' }),
    has: pick(['k'], [], ['a', 'b']),
    card: pick(1),
    billing: pick('b'),
  },
  resource: { doc: { owner: pick('alice', '', 5), size: pick(0, 3, -1, 1.5, 'big'), state: pick('open', 'closed', 'lost'), extra: pick(1) } },
};

function writeRichStore(): string {
  const dir = mkdtempSync(join(tmpdir(), 'baton-schema-diff-'));
  const put = (name: string, text: string) => {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  };
  put('_schemas/principal.json', JSON.stringify(RICH_PRINCIPAL, null, 2));
  put('_schemas/resources/doc.json', JSON.stringify(RICH_DOC, null, 2));
  put('_schemas/resources/common.json', JSON.stringify(RICH_COMMON, null, 2));
  put(
    'doc.yaml',
    `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  schemas:
    principalSchema:
      ref: cerbos:///principal.json
      ignoreWhen:
        actions: ["view:*"]
    resourceSchema:
      ref: cerbos:///resources/doc.json
      ignoreWhen:
        actions: ["list*", "view:*"]
  rules:
    - actions: ["*"]
      effect: EFFECT_ALLOW
      roles: [user]
    - actions: ["delete"]
      effect: EFFECT_DENY
      roles: [user]
      condition:
        match:
          expr: request.resource.attr.owner != request.principal.id
`,
  );
  put(
    'doc_acme.yaml',
    `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  scope: acme
  rules:
    - actions: ["write"]
      effect: EFFECT_DENY
      roles: [user]
`,
  );
  return dir;
}

function attrs(rng: Rng, gens: Record<string, Gen>): Json | undefined {
  if (rng.chance(0.1)) return undefined;
  const out: Json = {};
  for (const [k, g] of Object.entries(gens)) if (rng.chance(0.45)) out[k] = g(rng);
  return out;
}

function checkRequest(rng: Rng, t: Target, n: number): Json {
  const principal: Json = { id: rng.pick(['alice', 'bob', 'john']), roles: rng.some(['user', 'employee', 'manager', 'admin'], 1, 2) };
  const pAttr = attrs(rng, t.principal);
  if (pAttr) principal.attr = pAttr;
  const resources = Array.from({ length: n }, (_, i) => {
    const k = rng.pick(t.kinds);
    const resource: Json = { kind: k.kind, id: `r${i}` };
    const rAttr = attrs(rng, t.resource[k.kind] ?? {});
    if (rAttr) resource.attr = rAttr;
    const version = rng.pick(k.versions);
    if (version !== 'default') resource.policyVersion = version;
    const scope = rng.pick(k.scopes);
    if (scope !== '') resource.scope = scope;
    return { resource, actions: rng.some(k.actions, 1, 3) };
  });
  return { requestId: `q${rng.int(1e6)}`, includeMeta: rng.chance(0.7), principal, resources };
}

function planRequest(rng: Rng, t: Target): Json {
  const k = rng.pick(t.kinds);
  const principal: Json = { id: rng.pick(['alice', 'bob']), roles: rng.some(['user', 'employee', 'manager', 'admin'], 1, 2), attr: attrs(rng, t.principal) ?? {} };
  const resource: Json = { kind: k.kind, attr: attrs(rng, t.resource[k.kind] ?? {}) ?? {} };
  const version = rng.pick(k.versions);
  if (version !== 'default') resource.policyVersion = version;
  const scope = rng.pick(k.scopes);
  if (scope !== '') resource.scope = scope;
  const actions = rng.some(k.actions, 1, 2);
  return { requestId: 'p', includeMeta: true, ...(actions.length === 1 ? { action: actions[0] } : { actions }), principal, resource };
}

function evaluation(rng: Rng, t: Target): Json {
  const k = rng.pick(t.kinds);
  const version = rng.pick(k.versions);
  return {
    subject: { type: 'user', id: 'alice', properties: { 'cerbos.roles': rng.some(['user', 'employee', 'admin'], 1, 2), ...(attrs(rng, t.principal) ?? {}) } },
    resource: { type: k.kind, id: 'r1', properties: { ...(version !== 'default' ? { 'cerbos.policyVersion': version } : {}), ...(attrs(rng, t.resource[k.kind] ?? {}) ?? {}) } },
    action: { name: rng.pick(k.actions) },
    context: { 'cerbos.includeMeta': true, 'cerbos.requestId': 'az' },
  };
}

// ------------------------------------------------------------------------------------------------ the comparison

interface Tally {
  results: number;
  withErrors: number;
  plans: number;
  plansWithErrors: number;
  evaluations: number;
}

async function compareAll(cerbos: CerbosServer, pdp: TestPdp, t: Target, seed: number, enforcement: string): Promise<Tally> {
  const rng = prng(seed);
  const tally: Tally = { results: 0, withErrors: 0, plans: 0, plansWithErrors: 0, evaluations: 0 };
  for (let i = 0; i < REQUESTS; i++) {
    const req = checkRequest(rng, t, 1 + rng.int(3));
    const [c, b] = await Promise.all([post(cerbos.url, '/api/check/resources', req), post(pdp.url, '/api/check/resources', req)]);
    const where = `${enforcement} check ${i}: ${JSON.stringify(req)}`;
    expect(b.status, where).toBe(c.status);
    expect(normalised(b.json), where).toEqual(normalised(c.json));
    for (const r of (c.json.results as Json[] | undefined) ?? []) {
      tally.results++;
      if (Array.isArray(r.validationErrors)) tally.withErrors++;
    }
  }
  for (let i = 0; i < REQUESTS / 2; i++) {
    const req = planRequest(rng, t);
    const [c, b] = await Promise.all([post(cerbos.url, '/api/plan/resources', req), post(pdp.url, '/api/plan/resources', req)]);
    const where = `${enforcement} plan ${i}: ${JSON.stringify(req)}`;
    expect(b.status, where).toBe(c.status);
    const pick = (j: Json) => normalised({ validationErrors: j.validationErrors, kind: (j.filter as Json | undefined)?.kind, ...(j.validationErrors !== undefined && enforcement === 'reject' ? { filter: j.filter, meta: j.meta } : {}) });
    expect(pick(b.json), where).toEqual(pick(c.json));
    tally.plans++;
    if (Array.isArray(c.json.validationErrors)) tally.plansWithErrors++;
  }
  for (let i = 0; i < REQUESTS / 4; i++) {
    const req = evaluation(rng, t);
    const [c, b] = await Promise.all([post(cerbos.url, '/access/v1/evaluation', req), post(pdp.url, '/access/v1/evaluation', req)]);
    const where = `${enforcement} evaluation ${i}: ${JSON.stringify(req)}`;
    expect(b.status, where).toBe(c.status);
    expect(normalised(b.json), where).toEqual(normalised(c.json));
    tally.evaluations++;
  }
  return tally;
}

if (!binary.ok) console.warn(`[schema differential] the Cerbos ${CERBOS_VERSION} binary cannot be had (${binary.reason}): ${isCI ? 'FAILING (CI=true)' : 'SKIPPED'}`);

describe.runIf(!binary.ok && isCI)(`Cerbos ${CERBOS_VERSION} binary under CI (schema differential)`, () => {
  it('is available', () => expect.fail(`the Cerbos binary could not be had: ${binary.ok ? '' : binary.reason}`));
});

for (const enforcement of ['reject', 'warn'] as const) {
  describe.skipIf(!binary.ok || !CERBOS_TESTDATA_PRESENT)(`schema enforcement ${enforcement}: baton pdp vs cerbos server ${CERBOS_VERSION}`, () => {
    const richDir = writeRichStore();
    const servers: { cerbos?: CerbosServer; pdp?: TestPdp }[] = [{}, {}];
    const stores = [`${CERBOS_TESTDATA}store`, richDir];
    beforeAll(async () => {
      const globals = { environment: 'test' };
      await Promise.all(
        stores.map(async (dir, i) => {
          [servers[i]!.cerbos, servers[i]!.pdp] = await Promise.all([
            startCerbos({ binary: binary.ok ? binary.path : '', policyDir: dir, strictEvaluation: false, globals, schemaEnforcement: enforcement }),
            startTestPdp(dir, { schemaEnforcement: enforcement, globals, auxData: { jwt: { disableVerification: true } } }),
          ]);
        }),
      );
    }, 60_000);
    afterAll(async () => {
      await Promise.all(servers.flatMap((s) => [s.cerbos?.close(), s.pdp?.close()]));
      rmSync(richDir, { recursive: true, force: true });
    });

    it(`the conformance store: ${REQUESTS} checks, ${REQUESTS / 2} plans, ${REQUESTS / 4} AuthZEN evaluations (seed ${SEED})`, async () => {
      const t = await compareAll(servers[0]!.cerbos!, servers[0]!.pdp!, CONFORMANCE, SEED, enforcement);
      console.log(`[schema differential] ${enforcement}, conformance store: ${t.results} results (${t.withErrors} with validation errors), ${t.plans} plans (${t.plansWithErrors} with errors), ${t.evaluations} evaluations: all equal`);
      // the sample must exercise both outcomes, else it proves nothing
      expect(t.withErrors).toBeGreaterThan(t.results / 5);
      expect(t.withErrors).toBeLessThan(t.results);
      expect(t.plansWithErrors).toBeGreaterThan(0);
    }, 120_000);

    it('a store using every keyword the validator implements: each listed value of each attribute, alone', async () => {
      const { cerbos, pdp } = servers[1]!;
      let withErrors = 0;
      const one = async (pAttr: Json, rAttr: Json) => {
        const req = { requestId: 'v', includeMeta: true, principal: { id: 'alice', roles: ['user'], attr: pAttr }, resources: [{ resource: { kind: 'doc', id: 'd', attr: rAttr }, actions: ['read'] }] };
        const [c, b] = await Promise.all([post(cerbos!.url, '/api/check/resources', req), post(pdp!.url, '/api/check/resources', req)]);
        expect(normalised(b.json), JSON.stringify(req)).toEqual(normalised(c.json));
        if (JSON.stringify(c.json).includes('validationErrors')) withErrors++;
      };
      const base = { owner: 'alice', size: 1 };
      let n = 0;
      for (const [k, g] of Object.entries(RICH.principal)) for (const v of g.values) (n++, await one({ department: 'marketing', [k]: v }, base));
      for (const [k, g] of Object.entries(RICH.resource.doc!)) for (const v of g.values) (n++, await one({ department: 'marketing' }, { ...base, [k]: v }));
      console.log(`[schema differential] ${enforcement}, keyword store: ${n} single-attribute checks (${withErrors} with validation errors): all equal`);
      expect(withErrors).toBeGreaterThan(n / 3);
    }, 120_000);

    it(`a store using every keyword the validator implements (seed ${SEED + 1})`, async () => {
      const t = await compareAll(servers[1]!.cerbos!, servers[1]!.pdp!, RICH, SEED + 1, enforcement);
      console.log(`[schema differential] ${enforcement}, keyword store: ${t.results} results (${t.withErrors} with validation errors), ${t.plans} plans (${t.plansWithErrors} with errors), ${t.evaluations} evaluations: all equal`);
      expect(t.withErrors).toBeGreaterThan(t.results / 5);
      expect(t.withErrors).toBeLessThan(t.results);
    }, 120_000);
  });
}
