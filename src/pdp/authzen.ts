/**
 * AuthZEN 1.0 Access Evaluation(s) over Baton's engine, mapped as Cerbos 0.55 maps its own AuthZEN endpoint:
 *   principal = subject.id, roles = subject.properties["cerbos.roles"] (else [subject.type]),
 *               policyVersion / scope = properties["cerbos.policyVersion"] / ["cerbos.scope"], attr = the properties
 *   resource  = resource.type as kind, resource.id, the same cerbos.* properties, attr = the properties
 *   action    = action.name; context["cerbos.requestId"], ["cerbos.auxData"], ["cerbos.includeMeta"] as in a check
 * With `cerbos.includeMeta` the answer's context carries `cerbos.response`: the CheckResources answer of the call.
 * A request without a subject but with a `Txn-Token` is decided for the token's user, its scope covering the action.
 */
import type { AuxData, CheckResult, Principal, Resource } from '../policy/index.js';
import { readEvaluation, readEvaluations, type AzEntity, type AzEvaluation } from './authzen-request.js';
import { resultEntry, type CerbosApiContext } from './cerbos-api.js';
import { CerbosApiError } from './cerbos-errors.js';
import type { AuxInput } from './cerbos-request.js';
import { callerFields } from './log.js';
import { principalFor, type TxnCaller } from './txn.js';

type Obj = Record<string, unknown>;

export interface AzDecision {
  decision: boolean;
  context?: Obj;
}

const prop = (p: Obj, k: string): string => {
  const v = p[`cerbos.${k}`];
  return typeof v === 'string' ? v : '';
};

export function toPrincipal(s: AzEntity): Principal {
  const listed = s.properties['cerbos.roles'];
  const roles = Array.isArray(listed) ? listed.filter((r): r is string => typeof r === 'string' && r !== '') : [];
  return { id: s.id, roles: roles.length > 0 ? roles : [s.type], attr: s.properties, policyVersion: prop(s.properties, 'policyVersion'), scope: prop(s.properties, 'scope') };
}

export function toResource(r: AzEntity): Resource {
  return { kind: r.type, id: r.id, attr: r.properties, policyVersion: prop(r.properties, 'policyVersion'), scope: prop(r.properties, 'scope') };
}

/** `context["cerbos.auxData"].jwt.token`, as a check's `auxData.jwt`. */
function auxJwtOf(context: Obj): AuxInput | undefined {
  const aux = context['cerbos.auxData'];
  if (aux === undefined || aux === null) return undefined;
  const jwt = typeof aux === 'object' ? (aux as Obj).jwt : undefined;
  const token = jwt !== null && typeof jwt === 'object' ? (jwt as Obj).token : undefined;
  if (jwt !== undefined && (typeof token !== 'string' || token === '')) throw new CerbosApiError(3, 'invalid auxData', 'aux.invalid');
  return typeof token === 'string' ? { jwt: { token, keySetId: '' } } : undefined;
}

interface Group {
  principal: Principal;
  caller: TxnCaller | undefined;
  aux: AuxData | undefined;
  resource: Resource;
  actions: string[];
  /** the index of each action's evaluation */
  at: number[];
}

/** Evaluations of one subject and auxData: Cerbos answers `cerbos.includeMeta` with the check of all of them. */
interface Outer {
  groups: Map<string, Group>;
  context: Obj;
}

async function principalOf(ctx: CerbosApiContext, s: AzEntity | undefined, txnHeader: string | undefined, cached: { caller?: TxnCaller }): Promise<{ principal: Principal; caller: TxnCaller | undefined }> {
  if (s !== undefined) return { principal: toPrincipal(s), caller: undefined };
  cached.caller ??= await ctx.txn!.verify(txnHeader);
  return { principal: principalFor(cached.caller), caller: cached.caller };
}

/** Evaluations grouped as Cerbos groups them: by (subject id, auxData), then one engine check per resource. */
async function groupsOf(ctx: CerbosApiContext, evals: readonly AzEvaluation[], txnHeader: string | undefined): Promise<Outer[]> {
  const outers = new Map<string, Outer>();
  const cached: { caller?: TxnCaller } = {};
  const auxCache = new Map<string, AuxData | undefined>();
  for (let i = 0; i < evals.length; i++) {
    const e = evals[i]!;
    const { principal, caller } = await principalOf(ctx, e.subject, txnHeader, cached);
    const jwt = auxJwtOf(e.context);
    const auxKey = jwt?.jwt?.token ?? '';
    if (!auxCache.has(auxKey)) auxCache.set(auxKey, await ctx.aux(jwt, ctx.now()));
    const outerKey = JSON.stringify([principal.id, auxKey]);
    let outer = outers.get(outerKey);
    if (outer === undefined) outers.set(outerKey, (outer = { groups: new Map(), context: e.context }));
    const key = JSON.stringify([e.resource.type, e.resource.id]);
    let g = outer.groups.get(key);
    if (g === undefined) outer.groups.set(key, (g = { principal, caller, aux: auxCache.get(auxKey), resource: toResource(e.resource), actions: [], at: [] }));
    g.actions.push(e.action.name);
    g.at.push(i);
  }
  for (const o of outers.values()) {
    checkResourceCount(ctx.limits, o.groups.size);
    for (const g of o.groups.values()) checkActionCount(ctx.limits, g.actions.length);
  }
  return [...outers.values()];
}

function checkEvaluationCount(limits: CerbosApiContext['limits'], n: number): void {
  const most = limits.maxActionsPerResource * limits.maxResourcesPerRequest;
  if (n > most) throw new CerbosApiError(3, `number of evaluations (${n}) exceeds configured limit (${most})`, 'request.too_large');
}

function checkResourceCount(limits: CerbosApiContext['limits'], n: number): void {
  if (n > limits.maxResourcesPerRequest) throw new CerbosApiError(3, `number of resources in batch (${n}) exceeds configured limit (${limits.maxResourcesPerRequest})`, 'request.too_large');
}

function checkActionCount(limits: CerbosApiContext['limits'], n: number): void {
  if (n > limits.maxActionsPerResource) throw new CerbosApiError(3, `number of actions (${n}) exceeds configured limit (${limits.maxActionsPerResource})`, 'request.too_large');
}

function runGroup(ctx: CerbosApiContext, g: Group): { result: CheckResult; denied: ReadonlySet<string> } {
  let result: CheckResult;
  try {
    result = ctx.engine().check({ principal: g.principal, resource: g.resource, actions: g.actions, ...(g.aux !== undefined ? { auxData: g.aux } : {}) }, { now: new Date(ctx.now()) });
  } catch (e) {
    ctx.log.failure('evaluation', g.caller, g.principal, e);
    throw new CerbosApiError(13, 'Policy check failed', 'engine.failed');
  }
  const denied = g.caller === undefined ? new Set<string>() : ctx.txn!.uncovered(g.caller, g.resource.kind, g.actions);
  return { result, denied };
}

function metaContext(context: Obj, entries: object[]): Obj {
  const requestId = typeof context['cerbos.requestId'] === 'string' ? context['cerbos.requestId'] : '';
  return { 'cerbos.response': requestId === '' ? { results: entries } : { requestId, results: entries } };
}

/** Decides every evaluation, in order; the semantic stops the answer after the first deny or permit. */
async function decideAll(ctx: CerbosApiContext, evals: readonly AzEvaluation[], semantic: string, txnHeader: string | undefined, event: string): Promise<AzDecision[]> {
  checkEvaluationCount(ctx.limits, evals.length);
  const out: AzDecision[] = new Array(evals.length);
  const logged: object[] = [];
  for (const outer of await groupsOf(ctx, evals, txnHeader)) {
    const ran = [...outer.groups.values()].map((g) => ({ g, ...runGroup(ctx, g) }));
    const meta = outer.context['cerbos.includeMeta'] === true ? metaContext(outer.context, ran.map((r) => resultEntry(r.result, r.g.resource, true, r.denied))) : undefined;
    for (const { g, result, denied } of ran)
      g.actions.forEach((a, j) => {
        const decision = result.actions[a]?.effect === 'EFFECT_ALLOW' && !denied.has(a);
        out[g.at[j]!] = meta === undefined ? { decision } : { decision, context: meta };
        // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
        logged[g.at[j]!] = { __proto__: Object.prototype, ...callerFields(g.caller, g.principal), action: a, resource: { kind: g.resource.kind, id: g.resource.id }, decision, policy: denied.has(a) ? 'scope' : result.actions[a]?.policy };
      });
  }
  let n = out.length;
  if (semantic !== 'execute_all') {
    const stopOn = semantic === 'permit_on_first_permit';
    const i = out.findIndex((d) => d.decision === stopOn);
    if (i >= 0) n = i + 1;
  }
  logDecisions(ctx, event, logged.slice(0, n), semantic);
  return out.slice(0, n);
}

function logDecisions(ctx: CerbosApiContext, event: string, decisions: object[], semantic: string): void {
  if (!ctx.log.enabled) return;
  const allowed = decisions.filter((d) => (d as { decision: boolean }).decision).length;
  const first = decisions[0] as Obj | undefined;
  ctx.log.emit({
    event,
    api: 'authzen',
    effect: allowed === 0 ? 'deny' : allowed === decisions.length ? 'allow' : 'partial',
    ...(first !== undefined ? { txn: first.txn, sub: first.sub, workload: first.workload, chain: first.chain } : {}),
    ...(decisions.length === 1 ? { action: first!.action, resource: first!.resource, policy: first!.policy } : { semantic, evaluations: decisions }),
  } as never);
}

/**
 * POST /access/v1/evaluation: `decideAll` of this one evaluation, in the same steps and order (the same refusals, the
 * same answer, the same decision entry), without the grouping, its keys and copies (issue 14: they were a third of an
 * evaluation's cost in the decision point), nor a wait for an auxData reader that has nothing to read.
 */
export async function accessEvaluation(ctx: CerbosApiContext, body: unknown, txnHeader: string | undefined): Promise<AzDecision> {
  const e = readEvaluation(body, txnHeader !== undefined && ctx.txn !== undefined);
  checkEvaluationCount(ctx.limits, 1);
  let caller: TxnCaller | undefined;
  let principal: Principal;
  if (e.subject !== undefined) principal = toPrincipal(e.subject);
  else principal = principalFor((caller = await ctx.txn!.verify(txnHeader)));
  const jwt = auxJwtOf(e.context);
  const aux = jwt === undefined ? undefined : await ctx.aux(jwt, ctx.now());
  checkResourceCount(ctx.limits, 1);
  checkActionCount(ctx.limits, 1);
  const a = e.action.name;
  const g: Group = { principal, caller, aux, resource: toResource(e.resource), actions: [a], at: [0] };
  const { result, denied } = runGroup(ctx, g);
  const effect = result.actions[a];
  const decision = effect?.effect === 'EFFECT_ALLOW' && !denied.has(a);
  if (ctx.log.enabled) {
    const resource = { kind: g.resource.kind, id: g.resource.id };
    const policy = denied.has(a) ? 'scope' : effect?.policy;
    const effectWord = decision ? 'allow' : 'deny';
    // the entry logDecisions writes for one evaluation, member for member
    if (caller === undefined) ctx.log.emit({ event: 'evaluation', api: 'authzen', effect: effectWord, txn: undefined, sub: principal.id, workload: undefined, chain: undefined, action: a, resource, policy });
    else ctx.log.emit({ event: 'evaluation', api: 'authzen', effect: effectWord, txn: caller.txn, sub: caller.sub, workload: caller.actor, chain: [...caller.chain], action: a, resource, policy });
  }
  return e.context['cerbos.includeMeta'] === true ? { decision, context: metaContext(e.context, [resultEntry(result, g.resource, true, denied)]) } : { decision };
}

/** POST /access/v1/evaluations */
export async function accessEvaluations(ctx: CerbosApiContext, body: unknown, txnHeader: string | undefined): Promise<AzDecision | { evaluations: AzDecision[] }> {
  const b = readEvaluations(body, txnHeader !== undefined && ctx.txn !== undefined);
  const decisions = await decideAll(ctx, b.evaluations, b.semantic, txnHeader, 'evaluations');
  return b.single ? decisions[0]! : { evaluations: decisions };
}
