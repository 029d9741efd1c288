/**
 * The decision point for tests: `baton pdp` in process (startPdp) on a free loopback port, its decision entries kept,
 * and the Cerbos conformance store it is usually pointed at.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pdpFileSchema } from '../../src/config/pdp.js';
import type { PdpDecisionEntry } from '../../src/pdp/index.js';
import { startPdp, type RunningPdp } from '../../src/node.js';

/** `../shared/conformance/cerbos/testdata/`: Cerbos's store and its server test cases. */
export const CERBOS_TESTDATA = fileURLToPath(new URL('../../../shared/conformance/cerbos/testdata/', import.meta.url));
export const CERBOS_TESTDATA_PRESENT = existsSync(CERBOS_TESTDATA);

export interface TestPdp {
  url: string;
  running: RunningPdp;
  /** every decision entry, in order */
  decisions: PdpDecisionEntry[];
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }>;
  close(): Promise<void>;
}

/** Starts `baton pdp` on `policies` with the settings of a `--config` file (`config`, validated as that file is). */
export async function startTestPdp(policies: string, config: Record<string, unknown> = {}): Promise<TestPdp> {
  const decisions: PdpDecisionEntry[] = [];
  const running = await startPdp({
    config: pdpFileSchema.parse({ ...config, port: 0 }),
    policies,
    onDecision: (e) => decisions.push(e as PdpDecisionEntry),
    say: () => {},
  });
  return {
    url: running.url,
    running,
    decisions,
    async post(path, body, headers = {}) {
      const res = await fetch(running.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
    },
    close: async () => {
      await running.close({ graceMs: 1000 });
    },
  };
}

/** The support desk's scopes per action and forward-auth routes (the example policies), for a PDP trusting `jwks`. */
export function supportDeskPdp(o: { trustDomain: string; issuer: string; jwks: { keys: readonly object[] } }): Record<string, unknown> {
  return {
    txnToken: { trustDomains: [o.trustDomain], issuer: o.issuer, jwks: o.jwks },
    scopes: {
      ticket: { read: 'tickets:read', comment: 'tickets:write', close: 'tickets:write', create: 'tickets:write' },
      order: { read: 'orders:read', refund: 'orders:refund' },
    },
    scopeImplications: { tickets: ['tickets:read', 'tickets:write'], orders: ['orders:read', 'orders:refund'] },
    routes: [
      { method: 'GET', path: '/users/:owner/tickets/:id', kind: 'ticket', action: 'read', scope: 'tickets:read' },
      { method: 'POST', path: '/users/:owner/tickets/:id/comments', kind: 'ticket', action: 'comment', scope: 'tickets:write' },
      { method: 'GET', path: '/tickets/:id', kind: 'ticket', action: 'read' },
      { method: 'POST', path: '/users/:owner/orders/:id/refund', kind: 'order', action: 'refund', scope: 'orders:refund' },
    ],
  };
}
