// Issue 17: every recipe of docs/idp-recipes.md is exchanged here. The configuration is the `yaml recipe=NAME` block
// as written (only `jwksUri` points at a key set on loopback); the subject token is the `json token=NAME` block, header
// and claims exactly as written (times moved to now, keeping their distances), signed RS256 with a key published under
// the header's kid; the exchange goes through the real TTS over HTTP with oauth4webapi; the Txn-Token must match the
// `json exchange=NAME` block and the changed token of `json refusal=NAME` must be refused with its reason.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { substituteEnv, type ConfigInput } from '../../src/config/schema.js';
import { TT_TXN_TOKEN } from '../../src/txn/index.js';
import { claimsOf, headerOf } from '../helpers/jwt.js';
import type { RefusalReason } from '../../src/exchange/index.js';
import { expectRefusal, o4wExchange, startTts, type TestTts } from '../helpers/tts.js';

const DOC = new URL('../../docs/idp-recipes.md', import.meta.url);
const RECIPES = ['okta', 'auth0', 'entra-v2', 'entra-v1', 'keycloak', 'google'];
const SECRET = `agent-${crypto.randomUUID()}`;
const TIME_CLAIMS = ['iat', 'nbf', 'exp', 'auth_time'];

/** The fenced blocks of the document, by their info string (e.g. `yaml recipe=okta`). */
function blocks(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/^```(\w+) (\w+=[\w-]+)\n([\s\S]*?)^```$/gm)) out.set(`${m[1]} ${m[2]}`, m[3]!);
  return out;
}

interface TokenBlock {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}
interface ExchangeBlock {
  subject_token_type: string;
  scope: string;
  txn_token: Record<string, unknown>;
}
interface RefusalBlock {
  change: Record<string, unknown>;
  error_description: string;
}

const doc = blocks(readFileSync(DOC, 'utf8'));
function block<T>(kind: string): T {
  const text = doc.get(kind);
  if (text === undefined) throw new Error(`docs/idp-recipes.md has no \`\`\`${kind} block`);
  return (kind.startsWith('yaml') ? parseYaml(text) : JSON.parse(text)) as T;
}

/** The key set server: one RSA key per kid asked for, published at /jwks.json. */
let server: Server;
let jwksUri: string;
const published: JWK[] = [];
const privateKeys = new Map<string, CryptoKey>();
async function keyFor(kid: string): Promise<CryptoKey> {
  let k = privateKeys.get(kid);
  if (k === undefined) {
    const pair = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    published.push({ ...(await exportJWK(pair.publicKey)), kid, use: 'sig' });
    privateKeys.set(kid, pair.privateKey);
    k = pair.privateKey;
  }
  return k;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** Signs the token block as written; time claims moved so that `iat` is a minute ago. */
async function sign(t: TokenBlock, change: Record<string, unknown> = {}): Promise<string> {
  const claims: Record<string, unknown> = { ...t.claims };
  const shift = Math.floor(Date.now() / 1000) - 60 - (t.claims.iat as number);
  for (const c of TIME_CLAIMS) if (typeof claims[c] === 'number') claims[c] = (claims[c] as number) + shift;
  for (const [k, v] of Object.entries(change)) {
    if (v === null) delete claims[k];
    else claims[k] = v;
  }
  const key = await keyFor(t.header.kid as string);
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader(t.header as { alg: string }).sign(key);
}

describe.each(RECIPES)('recipe %s (docs/idp-recipes.md)', (name) => {
  const recipe = block<ConfigInput>(`yaml recipe=${name}`);
  const token = block<TokenBlock>(`json token=${name}`);
  const exchange = block<ExchangeBlock>(`json exchange=${name}`);
  const refusal = block<RefusalBlock>(`json refusal=${name}`);

  const start = () =>
    startTts({
      config: () => {
        const c = substituteEnv(recipe, { MCP_AGENT_SECRET: SECRET }, `docs/idp-recipes.md recipe=${name}`) as ConfigInput;
        return {
          trustDomain: 'support.example',
          ...c,
          // the provider's keys, served on loopback: the only change to the recipe
          subjectIssuers: (c.subjectIssuers ?? []).map((s) => ({ ...s, jwksUri })),
        };
      },
    });

  /** the exchange of the recipe's `json exchange=` block, by mcp-support-agent (oauth4webapi over HTTP) */
  const exchangeAt = (tts: TestTts, subject: string) =>
    o4wExchange(tts.as, 'mcp-support-agent', oauth.ClientSecretBasic(SECRET), {
      requested_token_type: TT_TXN_TOKEN,
      audience: 'support.example',
      scope: exchange.scope,
      subject_token: subject,
      subject_token_type: exchange.subject_token_type,
    });

  it('the recipe is complete: an issuer, the workload, a token of that issuer', () => {
    expect(recipe.subjectIssuers?.map((s) => s.issuer)).toContain(token.claims.iss);
    expect(recipe.clients?.map((c) => c.id)).toEqual(['mcp-support-agent']);
  });

  it('its token is exchanged for a Txn-Token carrying what the recipe says', async () => {
    const tts = await start();
    try {
      await keyFor(token.header.kid as string);
      const subject = await sign(token);
      expect(headerOf(subject)).toEqual(token.header); // the provider's header, byte for byte in meaning
      const r = await exchangeAt(tts, subject);
      expect(r.ok, r.text).toBeDefined();
      const txn = claimsOf(r.ok!.access_token);
      expect(txn).toMatchObject(exchange.txn_token);
      expect(txn.tctx).toMatchObject({ roles: (exchange.txn_token.tctx as { roles: unknown }).roles }); // roles exactly, in order
      expect((txn.tctx as { roles: unknown[] }).roles).toEqual((exchange.txn_token.tctx as { roles: unknown[] }).roles);
      expect((txn.tctx as { attr: unknown }).attr).toEqual((exchange.txn_token.tctx as { attr: unknown }).attr);
    } finally {
      await tts.close();
    }
  });

  it(`its refusal: ${refusal.error_description}`, async () => {
    const tts = await start();
    try {
      const subject = await sign(token, refusal.change);
      const r = await exchangeAt(tts, subject);
      expectRefusal(r, 400, 'invalid_request', reasonOf(refusal.error_description), [subject, SECRET]);
      expect(JSON.parse(r.text).error_description).toBe(refusal.error_description);
    } finally {
      await tts.close();
    }
  });
});

/** The reason code each documented refusal is logged with (the recipes name the description the caller gets). */
function reasonOf(description: string): RefusalReason {
  if (description === 'subject token audience is not accepted') return 'subject.wrong_audience';
  if (description.startsWith('the subject token carries no scope')) return 'subject.no_scope';
  if (/^the subject token's \S+ claim does not have a required value$/.test(description)) return 'subject.required_claim';
  throw new Error(`no reason code known for the refusal "${description}"`);
}

it('docs/idp-recipes.md has no recipe this test does not run', () => {
  const named = [...doc.keys()].filter((k) => k.startsWith('yaml recipe=')).map((k) => k.slice('yaml recipe='.length));
  expect(named).toEqual(RECIPES);
});
