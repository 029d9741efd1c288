/**
 * The Cerbos HTTP API over Baton's engine: CheckResources and PlanResources, answered as Cerbos 0.55 answers them
 * (protojson: empty members left out, `meta` only with `includeMeta`, a `cerbosCallId` per call). A request without
 * a principal but with a `Txn-Token` is decided for the token's user (`txn.ts`). One decision entry per call.
 */
import type { CheckResult, Effect, Engine, OutputEntry, PlanResult, Principal } from '../policy/index.js';
import { auxDataOf, readCheckRequest, readPlanRequest, type CheckRequest, type PlanRequest, type RequestLimits } from './cerbos-request.js';
import { CerbosApiError } from './cerbos-errors.js';
import type { AuxReader } from './aux.js';
import type { PdpLog } from './log.js';
import { principalFor, type TxnAuth, type TxnCaller } from './txn.js';

export interface CerbosApiContext {
  /** the current engine (read on every call: a reload swaps it) */
  engine: () => Engine;
  limits: RequestLimits;
  aux: AuxReader;
  txn: TxnAuth | undefined;
  log: PdpLog;
  now: () => number;
  callId: () => string;
}

export interface CheckResponseJson {
  requestId?: string;
  results: object[];
  cerbosCallId: string;
}

interface ActionMeta {
  matchedPolicy?: string;
  matchedScope?: string;
}

/** One result entry as Cerbos writes it. */
export function resultEntry(r: CheckResult, asked: { policyVersion?: string | undefined; scope?: string | undefined }, includeMeta: boolean, denied: ReadonlySet<string>): object {
  const actions: Record<string, Effect> = {};
  const meta: Record<string, ActionMeta> = {};
  for (const a in r.actions) {
    const e = r.actions[a]!;
    if (denied.has(a)) {
      actions[a] = 'EFFECT_DENY';
      meta[a] = {};
      continue;
    }
    actions[a] = e.effect;
    if (includeMeta) meta[a] = e.scope === '' ? { matchedPolicy: e.policy } : { matchedPolicy: e.policy, matchedScope: e.scope };
  }
  const resource: Record<string, string> = { id: r.resource.id, kind: r.resource.kind };
  if (asked.policyVersion) resource.policyVersion = asked.policyVersion;
  if (asked.scope) resource.scope = asked.scope;
  const out: Record<string, unknown> = { resource, actions };
  if (r.validationErrors !== undefined) out.validationErrors = r.validationErrors;
  if (includeMeta) out.meta = r.effectiveDerivedRoles.length > 0 ? { actions: meta, effectiveDerivedRoles: r.effectiveDerivedRoles } : { actions: meta };
  if (r.outputs.length > 0) out.outputs = r.outputs.map(outputJson);
  return out;
}

function outputJson(o: OutputEntry): object {
  return { src: o.src, val: o.val === undefined ? null : o.val, action: o.action };
}

/** The engine's answer for every resource of a request, for a given principal. */
function runCheck(ctx: CerbosApiContext, req: CheckRequest, principal: Principal, aux: ReturnType<typeof auxDataOf>): CheckResult[] {
  const engine = ctx.engine();
  const now = new Date(ctx.now());
  if (req.resources.length === 1) {
    const { resource, actions } = req.resources[0]!;
    return [engine.check(aux !== undefined ? { principal, resource, actions, auxData: aux } : { principal, resource, actions }, { now })];
  }
  return engine.checkBatch(principal, req.resources, { now, ...(aux !== undefined ? { auxData: aux } : {}) });
}

/** POST /api/check/resources. `txnHeader`: the request's `Txn-Token` header, if any. Throws CerbosApiError or TxnTokenError. */
export async function checkResources(ctx: CerbosApiContext, body: unknown, txnHeader: string | undefined): Promise<CheckResponseJson> {
  const req = readCheckRequest(body, ctx.limits, txnHeader !== undefined && ctx.txn !== undefined);
  const caller = req.principal === undefined ? await ctx.txn!.verify(txnHeader) : undefined;
  const principal = req.principal ?? principalFor(caller!);
  const aux = req.auxJwt === undefined ? undefined : await ctx.aux(req.auxJwt, ctx.now());
  let results: CheckResult[];
  try {
    results = runCheck(ctx, req, principal, aux);
  } catch (e) {
    ctx.log.failure('check', caller, principal, e);
    throw new CerbosApiError(13, 'Policy check failed', 'engine.failed');
  }
  const denied = req.resources.map((r) => (caller === undefined ? EMPTY : ctx.txn!.uncovered(caller, r.resource.kind, r.actions)));
  ctx.log.check(caller, principal, req, results, denied);
  const entries = results.map((r, i) => resultEntry(r, req.resources[i]!.resource, req.includeMeta, denied[i]!));
  const cerbosCallId = ctx.callId();
  return req.requestId === '' ? { results: entries, cerbosCallId } : { requestId: req.requestId, results: entries, cerbosCallId };
}

const EMPTY: ReadonlySet<string> = new Set();

/** The plan answer as Cerbos writes it. */
function planJson(req: PlanRequest, plan: PlanResult, callId: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (req.requestId !== '') out.requestId = req.requestId;
  if (req.action !== undefined) out.action = req.action;
  else out.actions = req.actions;
  out.resourceKind = req.resource.kind;
  if (req.resource.policyVersion !== '') out.policyVersion = req.resource.policyVersion;
  out.filter = plan.filter;
  if (req.includeMeta) {
    const meta: Record<string, unknown> = { filterDebug: plan.filterDebug };
    if (req.action !== undefined) {
      const s = plan.matchedScopes[req.action] ?? '';
      if (s !== '') meta.matchedScope = s;
    } else if (!rejectedBySchema(plan)) meta.matchedScopes = Object.fromEntries(req.actions.map((a) => [a, plan.matchedScopes[a] ?? '']));
    out.meta = meta;
  }
  if (plan.validationErrors.length > 0) out.validationErrors = plan.validationErrors;
  out.cerbosCallId = callId;
  return out;
}

/** Schema enforcement `reject` refused the plan's attributes: no scope was matched, and Cerbos leaves matchedScopes out. */
function rejectedBySchema(plan: PlanResult): boolean {
  return plan.validationErrors.length > 0 && plan.filterDebug === '(false)' && Object.keys(plan.matchedScopes).length === 0;
}

/** POST /api/plan/resources (the query planner, `engine.plan`). */
export async function planResources(ctx: CerbosApiContext, body: unknown, txnHeader: string | undefined): Promise<Record<string, unknown>> {
  const req = readPlanRequest(body, txnHeader !== undefined && ctx.txn !== undefined);
  const caller = req.principal === undefined ? await ctx.txn!.verify(txnHeader) : undefined;
  const principal = req.principal ?? principalFor(caller!);
  const aux = await ctx.aux(req.auxJwt, ctx.now());
  const uncovered = caller === undefined ? EMPTY : ctx.txn!.uncovered(caller, req.resource.kind, req.actions);
  let plan: PlanResult;
  if (uncovered.size > 0) plan = deniedPlan(req);
  else {
    try {
      plan = ctx.engine().plan(
        {
          principal,
          resource: { kind: req.resource.kind, policyVersion: req.resource.policyVersion, scope: req.resource.scope, attr: req.resource.attr },
          actions: req.actions,
          ...(aux !== undefined ? { auxData: aux } : {}),
        },
        { now: new Date(ctx.now()) },
      );
    } catch (e) {
      ctx.log.failure('plan', caller, principal, e);
      throw new CerbosApiError(13, 'Resources query plan request failed', 'engine.failed');
    }
  }
  ctx.log.plan(caller, principal, req.resource.kind, req.actions, plan, uncovered);
  return planJson(req, plan, ctx.callId());
}

function deniedPlan(req: PlanRequest): PlanResult {
  return {
    kind: req.resource.kind,
    policyVersion: req.resource.policyVersion,
    scope: req.resource.scope,
    actions: req.actions,
    filter: { kind: 'KIND_ALWAYS_DENIED' },
    filterDebug: '(false)',
    matchedScopes: {},
    rules: [],
    validationErrors: [],
  };
}

export type { TxnCaller };
