// Issue 17: discovery of subject issuer metadata (src/exchange/discovery.ts) with a scripted fetch and a manual
// clock: which URLs are asked in which order, the exact-issuer check, the back-off schedule, background refresh.
// (Real HTTP against oidc-provider: oidc-provider-discovery.test.ts.)
import { describe, expect, it } from 'vitest';
import { DiscoveryUnavailable, IssuerMetadataSource, wellKnownUrls } from '../../src/exchange/discovery.js';

type Answer = { status: number; body?: unknown; type?: string } | 'refused';

function scripted(answers: Record<string, Answer | (() => Answer)>) {
  const asked: string[] = [];
  const f = (async (input: RequestInfo | URL) => {
    const url = String(input);
    asked.push(url);
    const a0 = answers[url] ?? { status: 404 };
    const a = typeof a0 === 'function' ? a0() : a0;
    if (a === 'refused') throw new TypeError('fetch failed');
    return new Response(a.body === undefined ? null : typeof a.body === 'string' ? a.body : JSON.stringify(a.body), {
      status: a.status,
      headers: { 'content-type': a.type ?? 'application/json' },
    });
  }) as typeof fetch;
  return { fetch: f, asked };
}

const ISS = 'https://idp.example.com/realms/support';
const OIDC = 'https://idp.example.com/realms/support/.well-known/openid-configuration';
const OAUTH = 'https://idp.example.com/.well-known/oauth-authorization-server/realms/support';
const META = { issuer: ISS, jwks_uri: `${ISS}/protocol/openid-connect/certs`, introspection_endpoint: `${ISS}/protocol/openid-connect/token/introspect` };

async function failure(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(DiscoveryUnavailable);
  return (e as Error).message;
}

describe('discovery: where it looks', () => {
  it('OpenID Connect first (issuer + /.well-known/openid-configuration), then RFC 8414 with the path inserted', () => {
    expect(wellKnownUrls(ISS)).toEqual([OIDC, OAUTH]);
    expect(wellKnownUrls('https://tenant.us.auth0.com/')).toEqual(['https://tenant.us.auth0.com/.well-known/openid-configuration', 'https://tenant.us.auth0.com/.well-known/oauth-authorization-server']);
  });

  it('uses the OpenID metadata when present', async () => {
    const s = scripted({ [OIDC]: { status: 200, body: META } });
    const m = await new IssuerMetadataSource({ issuer: ISS, timeoutMs: 1000, refreshSeconds: 3600, fetch: s.fetch }).get();
    expect(m).toMatchObject(META);
    expect(s.asked).toEqual([OIDC]);
  });

  it('falls back to RFC 8414 on a 404', async () => {
    const s = scripted({ [OAUTH]: { status: 200, body: META } });
    expect((await new IssuerMetadataSource({ issuer: ISS, timeoutMs: 1000, refreshSeconds: 3600, fetch: s.fetch }).get()).jwks_uri).toBe(META.jwks_uri);
    expect(s.asked).toEqual([OIDC, OAUTH]);
  });

  it.each([
    ['both well-known URLs 404', {}, 'the subject issuer publishes no metadata (OpenID Connect or RFC 8414 well-known URL: 404)'],
    ['another issuer (a trailing slash is another issuer)', { [OIDC]: { status: 200, body: { ...META, issuer: `${ISS}/` } } }, "the subject issuer's metadata names another issuer (it must equal the configured issuer exactly)"],
    ['HTTP 500', { [OIDC]: { status: 500 } }, "the subject issuer's metadata endpoint answered HTTP 500"],
    ['HTML', { [OIDC]: { status: 200, body: '<html/>', type: 'text/html' } }, "the subject issuer's metadata is not JSON"],
    ['jwks_uri that is no URL', { [OIDC]: { status: 200, body: { ...META, jwks_uri: 'keys' } } }, "the subject issuer's metadata is invalid: jwks_uri: Invalid URL"],
    ['no issuer', { [OIDC]: { status: 200, body: { jwks_uri: META.jwks_uri } } }, "the subject issuer's metadata is invalid: issuer: Invalid input: expected string, received undefined"],
    ['a refused connection', { [OIDC]: 'refused' as const }, "the subject issuer's metadata cannot be fetched"],
    ['a redirect (never followed)', { [OIDC]: { status: 302 } }, "the subject issuer's metadata endpoint answered HTTP 302"],
  ] as Array<[string, Record<string, Answer>, string]>)('refuses %s', async (_what, answers, reason) => {
    const s = scripted(answers);
    expect(await failure(new IssuerMetadataSource({ issuer: ISS, timeoutMs: 1000, refreshSeconds: 3600, fetch: s.fetch }).get())).toBe(reason);
  });
});

describe('discovery: back-off, caching, refresh', () => {
  it('after a failure the next attempt waits 1 s, then 2 s, 4 s ... up to the maximum; meanwhile the error is answered at once', async () => {
    let t = 1_000_000;
    let up = false;
    const s = scripted({ [OIDC]: () => (up ? { status: 200, body: META } : 'refused') });
    const src = new IssuerMetadataSource({ issuer: ISS, timeoutMs: 1000, refreshSeconds: 3600, fetch: s.fetch, now: () => t, minBackoffMs: 1000, maxBackoffMs: 4000 });
    const attemptsAt: number[] = [];
    for (let step = 0; step < 16; step++) {
      const before = s.asked.length;
      await failure(src.get());
      if (s.asked.length > before) attemptsAt.push(t - 1_000_000);
      t += 500;
    }
    // attempts at 0, then 1 s later, 2 s after that, then every 4 s (the maximum)
    expect(attemptsAt).toEqual([0, 1000, 3000, 7000]);
    expect(await failure(src.get())).toMatch(/^the subject issuer's metadata cannot be fetched; next attempt in \d s$/);
    up = true;
    t += 4000;
    expect((await src.get()).issuer).toBe(ISS);
    // a success resets the back-off
    expect(src.requests).toBe(5);
  });

  it('concurrent callers share one request', async () => {
    const s = scripted({ [OIDC]: { status: 200, body: META } });
    const src = new IssuerMetadataSource({ issuer: ISS, timeoutMs: 1000, refreshSeconds: 3600, fetch: s.fetch });
    await Promise.all([src.get(), src.get(), src.get()]);
    expect(s.asked).toEqual([OIDC]);
  });

  it('refreshes after refreshSeconds in the background; a failed refresh keeps the last good metadata', async () => {
    let t = 0;
    let answer: Answer = { status: 200, body: META };
    const s = scripted({ [OIDC]: () => answer });
    const src = new IssuerMetadataSource({ issuer: ISS, timeoutMs: 1000, refreshSeconds: 60, fetch: s.fetch, now: () => t });
    await src.get();
    t += 59_000;
    await src.get();
    expect(s.asked.length).toBe(1);
    t += 2_000;
    answer = { status: 200, body: { ...META, jwks_uri: `${ISS}/keys-2` } };
    expect((await src.get()).jwks_uri).toBe(META.jwks_uri); // served at once, refresh started
    await new Promise((r) => setTimeout(r, 10));
    expect((await src.get()).jwks_uri).toBe(`${ISS}/keys-2`);
    t += 61_000;
    answer = 'refused';
    await src.get();
    await new Promise((r) => setTimeout(r, 10));
    expect((await src.get()).jwks_uri).toBe(`${ISS}/keys-2`); // last good kept
    expect(s.asked.length).toBe(3);
  });
});
