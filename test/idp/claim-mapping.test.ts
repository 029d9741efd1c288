// Issue 17: claim paths (src/config/claim-path.ts) and the claim mapping (src/exchange/claims.ts): the grammar, its
// backwards-compatible reading of plain names, what each mapping field reads, and configuration errors naming the field.
import { describe, expect, it } from 'vitest';
import { ClaimPathError, parseClaimPath, readClaimPath } from '../../src/config/claim-path.js';
import { ConfigError, parseConfig, subjectIssuerSchema } from '../../src/config/schema.js';
import { attributesOfClaims, compileClaimMapping, placeholderClient, rolesOfClaims, scopesOfClaims, subjectOf, unmetRequiredClaim } from '../../src/exchange/claims.js';

const segs = (s: string) => parseClaimPath(s).segments.map((x) => ('key' in x ? x.key : '{client}'));

describe('claim path grammar', () => {
  it.each([
    ['roles', ['roles']],
    ['realm_access.roles', ['realm_access', 'roles']],
    ['resource_access.{client}.roles', ['resource_access', '{client}', 'roles']],
    ['["https://example.com/roles"]', ['https://example.com/roles']],
    ['["https://example.com/app"].roles', ['https://example.com/app', 'roles']],
    ['resource_access["my.client"].roles', ['resource_access', 'my.client', 'roles']],
    ['a["b"]["c.d"].e', ['a', 'b', 'c.d', 'e']],
    ['["quote \\" and \\\\ backslash"]', ['quote " and \\ backslash']],
    ['["{client}"]', ['{client}']], // a member literally named {client} (in brackets it is a name, not the placeholder)
    // backwards compatible: a name with characters outside the plain set is one top-level claim, as before paths existed
    ['https://example.com/roles', ['https://example.com/roles']],
    ['cognito:groups', ['cognito:groups']],
    ['x-hasura-allowed-roles', ['x-hasura-allowed-roles']],
  ])('%s', (path, expected) => {
    expect(segs(path)).toEqual(expected);
  });

  it('the bracketed {client} is a literal name; only the bare one is the placeholder', () => {
    expect(parseClaimPath('["{client}"]').segments[0]).toEqual({ key: '{client}' });
    expect(parseClaimPath('{client}').segments[0]).toEqual({ placeholder: 'client' });
  });

  it.each([
    ['a..b', 'empty segment'],
    ['.a', 'empty segment'],
    ['a.', 'empty segment'],
    ['a.["b"]', 'a bracketed name follows its parent directly, without a dot at character 3'],
    ['a[b]', 'a bracketed name is a JSON string ["…"] at character 3'],
    ['a["b"', 'expected ] at character 6'],
    ['a["b]', 'unterminated string'],
    ['a[""]', 'empty member name'],
    ['https://example.com/{client}/roles', 'unexpected ":" at character 6'],
    ['a{client}', 'unexpected "{" at character 2'],
    ['a.{client}x', 'unexpected "x" at character 11'],
    ['{clients}', 'unexpected "{" at character 1'],
  ])('refuses %s (%s)', (path, message) => {
    expect(() => parseClaimPath(path)).toThrow(ClaimPathError);
    expect(() => parseClaimPath(path)).toThrow(message);
  });

  it('reads own members of objects only: not through arrays, not from prototypes', () => {
    const claims = JSON.parse('{"a":{"b":[{"c":1}]},"__proto__":{"polluted":true},"o":{}}') as Record<string, unknown>;
    expect(readClaimPath(claims, parseClaimPath('a.b'), undefined)).toEqual([{ c: 1 }]);
    expect(readClaimPath(claims, parseClaimPath('a.b.c'), undefined)).toBeUndefined();
    expect(readClaimPath(claims, parseClaimPath('o.toString'), undefined)).toBeUndefined();
    expect(readClaimPath(claims, parseClaimPath('o.constructor'), undefined)).toBeUndefined();
    expect(readClaimPath(claims, parseClaimPath('__proto__.polluted'), undefined)).toBe(true); // an own member of the JSON, as sent
    expect(readClaimPath(claims, parseClaimPath('x.{client}'), undefined)).toBeUndefined();
  });
});

const mapping = (o: Record<string, unknown>) => compileClaimMapping(subjectIssuerSchema.parse({ issuer: 'https://idp', jwksUri: 'https://idp/jwks', audiences: ['a'], ...o }));

describe('claim mapping', () => {
  const token = {
    sub: 'f1b2',
    oid: '0000-1111',
    scope: 'openid tickets:read',
    scp: ['orders:read'],
    permissions: ['tickets:write'],
    roles: 'user admin',
    realm_access: { roles: ['support-user', 'offline_access'] },
    resource_access: { 'support-mcp': { roles: ['ticket-reader'] }, account: { roles: ['manage-account'] } },
    'https://example.com/roles': ['vip'],
    upn: 'alice@contoso.com',
    address: { country: 'SE' },
    typ: 'Bearer',
    email_verified: true,
  };

  it('scopeClaim: one path keeps reading scp when the path is absent (as before); a list is exactly its paths, first present wins', () => {
    expect(scopesOfClaims(token, mapping({}), undefined)).toEqual(['openid', 'tickets:read']);
    expect(scopesOfClaims({ scp: ['orders:read'] }, mapping({}), undefined)).toEqual(['orders:read']);
    expect(scopesOfClaims({ scp: 'a b' }, mapping({ scopeClaim: 'permissions' }), undefined)).toEqual(['a', 'b']);
    expect(scopesOfClaims(token, mapping({ scopeClaim: ['permissions', 'scope'] }), undefined)).toEqual(['tickets:write']);
    expect(scopesOfClaims({ scp: ['x'] }, mapping({ scopeClaim: ['permissions'] }), undefined)).toBeUndefined();
    expect(scopesOfClaims({ scope: 42, scp: 'fallback' }, mapping({}), undefined)).toEqual(['fallback']);
  });

  it('rolesClaim: the union of every listed path, strings split on spaces, in order; defaultRoles when none', () => {
    const m = mapping({ rolesClaim: ['roles', 'realm_access.roles', 'resource_access.{client}.roles', '["https://example.com/roles"]'], clientIds: { 'mcp-support-agent': 'support-mcp' } });
    expect(rolesOfClaims(token, m, placeholderClient(m, 'mcp-support-agent'))).toEqual(['user', 'admin', 'support-user', 'offline_access', 'ticket-reader', 'vip']);
    expect(rolesOfClaims({ roles: [] }, m, 'x')).toEqual(['user']);
    expect(rolesOfClaims({ roles: ['a', 'a', 3, ''] }, m, 'x')).toEqual(['a']);
  });

  it('{client} is the requesting workload, or the IdP client id clientIds maps it to', () => {
    const m = mapping({ rolesClaim: 'resource_access.{client}.roles', clientIds: { 'mcp-support-agent': 'support-mcp' } });
    expect(placeholderClient(m, 'mcp-support-agent')).toBe('support-mcp');
    expect(placeholderClient(m, 'account')).toBe('account');
    expect(placeholderClient(m, 'constructor')).toBe('constructor');
    expect(rolesOfClaims(token, m, placeholderClient(m, 'account'))).toEqual(['manage-account']);
  });

  it('principalAttributes: a path named as written, or { claim, as } renamed, the first present of a list', () => {
    const m = mapping({ principalAttributes: ['upn', 'address.country', { claim: ['email', 'upn'], as: 'email' }, { claim: 'oid', as: 'object_id' }, { claim: 'nope', as: 'absent' }, { claim: 'typ', as: '__proto__' }] });
    const attr = attributesOfClaims(token, m, undefined);
    expect(attr).toEqual({ upn: 'alice@contoso.com', 'address.country': 'SE', email: 'alice@contoso.com', object_id: '0000-1111', ['__proto__']: 'Bearer' });
    expect(Object.getPrototypeOf(attr)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(attr)).__proto__).toBe('Bearer');
  });

  it('subjectClaim: the first non-empty string of the list', () => {
    expect(subjectOf(token, mapping({}), undefined)).toBe('f1b2');
    expect(subjectOf(token, mapping({ subjectClaim: ['oid', 'sub'] }), undefined)).toBe('0000-1111');
    expect(subjectOf({ sub: '', client_id: 'svc' }, mapping({ subjectClaim: ['sub', 'client_id'] }), undefined)).toBe('svc');
    expect(subjectOf({ sub: 7 }, mapping({}), undefined)).toBeUndefined();
  });

  it('requiredClaimValues: a scalar equal to one of the values; anything else names the configured path', () => {
    const m = mapping({ requiredClaimValues: { typ: 'Bearer', email_verified: true, 'address.country': ['SE', 'NO'] } });
    expect(unmetRequiredClaim(token, m, undefined)).toBeUndefined();
    expect(unmetRequiredClaim({ ...token, typ: 'ID' }, m, undefined)).toBe('typ');
    expect(unmetRequiredClaim({ ...token, email_verified: 'true' }, m, undefined)).toBe('email_verified');
    expect(unmetRequiredClaim({ ...token, address: { country: 'DK' } }, m, undefined)).toBe('address.country');
    expect(unmetRequiredClaim({ ...token, address: undefined }, m, undefined)).toBe('address.country');
  });
});

describe('configuration of claim mapping and introspection', () => {
  const base = { issuer: 'https://tts', trustDomain: 'd' };
  const issuer = (o: Record<string, unknown>) => ({ issuer: 'https://idp', jwksUri: 'https://idp/jwks', audiences: ['a'], ...o });
  const error = (c: Record<string, unknown>) => {
    try {
      parseConfig(c, 'baton.config.yaml');
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
  };

  it("today's configuration parses unchanged (string claims, plain attribute names)", () => {
    const c = parseConfig({ ...base, subjectIssuers: [issuer({ scopeClaim: 'scope', rolesClaim: 'https://example.com/roles', principalAttributes: ['email', 'tenant'] })] });
    expect(c.subjectIssuers[0]).toMatchObject({ scopeClaim: 'scope', rolesClaim: 'https://example.com/roles', principalAttributes: ['email', 'tenant'], subjectClaim: 'sub', clientIds: {} });
  });

  it.each([
    [{ rolesClaim: 'a..b' }, 'baton.config.yaml: subjectIssuers.0.rolesClaim: claim path a..b: empty segment (a leading, trailing or doubled dot)'],
    [{ scopeClaim: ['scope', 'x[y]'] }, 'baton.config.yaml: subjectIssuers.0.scopeClaim.1: claim path x[y]: a bracketed name is a JSON string ["…"] at character 3'],
    [{ principalAttributes: [{ claim: 'a.{b}' }] }, 'subjectIssuers.0.principalAttributes.0'],
    [{ principalAttributes: [{ claim: ['a', 'b'] }] }, 'subjectIssuers.0.principalAttributes.0'],
    [{ requiredClaimValues: { 'a[': 'x' } }, 'subjectIssuers.0.requiredClaimValues'],
    [{ typ: ['JWT', null, 7] }, 'subjectIssuers.0.typ.2'],
    [{ introspection: { clientId: 'baton', auth: 'client_secret_basic' } }, 'baton.config.yaml: subjectIssuers.0.introspection.secret: client_secret_basic needs a secret'],
    [{ introspection: { clientId: 'baton', auth: 'private_key_jwt' } }, 'baton.config.yaml: subjectIssuers.0.introspection.privateJwk: private_key_jwt needs privateJwk'],
    [{ introspection: { clientId: 'baton', auth: 'private_key_jwt', privateJwk: '{"no":1}' } }, 'subjectIssuers.0.introspection.privateJwk: must be a JWK object or its JSON'],
    [{ introspection: { clientId: 'baton', auth: 'client_secret_post', secret: 'x', timeoutMs: 60_000 } }, 'subjectIssuers.0.introspection.timeoutMs'],
    [{ jwks: { keys: [{ kty: 'EC' }] } }, 'baton.config.yaml: subjectIssuers.0.jwksUri: give jwks or jwksUri, not both'],
    [{ issuer: 'urn:example:idp', jwksUri: undefined }, 'baton.config.yaml: subjectIssuers.0.jwks: give jwks or jwksUri (and introspection.endpoint), or an http(s) issuer whose metadata can be discovered'],
  ])('%j is refused naming the field', (o, message) => {
    expect(error({ ...base, subjectIssuers: [issuer(o)] })).toContain(message);
  });

  it('an issuer alone (discovery) is accepted when it is an http(s) URL', () => {
    const c = parseConfig({ ...base, subjectIssuers: [{ issuer: 'https://login.example.com', audiences: ['a'] }] });
    expect(c.subjectIssuers[0]!.discovery).toEqual({ timeoutMs: 3000, refreshSeconds: 3600, retryMinSeconds: 1, retryMaxSeconds: 60 });
  });

  it('introspection defaults: 2 s timeout, 30 s positive and 10 s negative cache, 10,000 entries, assertion aud = issuer', () => {
    const c = parseConfig({ ...base, subjectIssuers: [issuer({ introspection: { clientId: 'baton', auth: 'client_secret_basic', secret: 'x' } })] });
    expect(c.subjectIssuers[0]!.introspection).toMatchObject({ timeoutMs: 2000, cacheSeconds: 30, negativeCacheSeconds: 10, cacheMaxEntries: 10000, jwtResponse: false, assertionAudience: 'issuer' });
  });

  it('a workload whose subject audiences reach two introspecting issuers is refused (an opaque token would have two destinations)', () => {
    const intro = { clientId: 'baton', auth: 'client_secret_basic', secret: 'x' };
    const msg = error({
      ...base,
      subjectIssuers: [issuer({ issuer: 'https://a', audiences: ['mcp'], introspection: intro }), issuer({ issuer: 'https://b', audiences: ['mcp', 'other'], introspection: intro })],
      clients: [{ id: 'agent', auth: 'client_secret_basic', secret: 'agent-secret', scopes: ['s'], subjectAudiences: ['mcp'] }],
    });
    expect(msg).toBe('baton.config.yaml: clients.0.subjectAudiences: opaque subject tokens of agent could go to 2 introspecting issuers (https://a, https://b); its subjectAudiences must reach at most one');
  });
});
