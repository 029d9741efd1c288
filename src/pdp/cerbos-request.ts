/**
 * Reading Cerbos's CheckResources and PlanResources requests as Cerbos does: protojson (JSON names or proto names,
 * unknown fields and wrong types refused, `null` = unset), then protovalidate's rules in field-number order, then the
 * request limits. Every refusal is a `CerbosApiError` worded as Cerbos words it.
 */
import type { AuxData, Principal, Resource } from '../policy/index.js';
import { protoError, validationError, violation, type FieldElement, type Violation } from './cerbos-errors.js';

export interface RequestLimits {
  maxActionsPerResource: number;
  maxResourcesPerRequest: number;
}

/** `auxData.jwt` as sent: the token and the key set it is verified with. */
export interface AuxJwtInput {
  token: string;
  keySetId: string;
}

/** `auxData` as sent: one JWT (`jwt`) and/or several by name (`jwts`). */
export interface AuxInput {
  jwt?: AuxJwtInput | undefined;
  jwts?: Record<string, AuxJwtInput> | undefined;
}

export interface CheckRequest {
  requestId: string;
  includeMeta: boolean;
  /** undefined: no principal given (a Txn-Token may stand in) */
  principal: Principal | undefined;
  resources: { actions: string[]; resource: Resource }[];
  auxJwt: AuxInput | undefined;
}

export interface PlanRequest {
  requestId: string;
  includeMeta: boolean;
  /** the deprecated single `action`, when that is what was sent */
  action: string | undefined;
  actions: string[];
  principal: Principal | undefined;
  resource: { kind: string; policyVersion: string; scope: string; attr: Record<string, unknown> };
  auxJwt: AuxInput | undefined;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const VERSION_PATTERN = '^[\\w]*$';
const VERSION_RE = /^[\w]*$/;
const SCOPE_PATTERN = '^(^$|\\.|[0-9a-zA-Z][\\w\\-]*(\\.\\w[\\w\\-]*)*)$';
const SCOPE_RE = /^(^$|\.|[0-9a-zA-Z][\w-]*(\.\w[\w-]*)*)$/;

/** The members of a message by JSON name, proto names accepted; unknown members refused as protojson refuses them. */
function members(v: unknown, fields: Record<string, string>, what: string): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw protoError(`proto: syntax error: ${what}: expected an object`);
  let canonical = true;
  for (const k in v)
    if (fields[k] !== k || v[k] === null) {
      canonical = false;
      break;
    }
  if (canonical) return v; // every member under its JSON name, none null: the copy below would equal it
  const out: Obj = {};
  for (const k in v) {
    const name = fields[k];
    if (name === undefined) throw protoError(`proto: unknown field ${JSON.stringify(k)}`);
    if (out[name] !== undefined && v[k] !== null) throw protoError(`proto: duplicate field ${JSON.stringify(k)}`);
    if (v[k] !== null) out[name] = v[k];
  }
  return out;
}

function str(v: unknown, field: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw protoError(`proto: invalid value for string field ${field}: ${JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw protoError(`proto: invalid value for bool field ${field}: ${JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

function strList(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw protoError(`proto: invalid value for string field ${field}: ${JSON.stringify(v)?.slice(0, 40)}`);
  for (const x of v) if (typeof x !== 'string') return v.map((y) => str(y, field)); // refuses the first that is not
  return v as string[]; // the body's own array (a fresh parse, read by this request only): no copy
}

function struct(v: unknown, field: string): Obj {
  if (v === undefined) return {};
  if (!isObj(v)) throw protoError(`proto: invalid value for map field ${field}`);
  return v;
}

const el = (fieldNumber: number, fieldName: string, fieldType: FieldElement['fieldType'], index?: number): FieldElement =>
  index === undefined ? { fieldNumber, fieldName, fieldType } : { fieldNumber, fieldName, fieldType, index: String(index) };

/** No violation for `checkStrings` to report (checked without building a path: the common case). */
function stringsOk(items: readonly string[], required: boolean): boolean {
  const n = items.length;
  if (n === 0) return !required;
  for (let i = 0; i < n; i++) {
    if (items[i] === '') return false;
    if (n <= 16) for (let j = 0; j < i; j++) if (items[j] === items[i]) return false;
  }
  return n <= 16 || new Set(items).size === n;
}

/** repeated string with `required`/min_items, unique, items min_len 1 (roles, actions). */
function checkStrings(items: readonly string[], at: FieldElement[], required: boolean, out: Violation[]): void {
  if (items.length === 0) {
    if (required) out.push(violation.required(at));
    return;
  }
  const last = at[at.length - 1]!;
  items.forEach((s, i) => {
    if (s === '') out.push(violation.itemMinLen([...at.slice(0, -1), { ...last, index: String(i) }]));
  });
  if (new Set(items).size !== items.length) out.push(violation.unique(at));
}

function checkAttr(attr: Obj, at: FieldElement[], out: Violation[]): void {
  if ('' in attr) {
    const last = at[at.length - 1]!;
    out.push(violation.keyMinLen([...at.slice(0, -1), { ...last, keyType: 'TYPE_STRING', valueType: 'TYPE_MESSAGE', stringKey: '' }]));
  }
}

const PRINCIPAL_FIELDS = { id: 'id', policyVersion: 'policyVersion', policy_version: 'policyVersion', roles: 'roles', attr: 'attr', scope: 'scope' };

function readPrincipal(v: unknown, at: FieldElement[], out: Violation[]): Principal {
  const m = members(v, PRINCIPAL_FIELDS, 'principal');
  const id = str(m.id, 'id');
  const policyVersion = str(m.policyVersion, 'policy_version');
  const roles = strList(m.roles, 'roles');
  const attr = struct(m.attr, 'attr');
  const scope = str(m.scope, 'scope');
  if (id === '') out.push(violation.required([...at, el(1, 'id', 'TYPE_STRING')]));
  if (!VERSION_RE.test(policyVersion)) out.push(violation.pattern([...at, el(2, 'policy_version', 'TYPE_STRING')], VERSION_PATTERN));
  if (!stringsOk(roles, true)) checkStrings(roles, [...at, el(3, 'roles', 'TYPE_STRING')], true, out);
  if ('' in attr) checkAttr(attr, [...at, el(4, 'attr', 'TYPE_MESSAGE')], out);
  if (!SCOPE_RE.test(scope)) out.push(violation.pattern([...at, el(5, 'scope', 'TYPE_STRING')], SCOPE_PATTERN));
  return { id, roles, attr, policyVersion, scope: scope === '.' ? '' : scope };
}

const RESOURCE_FIELDS = { kind: 'kind', policyVersion: 'policyVersion', policy_version: 'policyVersion', id: 'id', attr: 'attr', scope: 'scope' };

/** `at`: the resource's path, built only when there is a violation to report. */
function readResource(v: unknown, at: () => FieldElement[], out: Violation[]): Resource {
  const m = members(v, RESOURCE_FIELDS, 'resource');
  const kind = str(m.kind, 'kind');
  const policyVersion = str(m.policyVersion, 'policy_version');
  const id = str(m.id, 'id');
  const attr = struct(m.attr, 'attr');
  const scope = str(m.scope, 'scope');
  if (kind === '') out.push(violation.required([...at(), el(1, 'kind', 'TYPE_STRING')]));
  if (!VERSION_RE.test(policyVersion)) out.push(violation.pattern([...at(), el(2, 'policy_version', 'TYPE_STRING')], VERSION_PATTERN));
  if (id === '') out.push(violation.required([...at(), el(3, 'id', 'TYPE_STRING')]));
  if ('' in attr) checkAttr(attr, [...at(), el(4, 'attr', 'TYPE_MESSAGE')], out);
  if (!SCOPE_RE.test(scope)) out.push(violation.pattern([...at(), el(5, 'scope', 'TYPE_STRING')], SCOPE_PATTERN));
  return { kind, id, attr, policyVersion, scope: scope === '.' ? '' : scope };
}

function readJwt(v: unknown, what: string): AuxJwtInput | undefined {
  const jwt = members(v, { token: 'token', keySetId: 'keySetId', key_set_id: 'keySetId' }, what);
  const token = str(jwt.token, 'token');
  return token === '' ? undefined : { token, keySetId: str(jwt.keySetId, 'key_set_id') };
}

function readAuxJwt(v: unknown): AuxInput | undefined {
  const aux = members(v, { jwt: 'jwt', jwts: 'jwts' }, 'auxData');
  const jwt = aux.jwt === undefined ? undefined : readJwt(aux.jwt, 'auxData.jwt');
  let jwts: Record<string, AuxJwtInput> | undefined;
  if (aux.jwts !== undefined) {
    if (!isObj(aux.jwts)) throw protoError('proto: invalid value for map field jwts');
    for (const [name, t] of Object.entries(aux.jwts)) {
      const read = readJwt(t, `auxData.jwts.${name}`);
      if (read !== undefined) (jwts ??= {})[name] = read;
    }
  }
  return jwt === undefined && jwts === undefined ? undefined : { ...(jwt !== undefined ? { jwt } : {}), ...(jwts !== undefined ? { jwts } : {}) };
}

/** The path of the request's principal (a prefix: copied, never changed, by the violations built on it). */
const PRINCIPAL_AT: FieldElement[] = [el(3, 'principal', 'TYPE_MESSAGE')];
const ENTRY_FIELDS = { actions: 'actions', resource: 'resource' };

const CHECK_FIELDS = {
  requestId: 'requestId',
  request_id: 'requestId',
  includeMeta: 'includeMeta',
  include_meta: 'includeMeta',
  principal: 'principal',
  resources: 'resources',
  auxData: 'auxData',
  aux_data: 'auxData',
  requestContext: 'requestContext',
  request_context: 'requestContext',
};

/**
 * A CheckResources request. `principalOptional`: a missing principal is not a violation (a Txn-Token stands in);
 * the caller decides what an absent principal means.
 */
export function readCheckRequest(body: unknown, limits: RequestLimits, principalOptional: boolean): CheckRequest {
  const m = members(body, CHECK_FIELDS, 'request');
  const out: Violation[] = [];
  const requestId = str(m.requestId, 'request_id');
  const includeMeta = bool(m.includeMeta, 'include_meta');
  const principal = m.principal === undefined ? undefined : readPrincipal(m.principal, PRINCIPAL_AT, out);
  if (principal === undefined && !principalOptional) out.push(violation.required([el(3, 'principal', 'TYPE_MESSAGE')]));
  if (m.resources !== undefined && !Array.isArray(m.resources)) throw protoError('proto: invalid value for repeated field resources');
  const list = (m.resources as unknown[] | undefined) ?? [];
  if (list.length === 0) out.push(violation.required([el(4, 'resources', 'TYPE_MESSAGE')]));
  const resources = list.map((entry, i) => {
    const at = () => el(4, 'resources', 'TYPE_MESSAGE', i);
    const e = members(entry, ENTRY_FIELDS, 'resources');
    const actions = strList(e.actions, 'actions');
    if (!stringsOk(actions, true)) checkStrings(actions, [at(), el(1, 'actions', 'TYPE_STRING')], true, out);
    if (e.resource === undefined) out.push(violation.required([at(), el(2, 'resource', 'TYPE_MESSAGE')]));
    const resource = e.resource === undefined ? { kind: '', id: '' } : readResource(e.resource, () => [at(), el(2, 'resource', 'TYPE_MESSAGE')], out);
    return { actions, resource };
  });
  const auxJwt = readAuxJwt(m.auxData);
  if (out.length > 0) throw validationError(out);
  if (resources.length > limits.maxResourcesPerRequest)
    throw protoLimit(`number of resources in batch (${resources.length}) exceeds configured limit (${limits.maxResourcesPerRequest})`);
  for (const r of resources)
    if (r.actions.length > limits.maxActionsPerResource) throw protoLimit(`number of actions (${r.actions.length}) exceeds configured limit (${limits.maxActionsPerResource})`);
  return { requestId, includeMeta, principal, resources, auxJwt };
}

function protoLimit(message: string) {
  const e = protoError(message);
  return Object.assign(e, { reason: 'request.too_large' });
}

const PLAN_FIELDS = {
  ...CHECK_FIELDS,
  action: 'action',
  actions: 'actions',
  resource: 'resource',
};
const PLAN_RESOURCE_FIELDS = { kind: 'kind', policyVersion: 'policyVersion', policy_version: 'policyVersion', attr: 'attr', scope: 'scope' };

/** A PlanResources request (one of `action` and `actions`, as Cerbos's message rule says). */
export function readPlanRequest(body: unknown, principalOptional: boolean): PlanRequest {
  const m = members(body, PLAN_FIELDS, 'request');
  if (m.resources !== undefined) throw protoError('proto: unknown field "resources"');
  const out: Violation[] = [];
  const requestId = str(m.requestId, 'request_id');
  const includeMeta = bool(m.includeMeta, 'include_meta');
  const action = str(m.action, 'action');
  const actions = strList(m.actions, 'actions');
  if (!((action !== '' && actions.length === 0) || (action === '' && actions.length > 0)))
    out.push(violation.message('exclusiveFieldsActionOrActions', "Exactly one of 'action' or 'actions' field must be set"));
  const actionsAt = [el(7, 'actions', 'TYPE_STRING')];
  if (actions.length > 20) out.push(violation.maxItems(actionsAt, 20));
  if (actions.length > 0) checkStrings(actions, actionsAt, false, out);
  const principal = m.principal === undefined ? undefined : readPrincipal(m.principal, PRINCIPAL_AT, out);
  if (principal === undefined && !principalOptional) out.push(violation.required([el(3, 'principal', 'TYPE_MESSAGE')]));
  const at = el(4, 'resource', 'TYPE_MESSAGE');
  const r = members(m.resource, PLAN_RESOURCE_FIELDS, 'resource');
  const resource = { kind: str(r.kind, 'kind'), policyVersion: str(r.policyVersion, 'policy_version'), attr: struct(r.attr, 'attr'), scope: str(r.scope, 'scope') };
  if (m.resource === undefined) out.push(violation.required([at]));
  else {
    if (resource.kind === '') out.push(violation.required([at, el(1, 'kind', 'TYPE_STRING')]));
    if (!VERSION_RE.test(resource.policyVersion)) out.push(violation.pattern([at, el(2, 'policy_version', 'TYPE_STRING')], VERSION_PATTERN));
    checkAttr(resource.attr, [at, el(3, 'attr', 'TYPE_MESSAGE')], out);
    if (!SCOPE_RE.test(resource.scope)) out.push(violation.pattern([at, el(4, 'scope', 'TYPE_STRING')], SCOPE_PATTERN));
  }
  if (resource.scope === '.') resource.scope = '';
  const auxJwt = readAuxJwt(m.auxData);
  if (out.length > 0) throw validationError(out);
  return { requestId, includeMeta, action: action === '' ? undefined : action, actions: action === '' ? actions : [action], principal, resource, auxJwt };
}

/** The auxData a check sees from verified (or, when configured, decoded) JWT claims. */
export function auxDataOf(claims: Record<string, unknown> | undefined): AuxData | undefined {
  return claims === undefined ? undefined : { jwt: claims };
}
