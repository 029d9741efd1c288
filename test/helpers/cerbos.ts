// The real Cerbos PDP as a test oracle: install the pinned binary on demand (scripts/cerbos-binary.mjs), start
// `cerbos server` on loopback with a generated config, and ask it CheckResources and PlanResources questions over HTTP.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort } from './net.js';

export const CERBOS_VERSION = '0.55.0';
const script = fileURLToPath(new URL('../../scripts/cerbos-binary.mjs', import.meta.url));

export type CerbosBinary = { ok: true; path: string } | { ok: false; reason: string };

let cachedBinary: CerbosBinary | undefined;
/** Path of the Cerbos binary, installing it into node_modules/.cache on first use; or why it cannot be had. */
export function cerbosBinary(): CerbosBinary {
  if (cachedBinary) return cachedBinary;
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 180_000 });
  const path = r.stdout.trim().split('\n').pop() ?? '';
  cachedBinary =
    r.status === 0 && path !== ''
      ? { ok: true, path }
      : { ok: false, reason: (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim() };
  return cachedBinary;
}


export interface CerbosPrincipal {
  id: string;
  roles: string[];
  attr?: Record<string, unknown>;
  policyVersion?: string;
  scope?: string;
}
export interface CerbosResource {
  kind: string;
  id: string;
  attr?: Record<string, unknown>;
  policyVersion?: string;
  scope?: string;
}
export interface CheckResourcesRequest {
  principal: CerbosPrincipal;
  resources: { resource: CerbosResource; actions: string[] }[];
  /** Claims of the JWT; the helper turns them into an unsigned token (the server runs with verification disabled). */
  jwtClaims?: Record<string, unknown>;
}
export interface CerbosResult {
  resource: { id: string; kind: string; policyVersion?: string; scope?: string };
  actions: Record<string, 'EFFECT_ALLOW' | 'EFFECT_DENY'>;
  meta?: {
    actions?: Record<string, { matchedPolicy?: string; matchedScope?: string }>;
    effectiveDerivedRoles?: string[];
  };
  outputs?: { src: string; action: string; val?: unknown }[];
  validationErrors?: unknown[];
}

export interface PlanResourcesRequest {
  principal: CerbosPrincipal;
  resource: { kind: string; policyVersion?: string; scope?: string; attr?: Record<string, unknown> };
  actions: string[];
  /** Claims of the JWT, sent as an unsigned token (the server runs with verification disabled). */
  jwtClaims?: Record<string, unknown>;
}
/** Cerbos's PlanResources response (the parts the tests read). */
export interface CerbosPlan {
  filter: { kind: 'KIND_ALWAYS_ALLOWED' | 'KIND_ALWAYS_DENIED' | 'KIND_CONDITIONAL'; condition?: unknown };
  meta?: { filterDebug?: string; matchedScope?: string; matchedScopes?: Record<string, string> };
  validationErrors?: unknown[];
}

export interface CerbosServer {
  url: string;
  /** POST /api/check/resources with includeMeta; throws with Cerbos's message on a non-2xx answer. */
  checkResources(req: CheckResourcesRequest): Promise<CerbosResult[]>;
  /** The same, with the call id Cerbos gives the request (its decision log entry's `callId`). */
  checkResourcesCall(req: CheckResourcesRequest): Promise<{ results: CerbosResult[]; callId: string }>;
  /** POST /api/plan/resources with includeMeta; throws with Cerbos's message on a non-2xx answer. */
  planResources(req: PlanResourcesRequest): Promise<CerbosPlan>;
  close(): Promise<void>;
}

export interface StartCerbosOptions {
  binary: string;
  policyDir: string;
  /** engine.strictEvaluation (Cerbos 0.55): a DENY rule whose condition errors applies. Default true. */
  strictEvaluation?: boolean;
  /** engine.lenientScopeSearch. Default false. */
  lenientScopeSearch?: boolean;
  /** schema.enforcement (validation of attributes against the policies' JSON schemas). Default: Cerbos's (none). */
  schemaEnforcement?: 'none' | 'warn' | 'reject';
  /** Write decision logs (audit file backend) to this file; they hold what the API omits, such as evaluationErrors. */
  decisionLogPath?: string;
  globals?: Record<string, unknown>;
  /** Milliseconds to wait for /_cerbos/health to say SERVING. */
  readyTimeoutMs?: number;
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');
/** An unsigned-looking compact JWT carrying `claims` (signature is junk; the oracle runs with verification off). */
export function unverifiedJwt(claims: Record<string, unknown>): string {
  return `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.${b64url('not-a-signature')}`;
}

export async function startCerbos(opts: StartCerbosOptions): Promise<CerbosServer> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-cerbos-'));
  let lastError = '';
  // Ports are picked free then handed over; another process may grab one in between, so retry a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const config = {
      server: {
        httpListenAddr: `127.0.0.1:${httpPort}`,
        grpcListenAddr: `127.0.0.1:${grpcPort}`,
        adminAPI: { enabled: false },
      },
      engine: {
        defaultPolicyVersion: 'default',
        strictEvaluation: opts.strictEvaluation ?? true,
        lenientScopeSearch: opts.lenientScopeSearch ?? false,
        celErrorLogLevel: 'none',
        ...(opts.globals ? { globals: opts.globals } : {}),
      },
      auxData: { jwt: { disableVerification: true } },
      ...(opts.schemaEnforcement ? { schema: { enforcement: opts.schemaEnforcement } } : {}),
      audit: opts.decisionLogPath
        ? { enabled: true, accessLogsEnabled: false, decisionLogsEnabled: true, backend: 'file', file: { path: opts.decisionLogPath } }
        : { enabled: false },
      telemetry: { disabled: true },
      storage: { driver: 'disk', disk: { directory: opts.policyDir, watchForChanges: false } },
    };
    const configPath = join(dir, 'cerbos.yaml');
    writeFileSync(configPath, stringify(config));
    const child = spawn(opts.binary, ['server', `--config=${configPath}`, '--debug-listen-addr=127.0.0.1:0', '--log-level=error'], {
      env: { ...process.env, CERBOS_NO_TELEMETRY: '1', OTEL_SDK_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const keep = (b: Buffer) => {
      log = (log + b.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const url = `http://127.0.0.1:${httpPort}`;
    const ready = await waitReady(child, url, opts.readyTimeoutMs ?? 20_000);
    if (ready) return server(child, url, dir);
    await stop(child);
    lastError = `cerbos server did not become ready on ${url}: ${log.trim().slice(-1500)}`;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(lastError);
}

async function waitReady(child: ChildProcess, url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const res = await fetch(`${url}/_cerbos/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { status?: string }).status === 'SERVING') return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function server(child: ChildProcess, url: string, dir: string): CerbosServer {
  let n = 0;
  const call = async (req: CheckResourcesRequest): Promise<{ results: CerbosResult[]; callId: string }> => {
    const body = {
      requestId: `diff-${++n}`,
      includeMeta: true,
      principal: req.principal,
      resources: req.resources,
      ...(req.jwtClaims ? { auxData: { jwt: { token: unverifiedJwt(req.jwtClaims) } } } : {}),
    };
    const res = await fetch(`${url}/api/check/resources`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`cerbos ${res.status}: ${text.slice(0, 500)}`);
    const answer = JSON.parse(text) as { results: CerbosResult[]; cerbosCallId?: string };
    return { results: answer.results, callId: answer.cerbosCallId ?? '' };
  };
  return {
    url,
    async checkResources(req) {
      return (await call(req)).results;
    },
    checkResourcesCall: call,
    async planResources(req) {
      const body = {
        requestId: `plan-${++n}`,
        includeMeta: true,
        actions: req.actions,
        principal: req.principal,
        resource: req.resource,
        ...(req.jwtClaims ? { auxData: { jwt: { token: unverifiedJwt(req.jwtClaims) } } } : {}),
      };
      const res = await fetch(`${url}/api/plan/resources`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`cerbos ${res.status}: ${text.slice(0, 500)}`);
      return JSON.parse(text) as CerbosPlan;
    },
    async close() {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One check input of Cerbos's engine test cases (`testdata/engine*`: `inputs[]`). */
export interface EngineCaseInput {
  requestId: string;
  actions: string[];
  principal: { id: string; roles: string[]; attr?: Record<string, unknown>; policyVersion?: string; scope?: string };
  resource: { kind: string; id: string; attr?: Record<string, unknown>; policyVersion?: string; scope?: string };
  auxData?: { jwt?: Record<string, unknown> };
}

/**
 * A value made comparable with Cerbos's answer: object keys sorted (Cerbos returns output maps with sorted keys), and
 * instants within ten minutes of now as NOW (each side took its own now()).
 */
export function canonical(v: unknown): unknown {
  if (v instanceof Date) return canonical(v.toISOString());
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v) && Math.abs(Date.parse(v) - Date.now()) < 600_000) return 'NOW';
  return v;
}
