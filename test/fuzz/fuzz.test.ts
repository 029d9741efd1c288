/**
 * Issue 10 finding 4: a property-based fuzz suite (fast-check) over the whole input surface of the TTS and of a
 * receiving service: form parameters and headers of /token and /revoke; header and payload mutations of every kind of
 * subject token (access token, ID token, self-signed, unsigned, a Txn-Token for replacement), of client assertions,
 * and of Txn-Tokens presented to `baton/verify` and its hono middleware. In-process (`app.fetch`) for the bulk, over
 * real HTTP (startNode) for a share. For every case:
 *   - never a 5xx;
 *   - a refusal is RFC 6749 §5.2 JSON (or the verifier's JSON) holding no token (nothing JWT-shaped) and nothing the
 *     caller sent (every free-text value carries a random marker that must never come back);
 *   - every decision line written is one line, holds no token and no secret, and an unauthenticated request's line
 *     holds nothing the caller sent;
 *   - a token whose signature no longer matches is never accepted; a client assertion whose `aud` is not one string
 *     is never accepted; every Txn-Token the TTS issues is accepted by the verifier; the TTS accepts a Txn-Token for
 *     replacement only when the verifier accepts it (R-01).
 * The seed is printed; BATON_FUZZ_SEED=<seed> replays a run, BATON_FUZZ_SCALE=<n> multiplies the number of cases.
 */
import * as fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ASSERTION_JWT, GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_JWT, TT_REFRESH_TOKEN, TT_SELF_SIGNED, TT_TXN_TOKEN, TT_UNSIGNED_JSON } from '../../src/txn/index.js';
import { claimsOf, jwtsIn, LINE_BREAKS } from '../helpers/jwt.js';
import { basic, TRUST_DOMAIN } from '../helpers/names.js';
import { type FuzzWorld, IDP, ISSUER, MCP_AUD, publicJwkOf, SCALE, SECRET, SEED, signRaw, startFuzzWorld, startHttp } from '../helpers/world-fuzz.js';

let w: FuzzWorld;
let http: Awaited<ReturnType<typeof startHttp>> | undefined;
/** cases run per property (checked against the 10,000 floor at the end) */
const counted = new Map<string, number>();
const started = Date.now();
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

beforeAll(async () => {
  w = await startFuzzWorld();
  http = await startHttp(w, publicJwkOf(w.idpKey, 'idp-1'), publicJwkOf(w.clientKey, 'client-1'));
  console.log(`[fuzz] seed ${SEED}, scale ${SCALE}: replay with BATON_FUZZ_SEED=${SEED} npx vitest run test/fuzz`);
}, 60_000);
afterAll(async () => {
  await http?.close();
  await w?.close();
});

function count(name: string): void {
  counted.set(name, (counted.get(name) ?? 0) + 1);
}

// ------------------------------------------------------------------ values

/** A value as sent, and the markers inside it (random; must never come back). */
interface Val {
  text: string;
  markers: string[];
}
const plain = (text: string): Val => ({ text, markers: [] });

const marker = fc.stringMatching(/^[a-z0-9]{10}$/).map((s) => `mk${s}q`);
const PREFIXES = ['', ' ', '%', '%zz%', '{"tool":"', '["', 'eyJhbGciOiJub25lIn0.', '\u2028', '\u2029', '\u0085', '\u0000', '\r\n', '<script>', '${x}', "'", '"', '\\', '\ud800', 'Bearer ', 'x'.repeat(3000), '\u202e', '+', '&', '='];
const markedText: fc.Arbitrary<Val> = fc
  .tuple(fc.constantFrom(...PREFIXES), marker, fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 })))
  .map(([p, m, s]) => ({ text: `${p}${m}${s}`, markers: [m] }));

const now = (): number => Math.floor(Date.now() / 1000);

/** One claim or header value: any JSON, interesting constants, deeply nested or huge, or text with a marker. */
type Spec = { kind: 'json'; v: unknown; markers?: string[] } | { kind: 'deep'; d: number } | { kind: 'huge'; n: number } | { kind: 'raw'; text: string };
const INTERESTING: unknown[] = [
  '', 'alice', IDP, MCP_AUD, ISSUER, TRUST_DOMAIN, [MCP_AUD, 'https://evil.example'], [ISSUER, 'https://evil.example'], [ISSUER], null, true, 0, -1, 1e308,
  2 ** 53 + 2, 'none', 'HS256', 'EdDSA', 'ES256', 'RS256', 'at+jwt', 'JWT', 'txntoken+jwt', 'client-authentication+jwt', 'idp-1', 'client-1',
  '\u2028\u2029\u0085', 'tickets:read', 'tickets orders', 'orders:refund', 'constructor __proto__', ['user'], ['support_lead'], { sub: 'agent' },
  { sub: 'agent', act: { sub: 'hop' } }, { sub: 'jwt' }, { roles: ['user'], attr: {} }, [], {}, ['pwd'], { __proto__: { polluted: true } },
];
const spec: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v): Spec => ({ kind: 'json', v })) },
  { weight: 5, arbitrary: fc.constantFrom(...INTERESTING).map((v): Spec => ({ kind: 'json', v })) },
  // nesting around the bounds (32 accepted, 33 refused) and deep enough to overflow a recursive walk within 16 KiB
  { weight: 3, arbitrary: fc.oneof(fc.constantFrom(31, 32, 33, 5100, 5400), fc.integer({ min: 1, max: 6000 })).map((d): Spec => ({ kind: 'deep', d })) },
  { weight: 1, arbitrary: fc.integer({ min: 500, max: 20_000 }).map((n): Spec => ({ kind: 'huge', n })) },
  { weight: 1, arbitrary: fc.integer({ min: -10_000, max: 10_000 }).map((d): Spec => ({ kind: 'json', v: now() + d })) },
  { weight: 2, arbitrary: markedText.map((m): Spec => ({ kind: 'json', v: m.text, markers: m.markers })) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((s): Spec => ({ kind: 'json', v: s })) },
);
function specText(s: Spec): string {
  switch (s.kind) {
    case 'json':
      return JSON.stringify(s.v) ?? 'null';
    case 'deep':
      return `${'['.repeat(s.d)}${']'.repeat(s.d)}`;
    case 'huge':
      return JSON.stringify('x'.repeat(s.n));
    case 'raw':
      return s.text;
  }
}
const specMarkers = (s: Spec): string[] => (s.kind === 'json' ? (s.markers ?? []) : []);

/** A JSON object as TEXT (so that members may be nested deeper than JSON.stringify could walk). */
function objectText(base: Record<string, unknown>, edits: readonly Edit[], target: 'header' | 'payload'): string {
  const m = new Map<string, string>(Object.entries(base).map(([k, v]) => [k, JSON.stringify(v)]));
  for (const e of edits) {
    if (e.target !== target) continue;
    if (e.op === 'delete') m.delete(e.name);
    else m.set(e.name, specText(e.value));
  }
  return `{${[...m].map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

type Edit = { target: 'header' | 'payload'; op: 'set'; name: string; value: Spec } | { target: 'header' | 'payload'; op: 'delete'; name: string };
const CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'scope', 'scp', 'roles', 'act', 'may_act', 'tenant', 'email', 'amr', 'jti', 'txn', 'req_wl', 'tctx', 'rctx', 'cnf', '__proto__', 'constructor'];
const HEADERS = ['alg', 'typ', 'kid', 'crit', 'b64', 'jku', 'x5u', 'jwk', 'cty', 'zip', 'x5c'];
/** claims the TTS copies into the Txn-Token or hands to policy: chosen more often */
const COPIED = ['sub', 'scope', 'roles', 'act', 'tenant', 'email', 'amr', 'tctx', 'rctx'];
const claimName = fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...CLAIMS) }, { weight: 1, arbitrary: fc.constantFrom(...COPIED) });
const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ target: fc.constant('payload' as const), op: fc.constant('set' as const), name: claimName, value: spec }) },
  { weight: 2, arbitrary: fc.record({ target: fc.constant('payload' as const), op: fc.constant('delete' as const), name: fc.constantFrom(...CLAIMS) }) },
  { weight: 2, arbitrary: fc.record({ target: fc.constant('header' as const), op: fc.constant('set' as const), name: fc.constantFrom(...HEADERS), value: spec }) },
  { weight: 1, arbitrary: fc.record({ target: fc.constant('header' as const), op: fc.constant('delete' as const), name: fc.constantFrom(...HEADERS) }) },
);
const editMarkers = (edits: readonly Edit[]): string[] => edits.flatMap((e) => (e.op === 'set' ? specMarkers(e.value) : []));

type SignMode = 'resign' | 'tamper' | 'stranger' | 'garbage' | 'empty';
const signMode: fc.Arbitrary<SignMode> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('resign' as const) },
  { weight: 2, arbitrary: fc.constant('tamper' as const) },
  { weight: 1, arbitrary: fc.constantFrom('stranger' as const, 'garbage' as const, 'empty' as const) },
);

/** Builds the mutated token; `intact` is true when its signature is valid for what it says (signed by the right key over it). */
function mutatedJws(key: import('node:crypto').KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>, edits: readonly Edit[], mode: SignMode, wholeHeader: string | undefined): { token: string; intact: boolean } {
  const baseH = JSON.stringify(header);
  const baseP = JSON.stringify(payload);
  const h = wholeHeader ?? objectText(header, edits, 'header');
  const p = objectText(payload, edits, 'payload');
  const base = signRaw(key, baseH, baseP);
  const unchanged = h === baseH && p === baseP;
  switch (mode) {
    case 'resign':
      return { token: signRaw(key, h, p), intact: true };
    case 'tamper':
      return { token: `${Buffer.from(h).toString('base64url')}.${Buffer.from(p).toString('base64url')}.${base.split('.')[2]}`, intact: unchanged };
    case 'stranger':
      return { token: signRaw(w.strangerKey, h, p), intact: false };
    case 'garbage':
      return { token: `${Buffer.from(h).toString('base64url')}.${Buffer.from(p).toString('base64url')}.${Buffer.from(crypto.getRandomValues(new Uint8Array(64))).toString('base64url')}`, intact: false };
    case 'empty':
      return { token: `${Buffer.from(h).toString('base64url')}.${Buffer.from(p).toString('base64url')}.`, intact: false };
  }
}

// ------------------------------------------------------------------ requests and checks

interface Answer {
  status: number;
  text: string;
}

/** Header values a fetch Request can carry (ByteString, no CR/LF/NUL): other characters become '?'. */
const headerSafe = (s: string): string => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');

async function postInProcess(path: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const res = await w.app.fetch(new Request(`${ISSUER}${path}`, { method: 'POST', headers, body }));
  return { status: res.status, text: await res.text() };
}

async function postHttp(path: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${http!.url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

/**
 * The checks of every case: no 5xx; a refusal is §5.2 JSON without a token or a marker; every new decision line is
 * one line without a token, a credential, or (when its request did not authenticate) a marker.
 */
function check(a: Answer, markers: readonly string[], credentials: readonly string[], lines: readonly string[]): void {
  expect(a.status, a.text.slice(0, 300)).toBeLessThan(500);
  if (a.status !== 200) {
    let body: unknown;
    expect(() => (body = JSON.parse(a.text)), a.text.slice(0, 300)).not.toThrow();
    expect(Object.keys(body as object).sort(), a.text.slice(0, 300)).toEqual(['error', 'error_description']);
    for (const m of markers) expect(a.text.includes(m), `echo of ${m}: ${a.text.slice(0, 300)}`).toBe(false);
    expect(jwtsIn(a.text), a.text.slice(0, 300)).toEqual([]);
    for (const c of credentials) if (c.length >= 8) expect(a.text.includes(c)).toBe(false);
  }
  for (const line of lines) {
    expect(LINE_BREAKS.test(line), JSON.stringify(line.slice(0, 200))).toBe(false);
    const rec = JSON.parse(line) as Record<string, unknown>;
    expect(jwtsIn(line), line.slice(0, 300)).toEqual([]);
    for (const c of credentials) {
      if (c.length < 8) continue;
      expect(line.includes(c), `a credential in the log: ${line.slice(0, 300)}`).toBe(false);
      const sig = c.split('.')[2];
      if (sig !== undefined && sig.length >= 16) expect(line.includes(sig)).toBe(false);
    }
    expect(line.length, 'a log line is bounded').toBeLessThan(48 * 1024);
    if (rec.workload === undefined) for (const m of markers) expect(line.includes(m), `unauthenticated input in the log: ${line.slice(0, 300)}`).toBe(false);
  }
}

async function verifierAccepts(token: string): Promise<boolean> {
  return w.verifier.verify(token).then(
    () => true,
    () => false,
  );
}

function accessToken(extra: Record<string, unknown> = {}): string {
  const t = now();
  return signRaw(w.idpKey, JSON.stringify({ alg: 'EdDSA', typ: 'at+jwt', kid: 'idp-1' }), JSON.stringify({ iss: IDP, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read orders:read', iat: t, exp: t + 300, roles: ['user'], ...extra }));
}

function assertion(jti: string): string {
  const t = now();
  return signRaw(w.clientKey, JSON.stringify({ alg: 'EdDSA', kid: 'client-1' }), JSON.stringify({ iss: 'jwt', sub: 'jwt', aud: ISSUER, iat: t, exp: t + 60, jti }));
}

// ------------------------------------------------------------------ A, F: form parameters and headers

const KNOWN_PARAMS = ['grant_type', 'requested_token_type', 'audience', 'scope', 'subject_token', 'subject_token_type', 'request_details', 'request_context', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'actor_token', 'resource', 'token', 'txn'];

/** Interesting, marker-free values for each parameter (the subject token is filled in per case). */
function validValues(subject: string): Record<string, string[]> {
  return {
    grant_type: [GRANT_TOKEN_EXCHANGE, 'client_credentials', ''],
    requested_token_type: [TT_TXN_TOKEN, TT_ACCESS_TOKEN, 'urn:ietf:params:oauth:token-type:txn-token'],
    audience: [TRUST_DOMAIN, 'other.example', ''],
    scope: ['tickets:read', 'tickets:read orders:read', 'orders:refund', 'constructor __proto__ toString', '   ', 'tickets'],
    subject_token: [subject, JSON.stringify({ sub: 'bob', scope: 'tickets:read' }), 'opaque'],
    subject_token_type: [TT_TXN_TOKEN, TT_ACCESS_TOKEN, TT_JWT, TT_ID_TOKEN, TT_SELF_SIGNED, TT_UNSIGNED_JSON, TT_REFRESH_TOKEN],
    request_details: ['{"tool":"get_ticket","ticket_id":"T-1"}', '[]', 'null', '{"tool":', `{"tool":${'['.repeat(3000)}${']'.repeat(3000)}}`, JSON.stringify({ tool: 'x'.repeat(15_000) })],
    request_context: ['{"channel":"chat","req_ip":"6.6.6.6"}', '"x"'],
    client_id: ['agent', 'poster', 'jwt', 'nobody'],
    client_secret: [SECRET, 'wrong-secret-value'],
    client_assertion_type: [CLIENT_ASSERTION_JWT, 'urn:other'],
    client_assertion: ['a.b.c', ''],
    actor_token: ['x'],
    resource: ['https://r.example'],
    token: [subject, 'not.a.token'],
    txn: [crypto.randomUUID(), ''],
  };
}

interface FormCase {
  entries: Array<[Val, Val]>;
  bodyMode: 'encoded' | 'raw';
  auth: Val | undefined;
  contentType: string | undefined;
  path: '/token' | '/revoke';
}

function formCase(subject: string): fc.Arbitrary<FormCase> {
  const values = validValues(subject);
  const name: fc.Arbitrary<Val> = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...KNOWN_PARAMS).map(plain) }, { weight: 1, arbitrary: markedText });
  const entry = name.chain((n): fc.Arbitrary<[Val, Val]> => {
    const known = values[n.text];
    const value = known !== undefined ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known).map(plain) }, { weight: 2, arbitrary: markedText }) : markedText;
    return value.map((v): [Val, Val] => [n, v]);
  });
  /** a valid exchange, then edits (drop, replace, duplicate, add): reaches deep into the pipeline */
  const validBase: Array<[Val, Val]> = [
    ['grant_type', GRANT_TOKEN_EXCHANGE], ['requested_token_type', TT_TXN_TOKEN], ['audience', TRUST_DOMAIN], ['scope', 'tickets:read'], ['subject_token', subject], ['subject_token_type', TT_ACCESS_TOKEN],
  ].map(([k, v]) => [plain(k!), plain(v!)]);
  const edited = fc
    .tuple(fc.array(fc.nat({ max: validBase.length - 1 }), { maxLength: 2 }), fc.array(entry, { maxLength: 3 }), fc.boolean())
    .map(([drop, add, shuffle]) => {
      const kept = validBase.filter((_, i) => !drop.includes(i));
      const all = [...kept, ...add];
      return shuffle ? all.reverse() : all;
    });
  const entries = fc.oneof({ weight: 3, arbitrary: edited }, { weight: 1, arbitrary: fc.array(entry, { maxLength: 12 }) });
  const auth: fc.Arbitrary<Val | undefined> = fc.oneof(
    { weight: 5, arbitrary: fc.constant(plain(basic('agent', SECRET))) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: markedText.map((m) => ({ text: basic('agent', m.text), markers: m.markers })) },
    { weight: 1, arbitrary: markedText.map((m) => ({ text: basic(m.text, SECRET), markers: m.markers })) },
    { weight: 1, arbitrary: markedText.map((m) => ({ text: `Bearer ${m.text}`, markers: m.markers })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => plain(`Basic ${Buffer.from(s).toString('base64')}`)) },
    { weight: 1, arbitrary: markedText },
  );
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/x-www-form-urlencoded') },
    { weight: 1, arbitrary: fc.constantFrom('application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', undefined) },
  );
  return fc.record({
    entries,
    bodyMode: fc.oneof({ weight: 4, arbitrary: fc.constant('encoded' as const) }, { weight: 1, arbitrary: fc.constant('raw' as const) }),
    auth,
    contentType,
    path: fc.oneof({ weight: 5, arbitrary: fc.constant('/token' as const) }, { weight: 1, arbitrary: fc.constant('/revoke' as const) }),
  });
}

function formRequest(c: FormCase): { body: string; headers: Record<string, string>; markers: string[] } {
  let body: string;
  if (c.bodyMode === 'encoded') {
    const p = new URLSearchParams();
    for (const [k, v] of c.entries) p.append(k.text, v.text);
    body = p.toString();
  } else body = c.entries.map(([k, v]) => `${k.text}=${v.text}`).join('&');
  const headers: Record<string, string> = {};
  if (c.contentType !== undefined) headers['content-type'] = c.contentType;
  if (c.auth !== undefined) headers.authorization = headerSafe(c.auth.text);
  return { body, headers, markers: [...c.entries.flatMap(([k, v]) => [...k.markers, ...v.markers]), ...(c.auth?.markers ?? [])] };
}

async function formProperty(post: (path: string, body: string, headers: Record<string, string>) => Promise<Answer>, lines: string[], numRuns: number, name: string, seedOffset: number): Promise<void> {
  const subject = accessToken();
  await fc.assert(
    fc.asyncProperty(formCase(subject), async (c) => {
      count(name);
      const { body, headers, markers } = formRequest(c);
      const n = lines.length;
      const a = await post(c.path, body, headers);
      check(a, markers, [subject, SECRET], lines.slice(n));
      if (a.status === 200 && c.path === '/token') expect(await verifierAccepts((JSON.parse(a.text) as { access_token: string }).access_token)).toBe(true);
    }),
    { seed: SEED + seedOffset, numRuns },
  );
}

describe('issue 10 finding 4: fuzz', () => {
  it('issue 10 finding 4: fuzz /token and /revoke form parameters and headers, in-process: no 5xx, no token, no echo', async () => {
    await formProperty(postInProcess, w.lines.tts, runs(3000), 'form (in-process)', 1);
  }, 300_000);

  it('issue 10 finding 4: fuzz /token and /revoke form parameters and headers over real HTTP (startNode)', async () => {
    await formProperty(postHttp, http!.lines, runs(500), 'form (HTTP)', 2);
  }, 300_000);

  // ---------------------------------------------------------------- B: subject tokens of every kind, and replacement

  type Kind = 'access' | 'jwt' | 'id' | 'self' | 'txn' | 'unsigned';
  const kind: fc.Arbitrary<Kind> = fc.oneof(
    { weight: 5, arbitrary: fc.constant('access' as const) },
    { weight: 1, arbitrary: fc.constantFrom('jwt' as const, 'id' as const, 'self' as const, 'unsigned' as const) },
    { weight: 3, arbitrary: fc.constant('txn' as const) },
  );

  function baseOf(k: Kind): { key: import('node:crypto').KeyObject; header: Record<string, unknown>; payload: Record<string, unknown> } {
    const t = now();
    switch (k) {
      case 'access':
      case 'jwt':
      case 'unsigned':
        return { key: w.idpKey, header: { alg: 'EdDSA', typ: 'at+jwt', kid: 'idp-1' }, payload: { iss: IDP, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read orders:read', iat: t, exp: t + 300, roles: ['user'], tenant: 'acme' } };
      case 'id':
        return { key: w.idpKey, header: { alg: 'EdDSA', typ: 'JWT', kid: 'idp-1' }, payload: { iss: IDP, sub: 'alice', aud: 'oidc-client', iat: t, exp: t + 300, email: 'alice@example.com' } };
      case 'self':
        return { key: w.clientKey, header: { alg: 'EdDSA', typ: 'JWT', kid: 'client-1' }, payload: { iss: 'jwt', sub: 'alice', aud: ISSUER, iat: t, exp: t + 60, scope: 'tickets:read' } };
      case 'txn':
        return {
          key: w.ttsKey,
          header: { alg: 'EdDSA', typ: 'txntoken+jwt', kid: w.ttsKid },
          payload: { iss: ISSUER, iat: t, exp: t + 120, aud: TRUST_DOMAIN, txn: crypto.randomUUID(), sub: 'alice', scope: 'tickets:read orders:read', req_wl: 'agent', act: { sub: 'agent' }, tctx: { roles: ['user'], attr: {} }, rctx: {} },
        };
    }
  }

  const WHOLE_HEADERS = ['null', '[]', '"x"', '{', '', '{"alg":"none"}', '{"alg":"EdDSA","crit":["exp"]}'];
  const tokenCase = fc.record({
    kind,
    edits: fc.array(edit, { maxLength: 5 }),
    mode: signMode,
    wholeHeader: fc.option(fc.constantFrom(...WHOLE_HEADERS), { freq: 20 }),
    scope: fc.constantFrom('tickets:read', 'tickets:read orders:read', 'orders:refund', 'tickets:write tickets:read'),
    details: fc.option(fc.constantFrom('{"tool":"get_ticket","ticket_id":"T-9"}', '{"ticket_id":"T-1"}'), { freq: 3 }),
  });

  it('issue 10 finding 4: fuzz subject tokens of every kind and Txn-Tokens for replacement (header and payload mutations)', async () => {
    await fc.assert(
      fc.asyncProperty(tokenCase, async (c) => {
        count('subject tokens');
        const base = baseOf(c.kind);
        const { token, intact } =
          c.kind === 'unsigned'
            ? { token: objectText(base.payload, c.edits, 'payload'), intact: true }
            : mutatedJws(base.key, base.header, base.payload, c.edits, c.mode, c.wholeHeader ?? undefined);
        const tt = c.kind === 'access' ? TT_ACCESS_TOKEN : c.kind === 'jwt' ? TT_JWT : c.kind === 'id' ? TT_ID_TOKEN : c.kind === 'self' ? TT_SELF_SIGNED : c.kind === 'txn' ? TT_TXN_TOKEN : TT_UNSIGNED_JSON;
        const client = c.kind === 'self' ? 'jwt' : c.kind === 'txn' ? 'hop' : 'agent';
        const form = new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope: c.scope, subject_token: token, subject_token_type: tt });
        if (c.details !== null) form.set('request_details', c.details);
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
        let credential = SECRET;
        if (client === 'jwt') {
          credential = assertion(crypto.randomUUID());
          form.set('client_assertion_type', CLIENT_ASSERTION_JWT);
          form.set('client_assertion', credential);
        } else headers.authorization = basic(client, SECRET);
        const n = w.lines.tts.length;
        const a = await postInProcess('/token', form.toString(), headers);
        check(a, editMarkers(c.edits), [token, credential, SECRET], w.lines.tts.slice(n));
        if (!intact && c.kind !== 'unsigned') expect(a.status, 'a token whose signature does not match was accepted').not.toBe(200);
        if (a.status === 200) {
          // every Txn-Token the TTS issues, a receiving service accepts
          expect(await verifierAccepts((JSON.parse(a.text) as { access_token: string }).access_token)).toBe(true);
          // R-01: an input the TTS replaced is one the verifier accepts
          if (c.kind === 'txn') expect(await verifierAccepts(token)).toBe(true);
        }
      }),
      { seed: SEED + 3, numRuns: runs(3000) },
    );
  }, 600_000);

  // ---------------------------------------------------------------- C: client assertions

  const assertionCase = fc.record({ edits: fc.array(edit, { maxLength: 4 }), mode: signMode, jti: fc.uuid(), wholeHeader: fc.option(fc.constantFrom(...WHOLE_HEADERS), { freq: 20 }) });

  it('issue 10 finding 4: fuzz client assertions (header and payload mutations): never accepted unless intact and aud is one string', async () => {
    const subject = accessToken();
    await fc.assert(
      fc.asyncProperty(assertionCase, async (c) => {
        count('client assertions');
        const t = now();
        const { token, intact } = mutatedJws(w.clientKey, { alg: 'EdDSA', kid: 'client-1' }, { iss: 'jwt', sub: 'jwt', aud: ISSUER, iat: t, exp: t + 60, jti: c.jti }, c.edits, c.mode, c.wholeHeader ?? undefined);
        const form = new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'tickets:read', subject_token: subject, subject_token_type: TT_ACCESS_TOKEN, client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: token });
        const n = w.lines.tts.length;
        const a = await postInProcess('/token', form.toString(), { 'content-type': 'application/x-www-form-urlencoded' });
        check(a, editMarkers(c.edits), [token, subject], w.lines.tts.slice(n));
        if (a.status === 200) {
          expect(intact, 'an assertion whose signature does not match was accepted').toBe(true);
          const claims = claimsOf(token) as { aud?: unknown };
          expect(claims.aud, 'an assertion whose aud is not one string was accepted (T-08)').toBe(ISSUER);
          expect(await verifierAccepts((JSON.parse(a.text) as { access_token: string }).access_token)).toBe(true);
        } else if (!intact) expect([400, 401]).toContain(a.status);
      }),
      { seed: SEED + 4, numRuns: runs(1500) },
    );
  }, 600_000);

  // ---------------------------------------------------------------- E: the Txn-Token header at a receiving service

  const headerCase = fc.oneof(
    { weight: 3, arbitrary: fc.record({ edits: fc.array(edit, { maxLength: 4 }), mode: signMode, wholeHeader: fc.option(fc.constantFrom(...WHOLE_HEADERS), { freq: 20 }), prefix: fc.constantFrom('', '', '', 'Bearer ', ' ', 'x,'), suffix: fc.constantFrom('', '', '', ' ', ',', ', y') }).map((r) => ({ ...r, kind: 'token' as const })) },
    { weight: 1, arbitrary: markedText.map((m) => ({ kind: 'text' as const, m })) },
  );

  it('issue 10 finding 4: fuzz the Txn-Token header at a receiving service (baton/verify behind its hono middleware)', async () => {
    await fc.assert(
      fc.asyncProperty(headerCase, async (c) => {
        count('Txn-Token header');
        let value: string;
        let intact = false;
        let markers: string[];
        const credentials: string[] = [];
        if (c.kind === 'token') {
          const base = baseOf('txn');
          const m = mutatedJws(base.key, base.header, base.payload, c.edits, c.mode, c.wholeHeader ?? undefined);
          value = `${c.prefix}${m.token}${c.suffix}`;
          intact = m.intact && c.prefix.trim() === '' && c.suffix.trim() === ''; // HTTP trims a header value's spaces
          markers = editMarkers(c.edits);
          credentials.push(m.token);
        } else {
          value = headerSafe(c.m.text);
          markers = c.m.markers;
        }
        const n = w.lines.verifier.length;
        const res = await w.service2.request('/tickets', { headers: { 'Txn-Token': headerSafe(value) } });
        const a = { status: res.status, text: await res.text() };
        expect([200, 401, 403], a.text).toContain(a.status);
        if (a.status === 200) expect(intact, 'a Txn-Token whose signature does not match was accepted').toBe(true);
        if (a.status !== 200) {
          expect(Object.keys(JSON.parse(a.text) as object).sort()).toEqual(['error', 'error_description']);
          for (const mk of markers) expect(a.text.includes(mk)).toBe(false);
          expect(jwtsIn(a.text)).toEqual([]);
        }
        for (const line of w.lines.verifier.slice(n)) {
          expect(LINE_BREAKS.test(line)).toBe(false);
          expect(jwtsIn(line)).toEqual([]);
          for (const cr of credentials) {
            expect(line.includes(cr)).toBe(false);
            const sig = cr.split('.')[2] ?? '';
            if (sig.length >= 16) expect(line.includes(sig)).toBe(false);
          }
        }
      }),
      { seed: SEED + 5, numRuns: runs(2500) },
    );
  }, 600_000);

  it('issue 10 finding 4: the suite ran at least 10,000 cases (scale 1), and says how many and how long', () => {
    const total = [...counted.values()].reduce((x, y) => x + y, 0);
    console.log(`[fuzz] ${total} cases in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED}): ${[...counted].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (SCALE >= 1) expect(total).toBeGreaterThanOrEqual(10_000);
  });
});
