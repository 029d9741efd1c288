/**
 * AuthZEN 1.0 Search, where the policies allow an answer (Cerbos 0.55 has no search endpoints):
 *   resource  the query planner (`engine.plan`) for subject + action + resource type: KIND_ALWAYS_DENIED gives no
 *             resources; a filter that names resource ids (`id == v`, `id in [...]`, their `or`) gives those ids; any
 *             other filter cannot be listed by a PDP, so `results` is empty and `context["baton.complete"]` is false,
 *             with the plan in `context["baton.plan"]` (the filter as Cerbos's PlanResources writes it).
 *   action    every action the policies name for the resource type (literal actions of its resource policies, role
 *             and principal policies), checked for the subject and resource: the allowed ones.
 *   subject   the principals that have principal policies, checked with `subject.type` as their role; when any
 *             subject of that type would be allowed, `context["baton.complete"]` is false (the list is not all of them).
 */
import { parsePolicySources, type PlanOperand, type PolicySource } from '../policy/index.js';
import { readEvaluation, type AzEntity } from './authzen-request.js';
import { toPrincipal, toResource } from './authzen.js';
import type { CerbosApiContext } from './cerbos-api.js';
import { CerbosApiError, protoError } from './cerbos-errors.js';
import { callerFields } from './log.js';
import { principalFor } from './txn.js';

export interface PolicyCatalog {
  /** the literal actions the policies name for a resource kind */
  actions(kind: string): readonly string[];
  /** the principal ids that have a principal policy */
  principals(): readonly string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const literal = (a: unknown): a is string => typeof a === 'string' && a !== '' && !/[*?[\]{}]/.test(a);

/** What the policy files name, read once per load (the engine has compiled the same files). */
export function catalogFrom(sources: readonly PolicySource[]): PolicyCatalog {
  const actions = new Map<string, Set<string>>();
  const principals = new Set<string>();
  const add = (kind: unknown, list: unknown) => {
    if (typeof kind !== 'string' || !Array.isArray(list)) return;
    let s = actions.get(kind);
    if (s === undefined) actions.set(kind, (s = new Set()));
    for (const a of list) if (literal(a)) s.add(a);
  };
  for (const { doc } of parsePolicySources(sources, [])) {
    const d = doc as Obj;
    if (isObj(d.resourcePolicy)) for (const r of (d.resourcePolicy.rules as Obj[] | undefined) ?? []) add(d.resourcePolicy.resource, r.actions);
    if (isObj(d.rolePolicy)) for (const r of (d.rolePolicy.rules as Obj[] | undefined) ?? []) add(r.resource, r.allowActions);
    if (isObj(d.principalPolicy)) {
      if (typeof d.principalPolicy.principal === 'string') principals.add(d.principalPolicy.principal);
      for (const r of (d.principalPolicy.rules as Obj[] | undefined) ?? []) add(r.resource, Array.isArray(r.actions) ? (r.actions as Obj[]).map((a) => a.action) : []);
    }
  }
  const sorted = new Map([...actions].map(([k, s]) => [k, [...s].sort()]));
  const ids = [...principals].sort();
  return { actions: (kind) => sorted.get(kind) ?? [], principals: () => ids };
}

/** Ids named by a plan's condition when it only says `R.id == v`, `R.id in [...]`, or an `or` of those. */
function idsOf(op: PlanOperand | undefined): string[] | undefined {
  if (op === undefined || !('expression' in op)) return undefined;
  const { operator, operands } = op.expression;
  const isId = (o: PlanOperand | undefined) => o !== undefined && 'variable' in o && o.variable === 'request.resource.id';
  const val = (o: PlanOperand | undefined) => (o !== undefined && 'value' in o ? o.value : undefined);
  if (operator === 'eq' && operands.length === 2) {
    const v = isId(operands[0]) ? val(operands[1]) : isId(operands[1]) ? val(operands[0]) : undefined;
    return typeof v === 'string' ? [v] : undefined;
  }
  if (operator === 'in' && operands.length === 2 && isId(operands[0])) {
    const v = val(operands[1]);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  }
  if (operator === 'or') {
    const all: string[] = [];
    for (const o of operands) {
      const ids = idsOf(o);
      if (ids === undefined) return undefined;
      all.push(...ids);
    }
    return [...new Set(all)];
  }
  return undefined;
}

/** Search bodies name a resource or subject by type alone; the evaluation reader wants an id: a placeholder stands in. */
function withIds(body: unknown, members: readonly ('subject' | 'resource')[]): unknown {
  if (!isObj(body)) return body;
  const out: Obj = { ...body };
  // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
  for (const m of members) if (isObj(out[m]) && (out[m] as Obj).id === undefined) out[m] = { __proto__: Object.prototype, ...(out[m] as Obj), id: '\u0000' };
  if (out.page !== undefined) {
    if (!isObj(out.page)) throw protoError('proto: invalid value for page');
    delete out.page;
  }
  return out;
}

async function principalFrom(ctx: CerbosApiContext, s: AzEntity | undefined, h: string | undefined) {
  if (s !== undefined) return { principal: toPrincipal(s), caller: undefined };
  const caller = await ctx.txn!.verify(h);
  return { principal: principalFor(caller), caller };
}

/** POST /access/v1/search/resource */
export async function searchResource(ctx: CerbosApiContext, body: unknown, h: string | undefined): Promise<object> {
  const e = readEvaluation(withIds(body, ['resource']), h !== undefined && ctx.txn !== undefined);
  const { principal, caller } = await principalFrom(ctx, e.subject, h);
  const kind = e.resource.type;
  const uncovered = caller === undefined ? new Set<string>() : ctx.txn!.uncovered(caller, kind, [e.action.name]);
  const r = toResource({ ...e.resource, id: '' });
  let plan;
  try {
    plan =
      uncovered.size > 0
        ? undefined
        : ctx.engine().plan({ principal, resource: { kind, policyVersion: r.policyVersion ?? '', scope: r.scope ?? '', attr: {} }, action: e.action.name }, { now: new Date(ctx.now()) });
  } catch (err) {
    ctx.log.failure('search', caller, principal, err);
    throw new CerbosApiError(13, 'Resources query plan request failed', 'engine.failed');
  }
  const filter = plan?.filter ?? { kind: 'KIND_ALWAYS_DENIED' as const };
  const ids = filter.kind === 'KIND_ALWAYS_DENIED' ? [] : filter.kind === 'KIND_CONDITIONAL' ? idsOf(filter.condition) : undefined;
  ctx.log.emit({
    event: 'search',
    api: 'authzen',
    effect: filter.kind === 'KIND_ALWAYS_ALLOWED' ? 'allow' : filter.kind === 'KIND_ALWAYS_DENIED' ? 'deny' : 'conditional',
    ...callerFields(caller, principal),
    action: e.action.name,
    resource: { kind },
    search: 'resource',
    ...(uncovered.size > 0 ? { policy: 'scope' } : {}),
    plan: { kind: filter.kind, filter: plan?.filterDebug ?? '(false)', rules: plan?.rules.map((x) => x.rule) ?? [] },
  });
  const results = (ids ?? []).map((id) => ({ type: kind, id }));
  return ids === undefined ? { results, context: { 'baton.complete': false, 'baton.plan': filter } } : { results };
}

/** Checks `actions` on one resource for one principal, in chunks of the request limit: the allowed ones. */
function allowedActions(ctx: CerbosApiContext, principal: ReturnType<typeof toPrincipal>, resource: ReturnType<typeof toResource>, actions: readonly string[]): string[] {
  const out: string[] = [];
  const step = ctx.limits.maxActionsPerResource;
  for (let i = 0; i < actions.length; i += step) {
    const chunk = actions.slice(i, i + step);
    const r = ctx.engine().check({ principal, resource, actions: chunk }, { now: new Date(ctx.now()) });
    for (const a of chunk) if (r.actions[a]?.effect === 'EFFECT_ALLOW') out.push(a);
  }
  return out;
}

/** POST /access/v1/search/action */
export async function searchAction(ctx: CerbosApiContext, catalog: PolicyCatalog, body: unknown, h: string | undefined): Promise<object> {
  // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
  const b = isObj(body) ? { __proto__: Object.prototype, ...body, action: { name: '\u0000' } } : body;
  const e = readEvaluation(b, h !== undefined && ctx.txn !== undefined);
  const { principal, caller } = await principalFrom(ctx, e.subject, h);
  const resource = toResource(e.resource);
  const candidates = catalog.actions(resource.kind);
  let allowed: string[];
  try {
    allowed = allowedActions(ctx, principal, resource, candidates);
  } catch (err) {
    ctx.log.failure('search', caller, principal, err);
    throw new CerbosApiError(13, 'Policy check failed', 'engine.failed');
  }
  if (caller !== undefined) {
    const uncovered = ctx.txn!.uncovered(caller, resource.kind, allowed);
    allowed = allowed.filter((a) => !uncovered.has(a));
  }
  ctx.log.emit({ event: 'search', api: 'authzen', effect: allowed.length > 0 ? 'allow' : 'deny', ...callerFields(caller, principal), resource: { kind: resource.kind, id: resource.id }, search: 'action', allowed });
  return { results: allowed.map((name) => ({ name })) };
}

/** POST /access/v1/search/subject */
export async function searchSubject(ctx: CerbosApiContext, catalog: PolicyCatalog, body: unknown, _h: string | undefined): Promise<object> {
  const e = readEvaluation(withIds(body, ['subject']), false);
  const type = e.subject!.type;
  const resource = toResource(e.resource);
  const action = e.action.name;
  const allowedFor = (id: string) => ctx.engine().check({ principal: { id, roles: [type], attr: e.subject!.properties }, resource, actions: [action] }, { now: new Date(ctx.now()) }).actions[action]?.effect === 'EFFECT_ALLOW';
  let ids: string[];
  let anyone: boolean;
  try {
    ids = catalog.principals().filter(allowedFor);
    anyone = allowedFor('\u0000');
  } catch (err) {
    ctx.log.failure('search', undefined, { id: '', roles: [type] }, err);
    throw new CerbosApiError(13, 'Policy check failed', 'engine.failed');
  }
  ctx.log.emit({ event: 'search', api: 'authzen', effect: ids.length > 0 || anyone ? 'allow' : 'deny', action, resource: { kind: resource.kind, id: resource.id }, search: 'subject', subjects: ids.length, complete: !anyone });
  const results = ids.map((id) => ({ type, id }));
  return anyone ? { results, context: { 'baton.complete': false } } : { results };
}
