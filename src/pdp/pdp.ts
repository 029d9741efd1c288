/**
 * The decision point: the Cerbos HTTP API, AuthZEN 1.0 and forward auth over one engine, as plain functions of a
 * body and a few headers (the hono app in `app.ts` and Node's fast path only translate HTTP). The engine is read
 * through a getter on every call, so a policy reload (an atomic swap at the composition root) takes effect at once.
 */
import type { DecisionCallback } from '../log/index.js';
import type { Engine } from '../policy/index.js';
import type { ScopeImplications } from '../verify/authorize.js';
import type { Verifier } from '../verify/verifier.js';
import { accessEvaluation, accessEvaluations, type AzDecision } from './authzen.js';
import { searchAction, searchResource, searchSubject, type PolicyCatalog } from './authzen-search.js';
import { auxReader, type AuxJwtSettings } from './aux.js';
import { callId } from './call-id.js';
import { checkResources, planResources, type CerbosApiContext, type CheckResponseJson } from './cerbos-api.js';
import type { RequestLimits } from './cerbos-request.js';
import { compileRoutes, forwardAuth, type ForwardAnswer, type ForwardRequest, type RouteSpec } from './forward-auth.js';
import { pdpLog, type PdpDecisionEntry } from './log.js';
import { txnAuth, type ScopeTable } from './txn.js';

/** What the decision point decides with: the engine, and what the policies name (for AuthZEN search). */
export interface PdpPolicies {
  engine: Engine;
  catalog: PolicyCatalog;
}

export interface PdpOptions {
  /** the current policies (read on every call: a reload swaps what it returns) */
  policies: () => PdpPolicies;
  limits?: RequestLimits | undefined;
  auxJwt?: AuxJwtSettings | undefined;
  /** verifies a `Txn-Token` header given instead of a principal (none: such requests need a principal) */
  verifier?: Verifier | undefined;
  scopes?: ScopeTable | undefined;
  implications?: ScopeImplications | undefined;
  routes?: readonly RouteSpec[] | undefined;
  /** this hop's name in the decision log (default `pdp`) */
  service?: string | undefined;
  onDecision?: DecisionCallback<PdpDecisionEntry> | undefined;
  now?: (() => number) | undefined;
  /** Cerbos's server_info (`version` is the Cerbos API version served) */
  serverInfo?: { version: string; commit: string; buildDate: string } | undefined;
}

export interface Pdp {
  checkResources(body: unknown, txnHeader: string | undefined): Promise<CheckResponseJson>;
  planResources(body: unknown, txnHeader: string | undefined): Promise<Record<string, unknown>>;
  evaluation(body: unknown, txnHeader: string | undefined): Promise<AzDecision>;
  evaluations(body: unknown, txnHeader: string | undefined): Promise<AzDecision | { evaluations: AzDecision[] }>;
  search(kind: 'subject' | 'resource' | 'action', body: unknown, txnHeader: string | undefined): Promise<object>;
  forwardAuth(req: ForwardRequest): Promise<ForwardAnswer>;
  serverInfo(): { version: string; commit: string; buildDate: string };
}

export const DEFAULT_LIMITS: RequestLimits = { maxActionsPerResource: 50, maxResourcesPerRequest: 50 };

export function createPdp(o: PdpOptions): Pdp {
  const now = o.now ?? Date.now;
  const log = pdpLog(o.service ?? 'pdp', o.onDecision, () => new Date(now()));
  const txn = o.verifier === undefined ? undefined : txnAuth(o.verifier, o.scopes ?? {}, o.implications);
  const engine = () => o.policies().engine;
  const ctx: CerbosApiContext = {
    engine,
    limits: o.limits ?? DEFAULT_LIMITS,
    aux: auxReader(o.auxJwt ?? { disableVerification: false }),
    txn,
    log,
    now,
    callId: () => callId(now()),
  };
  const routes = compileRoutes(o.routes ?? []);
  const fwd = { engine, txn, implications: o.implications, routes: o.routes ?? [], log, now };
  // the Cerbos API version served; the commit names Baton; the date is when this decision point was put together
  const info = o.serverInfo ?? { version: '0.55.0', commit: 'baton', buildDate: new Date(now()).toISOString().replace(/\.\d+Z$/, 'Z') };
  return {
    checkResources: (body, h) => checkResources(ctx, body, h),
    planResources: (body, h) => planResources(ctx, body, h),
    evaluation: (body, h) => accessEvaluation(ctx, body, h),
    evaluations: (body, h) => accessEvaluations(ctx, body, h),
    search(kind, body, h) {
      const catalog = o.policies().catalog;
      if (kind === 'resource') return searchResource(ctx, body, h);
      if (kind === 'action') return searchAction(ctx, catalog, body, h);
      return searchSubject(ctx, catalog, body, h);
    },
    forwardAuth: (req) => forwardAuth(fwd, routes, req),
    serverInfo: () => info,
  };
}
