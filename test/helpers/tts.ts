/**
 * A TTS on loopback for the suites (Node): started with `startNode` on a free port, its decision entries and lines
 * captured; exchanges made the way a workload makes them (oauth4webapi) or by hand; and `expectRefusal`, which every
 * refusal test goes through: status, OAuth error, RFC 6749 §5.2 body, nothing echoed, and the reason code of the
 * decision the TTS logged for it (issue 18: a refusal test asserts WHY).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { expect } from 'vitest';
import { parseConfig, type Config, type ConfigInput } from '../../src/config/schema.js';
import type { DecisionEntry, RefusalReason } from '../../src/exchange/index.js';
import type { ScopePolicy } from '../../src/exchange/scope.js';
import { createDecisionLogger } from '../../src/log/index.js';
import { startNode, type RunningNode } from '../../src/node.js';
import type { Store } from '../../src/store/types.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../../src/txn/index.js';
import { TRUST_DOMAIN } from './names.js';
import { freePort } from './net.js';

export interface TestTts {
  node: RunningNode;
  /** `http://127.0.0.1:PORT`: where it is served */
  url: string;
  /** the configured issuer: the URL itself, unless a parsed configuration named another */
  issuer: string;
  keysDir: string;
  decisions: DecisionEntry[];
  /** the same decisions as the lines `baton serve` writes (baton/log's renderer) */
  lines: string[];
  /** RFC 8414 metadata discovered with oauth4webapi (when the issuer is the URL) */
  as: oauth.AuthorizationServer;
  close(): Promise<void>;
}

export interface TtsOptions {
  /**
   * The configuration: built for the issuer (the TTS's own URL on a free port; `issuer` and `keys` filled in, keys in
   * a fresh temp dir), or a parsed configuration used as it is (its issuer and keys; port 0; no discovery).
   */
  config: ((issuer: string) => Omit<ConfigInput, 'issuer' | 'keys'> & { keys?: string }) | Config;
  /** private JWKs written into the keys dir before start (otherwise a dev key is generated) */
  signingKeys?: JWK[];
  policy?: ScopePolicy;
  store?: Store;
  say?: (m: string) => void;
  /** path resolver for `policies` etc. (default: paths as given) */
  resolvePath?: (p: string) => string;
}

/**
 * The last decision a TTS of this test process logged (what `expectRefusal` checks the reason of), consumed by it: a
 * refusal that logged nothing through a captured TTS fails the check instead of meeting an older decision.
 */
let lastDecision: DecisionEntry | undefined;

/** Captures a TTS's decision entries and lines (pass `onDecision` to `startNode`); the last feeds `expectRefusal`. */
export function captureDecisions(): { decisions: DecisionEntry[]; lines: string[]; onDecision: (e: DecisionEntry) => void } {
  const decisions: DecisionEntry[] = [];
  const lines: string[] = [];
  const logger = createDecisionLogger({ sink: (line) => lines.push(line) });
  return {
    decisions,
    lines,
    onDecision: (e) => {
      lastDecision = e;
      decisions.push(e);
      logger.log(e);
    },
  };
}

/** Starts a TTS with `startNode` on loopback; with a configuration builder it is served at its issuer and discovered. */
export async function startTts(o: TtsOptions): Promise<TestTts> {
  const c = captureDecisions();
  const extra = { say: o.say ?? (() => {}), onDecision: c.onDecision, ...(o.policy !== undefined ? { policy: o.policy } : {}), ...(o.store !== undefined ? { store: o.store } : {}) };
  if (typeof o.config !== 'function') {
    const node = await startNode({ loaded: { config: o.config, file: 'test', resolvePath: o.resolvePath ?? ((p) => p) }, port: 0, ...extra });
    return {
      node, url: node.url, issuer: o.config.issuer, keysDir: o.config.keys, ...c,
      get as(): oauth.AuthorizationServer {
        throw new Error('no RFC 8414 metadata: this TTS was started with a parsed configuration whose issuer is not its URL');
      },
      close: async () => void (await node.close()),
    };
  }
  const keysDir = mkdtempSync(join(tmpdir(), 'baton-tts-keys-'));
  mkdirSync(keysDir, { recursive: true });
  for (const k of o.signingKeys ?? []) writeFileSync(join(keysDir, `${k.kid!}.jwk.json`), JSON.stringify(k));
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const config = parseConfig({ ...o.config(issuer), issuer, keys: keysDir, port, host: '127.0.0.1' }, 'test');
    let node: RunningNode;
    try {
      node = await startNode({ loaded: { config, file: 'test', resolvePath: o.resolvePath ?? ((p) => p) }, port, ...extra });
    } catch (e) {
      lastError = e;
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      break;
    }
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
    const close = async () => {
      await node.close();
      rmSync(keysDir, { recursive: true, force: true });
    };
    return { node, url: node.url, issuer, keysDir, ...c, as, close };
  }
  rmSync(keysDir, { recursive: true, force: true });
  throw lastError;
}

export interface ExchangeResult {
  response: Response;
  /** the raw response body */
  text: string;
  /** parsed by oauth4webapi when the exchange succeeded */
  ok?: oauth.TokenEndpointResponse;
  /** the oauth4webapi error when it did not (a 401 with a Basic challenge is a WWWAuthenticateChallengeError) */
  error?: oauth.ResponseBodyError | oauth.WWWAuthenticateChallengeError;
}

/**
 * A token exchange made the way a workload does it: oauth4webapi's generic token endpoint request and response
 * processing (token_type N_A recognised), over real HTTP.
 */
export async function o4wExchange(as: oauth.AuthorizationServer, clientId: string, auth: oauth.ClientAuth, params: Record<string, string>, grantType: string = GRANT_TOKEN_EXCHANGE): Promise<ExchangeResult> {
  const client: oauth.Client = { client_id: clientId };
  const response = await oauth.genericTokenEndpointRequest(as, client, auth, grantType, new URLSearchParams(params), { [oauth.allowInsecureRequests]: true });
  const text = await response.clone().text();
  try {
    const ok = await oauth.processGenericTokenEndpointResponse(as, client, response, { recognizedTokenTypes: { n_a: () => {} } });
    return { response, text, ok };
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError || e instanceof oauth.WWWAuthenticateChallengeError) return { response, text, error: e };
    // oauth4webapi reads only 4xx bodies as OAuth errors; a 503 temporarily_unavailable is returned as it came
    if (e instanceof oauth.OperationProcessingError && response.status >= 500) return { response, text };
    throw e;
  }
}

/** The usual exchange parameters for a subject access token. */
export function exchangeParams(subjectToken: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    requested_token_type: TT_TXN_TOKEN,
    audience: TRUST_DOMAIN,
    scope: 'tickets:read',
    subject_token: subjectToken,
    subject_token_type: TT_ACCESS_TOKEN,
    ...extra,
  };
}

/** POST /token (or another path) with a hand-built body (for what oauth4webapi cannot send). */
export async function rawPost(url: string, body: string | URLSearchParams, headers: Record<string, string> = {}, path = '/token'): Promise<{ response: Response; text: string; json: Record<string, unknown> | undefined }> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : body.toString(),
  });
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { response, text, json };
}

/**
 * Every refusal: the right status and error, an RFC 6749 §5.2 body, never a 5xx, nothing the caller sent (tokens,
 * secrets, assertions) echoed back, and the reason: the last decision a TTS of this test process logged is this
 * refusal, with this `reason_code` (which is never in the body). Tests of one file run one at a time, and a TTS logs
 * its decision before it answers, so the last decision is the one of the answer being checked.
 */
export function expectRefusal(
  r: { response: Response; text: string },
  status: number,
  error: string,
  reason: RefusalReason,
  secrets: readonly string[] = [],
): void {
  expect(r.response.status, r.text).toBe(status);
  expect(r.response.status).toBeLessThan(500);
  const body = JSON.parse(r.text) as { error?: unknown; error_description?: unknown };
  expect(body.error, r.text).toBe(error);
  expect(typeof body.error_description).toBe('string');
  expect(r.response.headers.get('content-type')).toMatch(/^application\/json/);
  expectLoggedRefusal(error, reason, r.text);
  expect(r.text.includes(reason), 'the reason code is never in the answer').toBe(false);
  for (const s of secrets) {
    expect(s.length).toBeGreaterThan(0);
    expect(r.text.includes(s), 'the response echoes something the caller sent').toBe(false);
    // a JWT's signature alone must not come back either
    const sig = s.split('.')[2];
    if (sig !== undefined && sig.length > 8) expect(r.text.includes(sig)).toBe(false);
  }
}

/** The last decision a TTS of this test process logged is a refusal with this error and reason (consumed). */
export function expectLoggedRefusal(error: string, reason: RefusalReason, context = ''): void {
  const last = lastDecision;
  lastDecision = undefined;
  expect({ effect: last?.effect, error: last?.error, reason_code: last?.reason_code }, context).toEqual({ effect: 'deny', error, reason_code: reason });
}

/** A fail-closed answer: 503 temporarily_unavailable (RFC 6749 §5.2 body), nothing the caller sent echoed; returns the description. */
export function expectUnavailable(r: { response: Response; text: string }, secrets: readonly string[] = []): string {
  expect(r.response.status, r.text).toBe(503);
  expect(r.response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(r.text) as { error?: unknown; error_description?: unknown };
  expect(body.error).toBe('temporarily_unavailable');
  for (const s of secrets) expect(r.text.includes(s), 'the response echoes something the caller sent').toBe(false);
  expect(typeof body.error_description).toBe('string');
  return body.error_description as string;
}
