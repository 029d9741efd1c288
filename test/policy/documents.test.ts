/**
 * Policy text without a YAML parser: the engine reads JSON by itself (bundles, JSON policy files) and says what to do
 * with YAML; `yaml.ts` installs the YAML parser, after which the same JSON text gives the same documents. This file
 * imports nothing that loads `yaml.ts` until the last test (each vitest file has its own module graph).
 */
import { describe, expect, it } from 'vitest';
import { parseJsonDocuments, parsePolicyText } from '../../src/policy/documents.js';
import { createEngine } from '../../src/policy/engine.js';
import { PolicyLoadError } from '../../src/policy/errors.js';
import { buildPolicyBundle, loadPolicyBundle } from '../../src/policy-bundle/index.js';

const TICKET = {
  apiVersion: 'api.cerbos.dev/v1',
  resourcePolicy: {
    resource: 'ticket',
    version: 'default',
    rules: [{ actions: ['read'], effect: 'EFFECT_ALLOW', roles: ['user'], condition: { match: { expr: 'request.resource.attr.owner == request.principal.id' } } }],
  },
};
const input = (owner: string) => ({ principal: { id: 'alice', roles: ['user'] }, resource: { kind: 'ticket', id: 'T-1', attr: { owner } }, actions: ['read'] });

function loadError(content: string): PolicyLoadError {
  try {
    createEngine({ policies: [{ name: 'ticket.json', content }] });
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyLoadError);
    return e as PolicyLoadError;
  }
  throw new Error('the policy loaded');
}

describe('policy text without the YAML parser', () => {
  it('JSON policies load and decide', () => {
    const engine = createEngine({ policies: [{ name: 'ticket.json', content: JSON.stringify(TICKET, null, 2) }] });
    expect(engine.check(input('alice')).actions.read?.effect).toBe('EFFECT_ALLOW');
    expect(engine.check(input('bob')).actions.read?.effect).toBe('EFFECT_DENY');
  });

  it('YAML text is refused with what to do, not parsed as something else', () => {
    const e = loadError('apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: ticket\n');
    expect(e.issues[0]).toMatchObject({ file: 'ticket.json', path: '$' });
    expect(e.issues[0]!.message).toMatch(/not JSON, and no YAML parser is loaded.*baton-tts-policy\/yaml/);
  });

  it('a repeated member name is refused (as YAML refuses a repeated key), not silently last-one-wins', () => {
    const text = '{"apiVersion":"api.cerbos.dev/v1","resourcePolicy":{"resource":"ticket","resource":"order","version":"default"}}';
    expect(loadError(text).issues[0]!.message).toContain('repeated member name "resource"');
    // the same names in different objects, and a name that only looks repeated inside a string, are fine
    expect(parseJsonDocuments('{"a":{"b":1},"c":{"b":2},"d":"\\"a\\":"}')).toEqual([{ value: { a: { b: 1 }, c: { b: 2 }, d: '"a":' } }]);
  });

  it('documents separated by --- lines, as in a YAML stream; a leading --- starts the first', () => {
    expect(parseJsonDocuments('---\n{"a":1}\n---\n{"b":2}\n')).toEqual([{ value: { a: 1 } }, { value: { b: 2 } }]);
    expect(parseJsonDocuments('{"a":1}\n---\n')).toEqual([{ value: { a: 1 } }, { value: null }]);
    expect(loadError(`${JSON.stringify(TICKET)}\n---\n${JSON.stringify(TICKET)}`).issues[0]!.message).toContain('more than one YAML document');
    expect(parseJsonDocuments('{"a":')[0]!.error).toMatch(/JSON/);
  });

  it('a policy bundle (JSON) loads without the YAML parser', async () => {
    const bundle = await buildPolicyBundle([{ name: 'resources/ticket.json', content: JSON.stringify(TICKET) }], { source: 'test' });
    const loaded = await loadPolicyBundle(JSON.parse(JSON.stringify(bundle)));
    expect(loaded.engine.check(input('alice')).actions.read?.effect).toBe('EFFECT_ALLOW');
  });

  it('after yaml.ts is loaded, YAML loads and JSON text gives the same documents as before', async () => {
    const texts = ['{"a":1}', '---\n{"a":{"b":[1,2]}}\n---\n{"c":"x"}\n', '{"a":1}\n---\n'];
    const before = texts.map(parsePolicyText);
    await import('../../src/policy/yaml.js');
    expect(texts.map(parsePolicyText)).toEqual(before);
    const engine = createEngine({ policies: [{ name: 'ticket.yaml', content: 'apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: ticket\n  version: default\n  rules:\n    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n' }] });
    expect(engine.check(input('bob')).actions.read?.effect).toBe('EFFECT_ALLOW');
  });
});
