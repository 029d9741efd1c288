// The JSON Schema validator behind Cerbos schema enforcement (src/policy/jsonschema.ts): each keyword, the messages
// Cerbos 0.55 gives (its validator is santhosh-tekuri/jsonschema v5), instance paths, references between schema
// files, and the schemas refused when they load. The engine's use of it (warn/reject, ignoreWhen, scopes, plans) is
// at the end; test/pdp/schema-differential.test.ts compares with the real Cerbos binary.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pdpSettings } from '../../src/cli/pdp.js';
import { policyTestCommand } from '../../src/policy/cli.node.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import { buildPolicyBundle, loadPolicyBundle } from '../../src/policy-bundle/index.js';
import { goFloat, goQuote, JsonSchemaError, pointerToken, SchemaCompiler, type SchemaLeafError } from '../../src/policy/jsonschema.js';
import { createEngine, PolicyLoadError, type PolicySource } from '../../src/policy/index.js';
import '../../src/policy/yaml.js';

function errorsOf(schema: unknown, value: unknown, files: Record<string, unknown> = {}): { path: string; message: string }[] {
  const m = new Map<string, string>(Object.entries({ 'root.json': schema, ...files }).map(([k, v]) => [k, JSON.stringify(v)]));
  const out: SchemaLeafError[] = [];
  new SchemaCompiler(m).compile('cerbos:///root.json').validate(value, '', out, 0);
  return out.map(({ path, message }) => ({ path, message }));
}
const one = (schema: unknown, value: unknown) => errorsOf(schema, value).map((e) => `${e.path} ${e.message}`);
function refused(schema: unknown, files: Record<string, unknown> = {}): string {
  try {
    errorsOf(schema, {}, files);
  } catch (e) {
    expect(e).toBeInstanceOf(JsonSchemaError);
    return (e as Error).message;
  }
  throw new Error('the schema compiled');
}

describe('references that loop without reading into the value', () => {
  it('make the value invalid, whatever applicator is around them (never a pass through `not`)', () => {
    const loop = ['/ schema references loop without end'];
    expect(one({ $ref: '#' }, { anything: 1 })).toEqual(loop);
    expect(one({ not: { $ref: '#' } }, { anything: 1 })).toEqual(loop);
    expect(one({ not: { not: { $ref: '#' } } }, { anything: 1 })).toEqual(loop);
    expect(one({ anyOf: [{ $ref: '#' }, false] }, 'x')).toEqual(loop);
    expect(one({ oneOf: [{ not: { $ref: '#' } }, true] }, 'x')).toEqual(loop);
    // a reference that reads into the value ends with it: valid values stay valid
    expect(one({ type: 'object', properties: { next: { $ref: '#' } } }, { next: { next: {} } })).toEqual([]);
  });
});

describe('JSON Schema keywords, worded as Cerbos words them', () => {
  it('type: the first failure at a location is the only one reported there', () => {
    expect(one({ type: 'object' }, 'x')).toEqual(['/ expected object, but got string']);
    expect(one({ type: ['string', 'null'], minLength: 3 }, 5)).toEqual(['/ expected string or null, but got number']);
    expect(one({ type: 'integer' }, 1.5)).toEqual(['/ expected integer, but got number']);
    expect(one({ type: 'integer' }, 2)).toEqual([]);
    expect(one({ type: 'number' }, 2)).toEqual([]);
    expect(one({ type: 'array' }, {})).toEqual(['/ expected array, but got object']);
    expect(one({ type: 'boolean' }, null)).toEqual(['/ expected boolean, but got null']);
  });
  it('enum and const: Go-quoted literals (numbers as the library keeps them: quoted)', () => {
    expect(one({ enum: ['marketing', 'engineering'] }, 'accounting')).toEqual(['/ value must be one of "marketing", "engineering"']);
    expect(one({ enum: ['only'] }, 'x')).toEqual(['/ value must be "only"']);
    expect(one({ enum: [1, 2, true, null] }, 3)).toEqual(['/ value must be one of "1", "2", true, <nil>']);
    expect(one({ enum: [{ a: 1 }, 'b'] }, 'c')).toEqual(['/ enum failed']);
    expect(one({ enum: [{ a: 1 }] }, { a: 1 })).toEqual([]);
    expect(one({ const: 'x' }, 'y')).toEqual(['/ value must be "x"']);
    expect(one({ const: [1] }, [2])).toEqual(['/ const failed']);
    expect(one({ const: 5 }, 5)).toEqual([]);
  });
  it('object keywords: required, properties, additionalProperties, patternProperties, propertyNames, sizes, dependentRequired', () => {
    expect(one({ required: ['a', 'b', 'c'] }, { b: 1 })).toEqual(["/ missing properties: 'a', 'c'"]);
    expect(one({ properties: { a: { type: 'string' }, b: { type: 'number' } } }, { a: 1, b: 'x' })).toEqual(['/a expected string, but got number', '/b expected number, but got string']);
    expect(one({ properties: { a: {} }, additionalProperties: false }, { a: 1, x: 1, y: 2 })).toEqual(["/ additionalProperties 'x', 'y' not allowed"]);
    expect(one({ patternProperties: { '^n_': { type: 'number' } }, additionalProperties: false }, { n_1: 'a', m: 1 })).toEqual(['/n_1 expected number, but got string', "/ additionalProperties 'm' not allowed"]);
    expect(one({ additionalProperties: { type: 'string' } }, { a: 'x', b: 2 })).toEqual(['/b expected string, but got number']);
    expect(one({ propertyNames: { maxLength: 2 } }, { abc: 1 })).toEqual(['/abc length must be <= 2, but got 3']);
    expect(one({ minProperties: 2 }, { a: 1 })).toEqual(['/ minimum 2 properties allowed, but found 1 properties']);
    expect(one({ maxProperties: 1 }, { a: 1, b: 2 })).toEqual(['/ maximum 1 properties allowed, but found 2 properties']);
    expect(one({ dependentRequired: { card: ['billing'] } }, { card: 1 })).toEqual(["/ property 'billing' is required, if 'card' property exists"]);
    expect(one({ dependentSchemas: { card: { required: ['cvc'] } } }, { card: 1 })).toEqual(["/ missing properties: 'cvc'"]);
  });
  it('array keywords: items, prefixItems, sizes, uniqueItems, contains', () => {
    expect(one({ items: { type: 'string' } }, ['a', 1])).toEqual(['/1 expected string, but got number']);
    expect(one({ prefixItems: [{ type: 'number' }], items: { type: 'string' } }, ['a', 'b', 3])).toEqual(['/0 expected number, but got string', '/2 expected string, but got number']);
    expect(one({ minItems: 2 }, [1])).toEqual(['/ minimum 2 items required, but found 1 items']);
    expect(one({ maxItems: 1 }, [1, 2])).toEqual(['/ maximum 1 items required, but found 2 items']);
    expect(one({ uniqueItems: true }, [1, 2, 1, 2])).toEqual(['/ items at index 0 and 2 are equal']);
    expect(one({ uniqueItems: true }, [{ a: [1] }, { a: [1] }])).toEqual(['/ items at index 0 and 1 are equal']);
    expect(one({ contains: { type: 'string' } }, [])).toEqual(['/ valid must be >= 1, but got 0']);
    // the library reports the items' failures as the causes of minContains
    expect(one({ contains: { type: 'string' } }, [1])).toEqual(['/0 expected string, but got number']);
    expect(one({ contains: { type: 'string' }, maxContains: 1 }, ['a', 'b'])).toEqual(['/ valid must be <= 1, but got 2']);
  });
  it('string keywords: lengths in code points, pattern (unanchored)', () => {
    expect(one({ minLength: 3 }, 'ab')).toEqual(['/ length must be >= 3, but got 2']);
    expect(one({ maxLength: 2 }, '😀😀😀')).toEqual(['/ length must be <= 2, but got 3']);
    expect(one({ maxLength: 2 }, '😀😀')).toEqual([]);
    expect(one({ pattern: '^[a-z]+$' }, 'aB')).toEqual(["/ does not match pattern '^[a-z]+$'"]);
    expect(one({ pattern: 'b' }, 'abc')).toEqual([]);
    expect(one({ pattern: '\\d' }, 'x')).toEqual(["/ does not match pattern '\\\\d'"]);
    // Go's RE2 syntax, as Cerbos's validator compiles a pattern (cerbos server 0.55, reject: "ABC" allowed, "abd" refused so)
    expect(one({ pattern: '(?i)^abc$' }, 'ABC')).toEqual([]);
    expect(one({ pattern: '(?i)^abc$' }, 'abd')).toEqual(["/ does not match pattern '(?i)^abc$'"]);
    expect(one({ pattern: '^(?P<id>[0-9]+)$' }, '42')).toEqual([]);
  });
  it('number keywords: bounds and multipleOf, numbers as Go prints float64', () => {
    expect(one({ minimum: 5 }, 4)).toEqual(['/ must be >= 5 but found 4']);
    expect(one({ exclusiveMinimum: 5 }, 5)).toEqual(['/ must be > 5 but found 5']);
    expect(one({ maximum: 1.5 }, 2.25)).toEqual(['/ must be <= 1.5 but found 2.25']);
    expect(one({ exclusiveMaximum: 1e21 }, 2e21)).toEqual(['/ must be < 1e+21 but found 2e+21']);
    expect(one({ maximum: 10 }, 1234567)).toEqual(['/ must be <= 10 but found 1.234567e+06']);
    expect(one({ multipleOf: 0.1 }, 0.3)).toEqual([]); // exact decimal arithmetic, as big.Rat
    expect(one({ multipleOf: 0.1 }, 0.35)).toEqual(['/ 0.35 not multipleOf 0.1']);
    expect(one({ multipleOf: 3 }, 10)).toEqual(['/ 10 not multipleOf 3']);
    expect(one({ minimum: 0 }, 'x')).toEqual([]);
  });
  it('applicators: not, allOf, anyOf, oneOf, if/then/else report the failing leaves', () => {
    expect(one({ not: { type: 'string' } }, 'x')).toEqual(['/ not failed']);
    expect(one({ allOf: [{ minimum: 2 }, { maximum: 0 }] }, 1)).toEqual(['/ must be >= 2 but found 1', '/ must be <= 0 but found 1']);
    expect(one({ anyOf: [{ type: 'string' }, { type: 'number' }] }, true)).toEqual(['/ expected string, but got boolean', '/ expected number, but got boolean']);
    expect(one({ anyOf: [{ type: 'string' }, { type: 'number' }] }, 1)).toEqual([]);
    expect(one({ oneOf: [{ type: 'number' }, { minimum: 0 }] }, 1)).toEqual(['/ valid against schemas at indexes 0 and 1']);
    expect(one({ oneOf: [{ type: 'string' }, { type: 'null' }] }, 1)).toEqual(['/ expected string, but got number', '/ expected null, but got number']);
    const cond = { if: { properties: { kind: { const: 'a' } } }, then: { required: ['x'] }, else: { required: ['y'] } };
    expect(one(cond, { kind: 'a' })).toEqual(["/ missing properties: 'x'"]);
    expect(one(cond, { kind: 'b' })).toEqual(["/ missing properties: 'y'"]);
    expect(one(false, 1)).toEqual(['/ not allowed']);
    expect(one(true, 1)).toEqual([]);
  });
  it('formats Cerbos asserts: date, time, date-time, duration, uuid, ipv4, ipv6, hostname, email; unknown formats are not asserted', () => {
    expect(one({ format: 'date' }, '2024-02-30')).toEqual(["/ '2024-02-30' is not valid 'date'"]);
    expect(one({ format: 'date' }, '2024-02-29')).toEqual([]);
    expect(one({ format: 'date-time' }, '2024-01-01T10:00:00Z')).toEqual([]);
    expect(one({ format: 'date-time' }, '2024-01-01 10:00:00Z')).toEqual(["/ '2024-01-01 10:00:00Z' is not valid 'date-time'"]);
    expect(one({ format: 'time' }, '23:59:60Z')).toEqual([]);
    expect(one({ format: 'time' }, '22:59:60Z')).toEqual(["/ '22:59:60Z' is not valid 'time'"]);
    expect(one({ format: 'uuid' }, 'not-a-uuid')).toEqual(["/ 'not-a-uuid' is not valid 'uuid'"]);
    expect(one({ format: 'ipv4' }, '10.0.0.256')).toEqual(["/ '10.0.0.256' is not valid 'ipv4'"]);
    expect(one({ format: 'hostname' }, '-bad.example')).toEqual(["/ '-bad.example' is not valid 'hostname'"]);
    expect(one({ format: 'hostname' }, 'a.-b.example')).toEqual([]); // the library checks only the name's first character for '-'
    expect(one({ format: 'ipv4' }, '00.1.2.3')).toEqual([]); // through Atoi, as the library reads it
    expect(one({ format: 'ipv4' }, '01.1.2.3')).toEqual(["/ '01.1.2.3' is not valid 'ipv4'"]);
    for (const ok of ['::1', '2001:db8::8a2e:370:7334', '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8']) expect(one({ format: 'ipv6' }, ok)).toEqual([]);
    for (const bad of ['1.2.3.4', '1::2::3', '12345::', 'fe80::1%eth0', '1:2:3:4:5:6:7']) expect(one({ format: 'ipv6' }, bad)).toEqual([`/ '${bad}' is not valid 'ipv6'`]);
    for (const ok of ['a@b.com', 'first.last+tag@example.co.uk', '"quoted local"@example.com', 'x@[10.0.0.1]']) expect(one({ format: 'email' }, ok)).toEqual([]);
    for (const bad of ['a@', '@b.com', 'a..b@x.com', '.a@x.com', 'a@x_y.com', 'plain']) expect(one({ format: 'email' }, bad)).toEqual([`/ '${bad}' is not valid 'email'`]);
    for (const ok of ['P1D', 'PT1H30M', 'P1Y2M3DT4H5M6S', 'P2W']) expect(one({ format: 'duration' }, ok)).toEqual([]);
    for (const bad of ['P', 'P1H', 'PT', 'P1W2D', '1D']) expect(one({ format: 'duration' }, bad)).toEqual([`/ '${bad}' is not valid 'duration'`]);
    expect(one({ format: 'made-up' }, 'anything')).toEqual([]);
    expect(one({ format: 'date' }, 5)).toEqual([]);
  });
  it('paths: JSON pointers, tokens escaped as the library escapes them', () => {
    expect(errorsOf({ properties: { tags: { properties: { 'a/b': { items: { type: 'string' } } } } } }, { tags: { 'a/b': ['x', 1] } })).toEqual([{ path: '/tags/a~1b/1', message: 'expected string, but got number' }]);
    expect(pointerToken('a b')).toBe('a%20b');
    expect(pointerToken('x~y')).toBe('x~0y');
    expect(pointerToken('é')).toBe('%C3%A9');
    expect(goQuote('a"b\n')).toBe('"a\\"b\\n"');
    expect(goFloat(0.00001)).toBe('1e-05');
    expect(goFloat(123456)).toBe('123456');
    expect(goFloat(-0.5)).toBe('-0.5');
  });
});

describe('references', () => {
  it('$ref to $defs in the same file, and to another file (relative or cerbos:///), recursion', () => {
    const tree = { $defs: { node: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/$defs/node' } }, n: { type: 'number' } } } }, $ref: '#/$defs/node' };
    expect(one(tree, { kids: [{ kids: [{ n: 'x' }] }] })).toEqual(['/kids/0/kids/0/n expected number, but got string']);
    const files = { 'common/types.json': { $defs: { dept: { enum: ['a', 'b'] } } } };
    expect(errorsOf({ properties: { d: { $ref: 'common/types.json#/$defs/dept' } } }, { d: 'c' }, files)).toEqual([{ path: '/d', message: 'value must be one of "a", "b"' }]);
    expect(errorsOf({ properties: { d: { $ref: 'cerbos:///common/types.json#/$defs/dept' } } }, { d: 'a' }, files)).toEqual([]);
  });
  it('a reference to a missing file or location does not compile', () => {
    expect(refused({ $ref: 'missing.json' })).toContain("schema _schemas/missing.json doesn't exist");
    expect(refused({ $ref: '#/$defs/nope' })).toContain('cerbos:///root.json#/$defs/nope does not exist');
    expect(refused({ $ref: 'https://example.com/s.json' })).toContain('only cerbos:/// references');
    expect(refused({ $id: 'https://example.com/root.json', properties: { a: { $ref: 'other.json' } } }, { 'other.json': {} })).toContain('relative to its $id https://example.com/root.json');
    expect(errorsOf({ $id: 'https://example.com/root.json', properties: { a: { $ref: '#/$defs/n' } }, $defs: { n: { type: 'number' } } }, { a: 'x' })).toEqual([{ path: '/a', message: 'expected number, but got string' }]);
  });
});

describe('schemas refused at load (fail closed)', () => {
  it('keywords Cerbos enforces that this validator does not', () => {
    for (const kw of ['unevaluatedProperties', 'unevaluatedItems', '$dynamicRef', 'contentEncoding', 'contentMediaType']) expect(refused({ [kw]: false })).toContain(`keyword ${kw} is not supported`);
    expect(refused({ properties: { a: { format: 'uri' } } })).toContain('format "uri" is not supported');
    expect(refused({ items: [{ type: 'string' }] })).toContain('prefixItems');
  });
  it('other drafts and malformed keyword values (Cerbos checks schemas against the metaschema)', () => {
    expect(refused({ $schema: 'http://json-schema.org/draft-07/schema#' })).toContain('is not supported');
    expect(refused({ type: 'strng' })).toContain('unknown type');
    expect(refused({ required: 'a' })).toContain('required: must be an array of strings');
    expect(refused({ minLength: -1 })).toContain('minLength: must be a non-negative integer');
    expect(refused({ pattern: '(' })).toContain('invalid regular expression');
    expect(refused({ multipleOf: 0 })).toContain('must be greater than 0');
    expect(refused(5)).toContain('must be an object or a boolean');
  });
  it('unknown keywords that do not validate are ignored, as Cerbos does', () => {
    expect(one({ 'x-note': 1, nullable: true, title: 't', type: 'string' }, 'a')).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------ engine

const PRINCIPAL_SCHEMA = { type: 'object', properties: { department: { enum: ['marketing', 'engineering'] } }, required: ['department'] };
const RESOURCE_SCHEMA = { type: 'object', properties: { owner: { type: 'string' } }, required: ['owner'] };

function policy(scope: string, schemas: boolean, extra = ''): PolicySource {
  return {
    name: `doc${scope ? '_' + scope : ''}.yaml`,
    content: `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
${scope ? `  scope: ${scope}\n` : ''}${
      schemas
        ? `  schemas:
    principalSchema:
      ref: cerbos:///principal.json
    resourceSchema:
      ref: cerbos:///doc.json
${extra}`
        : ''
    }  rules:
    - actions: ["*"]
      effect: EFFECT_ALLOW
      roles: [user]
`,
  };
}
const schemaFiles: PolicySource[] = [
  { name: '_schemas/principal.json', content: JSON.stringify(PRINCIPAL_SCHEMA) },
  { name: '_schemas/doc.json', content: JSON.stringify(RESOURCE_SCHEMA) },
];
const principal = (department: unknown) => ({ id: 'u', roles: ['user'], attr: { department } });

describe('engine: schemaEnforcement', () => {
  const sources = [policy('', true), ...schemaFiles];
  const bad = { principal: principal('sales'), resource: { kind: 'doc', id: '1', attr: {} }, actions: ['read', 'write'] };
  const good = { principal: principal('marketing'), resource: { kind: 'doc', id: '1', attr: { owner: 'u' } }, actions: ['read'] };
  const errs = [
    { path: '/department', message: 'value must be one of "marketing", "engineering"', source: 'SOURCE_PRINCIPAL' },
    { path: '/', message: "missing properties: 'owner'", source: 'SOURCE_RESOURCE' },
  ];

  it('none (the default, as Cerbos): attributes are not validated', () => {
    const r = createEngine({ policies: sources }).check(bad);
    expect(r.validationErrors).toBeUndefined();
    expect(r.actions.read!.effect).toBe('EFFECT_ALLOW');
  });
  it('warn: errors reported (principal first), the decision unchanged', () => {
    const r = createEngine({ policies: sources, schemaEnforcement: 'warn' }).check(bad);
    expect(r.validationErrors).toEqual(errs);
    expect(r.actions.read).toEqual({ effect: 'EFFECT_ALLOW', policy: 'resource.doc.vdefault', scope: '' });
  });
  it('reject: every action denied by the policy the check names, errors reported; valid attributes decide as usual', () => {
    const e = createEngine({ policies: sources, schemaEnforcement: 'reject' });
    const r = e.check(bad);
    expect(r.validationErrors).toEqual(errs);
    expect(r.actions).toEqual({ read: { effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault', scope: '' }, write: { effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault', scope: '' } });
    expect(e.check(bad, { explain: true }).explained!.actions.read!.reason).toBe('schema_validation');
    const ok = e.check(good);
    expect(ok.validationErrors).toBeUndefined();
    expect(ok.actions.read!.effect).toBe('EFFECT_ALLOW');
  });
  it('reject: the whole result as Cerbos answers it (no derived roles, no outputs), explained only when asked, each action for the schemas', () => {
    const e = createEngine({ policies: sources, schemaEnforcement: 'reject' });
    const denied = { effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault', scope: '' };
    const r = e.check({ ...bad, resource: { ...bad.resource, id: 'D-7', scope: '' } });
    expect(r).toEqual({ resource: { kind: 'doc', id: 'D-7', policyVersion: 'default', scope: '' }, actions: { read: denied, write: denied }, effectiveDerivedRoles: [], outputs: [], validationErrors: errs });
    expect('explained' in r).toBe(false);
    expect(e.check(bad, { explain: true }).explained).toEqual({
      actions: {
        read: { ...denied, reason: 'schema_validation', considered: [] },
        write: { ...denied, reason: 'schema_validation', considered: [] },
      },
      derivedRoles: [],
      lines: [
        "read: EFFECT_DENY (resource.doc.vdefault): the request's attributes do not validate against the policy's schemas",
        "write: EFFECT_DENY (resource.doc.vdefault): the request's attributes do not validate against the policy's schemas",
      ],
    });
  });
  it('ignoreWhen.actions: globs; validation is skipped only when they cover every action', () => {
    const e = createEngine({ policies: [policy('', true, '      ignoreWhen:\n        actions: ["view:*", "list"]\n'), ...schemaFiles], schemaEnforcement: 'reject' });
    const withResource = (actions: string[]) => e.check({ ...bad, actions });
    expect(withResource(['view:a', 'list']).validationErrors).toEqual([errs[0]]);
    // the resource schema is ignored for these actions, the principal schema is not
    expect(withResource(['view:a', 'list']).actions['list']!.effect).toBe('EFFECT_DENY');
    expect(withResource(['view:a', 'edit']).validationErrors).toEqual(errs);
  });
  it('a scoped policy is validated with its root policy’s schemas; the rejection names the scoped policy', () => {
    const e = createEngine({ policies: [policy('', true), policy('acme', false), ...schemaFiles], schemaEnforcement: 'reject' });
    const r = e.check({ ...bad, resource: { ...bad.resource, scope: 'acme' } });
    expect(r.validationErrors).toEqual(errs);
    expect(r.actions.read).toEqual({ effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault/acme', scope: '' });
    // a scoped policy's own schemas are not in effect
    const e2 = createEngine({ policies: [policy('', false), policy('acme', true), ...schemaFiles], schemaEnforcement: 'reject' });
    expect(e2.check({ ...bad, resource: { ...bad.resource, scope: 'acme' } }).validationErrors).toBeUndefined();
  });
  it('plans: the resource’s required errors are left out; reject plans ALWAYS_DENIED', () => {
    const e = createEngine({ policies: sources, schemaEnforcement: 'reject' });
    const p = e.plan({ principal: principal('sales'), resource: { kind: 'doc', attr: { owner: 5 } }, action: 'read' });
    expect(p.validationErrors).toEqual([errs[0], { path: '/owner', message: 'expected string, but got number', source: 'SOURCE_RESOURCE' }]);
    expect(p.filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
    expect(p.filterDebug).toBe('(false)');
    const ok = e.plan({ principal: principal('marketing'), resource: { kind: 'doc' }, action: 'read' });
    expect(ok.validationErrors).toEqual([]);
    expect(ok.filter).toEqual({ kind: 'KIND_ALWAYS_ALLOWED' });
    const warn = createEngine({ policies: sources, schemaEnforcement: 'warn' }).plan({ principal: principal('sales'), resource: { kind: 'doc' }, action: 'read' });
    expect(warn.validationErrors).toEqual([errs[0]]);
    expect(warn.filter).toEqual({ kind: 'KIND_ALWAYS_ALLOWED' });
  });
  it('enforcement without the schema files loaded is refused; a schema that does not compile is a load error naming the file', () => {
    expect(() => createEngine({ policies: [policy('', true)], schemaEnforcement: 'warn' })).toThrow(/schema enforcement needs the schema cerbos:\/\/\/principal\.json/);
    expect(createEngine({ policies: [policy('', true)] }).policyCount).toBe(1);
    let err: unknown;
    try {
      createEngine({ policies: [policy('', true), schemaFiles[0]!, { name: '_schemas/doc.json', content: '{"type":"strng"}' }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect((err as PolicyLoadError).issues).toEqual([{ file: 'doc.yaml', path: '$.resourcePolicy.schemas.resourceSchema.ref', message: expect.stringContaining('invalid schema: failed to compile resource schema "cerbos:///doc.json": cerbos:///doc.json#/type: unknown type') }]);
    expect(() => createEngine({ policies: sources, schemaEnforcement: 'strict' as never })).toThrow(/must be none, warn or reject/);
  });
});

describe('schemas on the way in: a policy directory, a Workers bundle, baton pdp settings', () => {
  it('readPolicies adds the _schemas/*.json files as _schemas/NAME sources (what cerbos:///NAME names); other files there are not schemas', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-schemas-'));
    try {
      mkdirSync(join(dir, '_schemas', 'resources'), { recursive: true });
      writeFileSync(join(dir, 'doc.yaml'), policy('', true).content);
      writeFileSync(join(dir, '_schemas', 'principal.json'), JSON.stringify(PRINCIPAL_SCHEMA));
      writeFileSync(join(dir, '_schemas', 'doc.json'), JSON.stringify(RESOURCE_SCHEMA));
      writeFileSync(join(dir, '_schemas', 'notes.yaml'), 'a: 1');
      const sources = readPolicies(dir);
      expect(sources.map((s) => s.name)).toEqual(['doc.yaml', '_schemas/doc.json', '_schemas/principal.json']);
      expect(createEngine({ policies: sources, schemaEnforcement: 'reject' }).check({ principal: principal('sales'), resource: { kind: 'doc', id: '1', attr: { owner: 'u' } }, actions: ['read'] }).validationErrors).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a policy bundle carries the schemas: the Worker validates as Node does', async () => {
    const json = { name: 'doc.json', content: JSON.stringify({ apiVersion: 'api.cerbos.dev/v1', resourcePolicy: { resource: 'doc', version: 'default', schemas: { principalSchema: { ref: 'cerbos:///principal.json' } }, rules: [{ actions: ['*'], effect: 'EFFECT_ALLOW', roles: ['user'] }] } }) };
    const bundle = await buildPolicyBundle([json, schemaFiles[0]!], { source: 'test' });
    expect(bundle.policies.map((p) => p.name)).toEqual(['_schemas/principal.json', 'doc.json']);
    const loaded = await loadPolicyBundle(JSON.parse(JSON.stringify(bundle)));
    const r = createEngine({ policies: loaded.sources, schemaEnforcement: 'reject' }).check({ principal: principal(3), resource: { kind: 'doc', id: '1' }, actions: ['read'] });
    expect(r.validationErrors).toEqual([{ path: '/department', message: 'value must be one of "marketing", "engineering"', source: 'SOURCE_PRINCIPAL' }]);
    expect(r.actions.read!.effect).toBe('EFFECT_DENY');
  });
  it('a policy bundle carries boolean schema files (true: anything, false: nothing) as the directory does', async () => {
    const json = { name: 'doc.json', content: JSON.stringify({ apiVersion: 'api.cerbos.dev/v1', resourcePolicy: { resource: 'doc', version: 'default', schemas: { principalSchema: { ref: 'cerbos:///yes.json' }, resourceSchema: { ref: 'cerbos:///no.json' } }, rules: [{ actions: ['*'], effect: 'EFFECT_ALLOW', roles: ['user'] }] } }) };
    const files = [json, { name: '_schemas/yes.json', content: 'true' }, { name: '_schemas/no.json', content: 'false' }];
    const loaded = await loadPolicyBundle(JSON.parse(JSON.stringify(await buildPolicyBundle(files, { source: 'test' }))));
    const input = { principal: principal(3), resource: { kind: 'doc', id: '1' }, actions: ['read'] };
    const fromBundle = createEngine({ policies: loaded.sources, schemaEnforcement: 'reject' }).check(input);
    expect(fromBundle).toEqual(createEngine({ policies: files, schemaEnforcement: 'reject' }).check(input));
    expect(fromBundle.validationErrors).toEqual([{ path: '/', message: 'not allowed', source: 'SOURCE_RESOURCE' }]);
    // a policy file is still a mapping
    await expect(buildPolicyBundle([{ name: 'p.json', content: 'true' }])).rejects.toThrow('p.json: a policy document must be a mapping');
  });
  it('baton pdp: --schema-enforcement over the file, default none, a wrong value refused naming the flag', () => {
    const base = { config: undefined, policies: '/tmp/p', port: undefined, host: undefined };
    expect(pdpSettings(base).config.schemaEnforcement).toBe('none');
    expect(pdpSettings({ ...base, schemaEnforcement: 'warn' }).config.schemaEnforcement).toBe('warn');
    expect(() => pdpSettings({ ...base, schemaEnforcement: 'strict' })).toThrow('--schema-enforcement: must be none, warn or reject (got "strict")');
  });
  it('baton policy test runs the suites with enforcement reject, as cerbos compile does (--ignore-schemas: none)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-schemas-test-'));
    try {
      mkdirSync(join(dir, '_schemas'), { recursive: true });
      writeFileSync(join(dir, 'doc.yaml'), policy('', true).content);
      writeFileSync(join(dir, '_schemas', 'principal.json'), JSON.stringify(PRINCIPAL_SCHEMA));
      writeFileSync(join(dir, '_schemas', 'doc.json'), JSON.stringify(RESOURCE_SCHEMA));
      const suite = { name: 'DocSuite', principals: { sam: { id: 'sam', roles: ['user'], attr: { department: 'sales' } } }, resources: { d1: { kind: 'doc', id: 'd1', attr: { owner: 'sam' } } }, tests: [{ name: 'read', input: { principals: ['sam'], resources: ['d1'], actions: ['read'] }, expected: [{ principal: 'sam', resource: 'd1', actions: { read: 'EFFECT_ALLOW' } }] }] };
      writeFileSync(join(dir, 'doc_test.yaml'), JSON.stringify(suite));
      const lines: string[] = [];
      expect(await policyTestCommand([dir], (l) => lines.push(l), (l) => lines.push(l))).toBe(1);
      expect(lines.join('\n')).toContain('expected EFFECT_ALLOW, got EFFECT_DENY');
      expect(await policyTestCommand([dir, '--ignore-schemas'], () => {}, () => {})).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
