/**
 * Reading AuthZEN 1.0 requests (Access Evaluation, Access Evaluations, Search) with the rules Cerbos 0.55 applies to
 * its AuthZEN endpoint: `type`/`id`/`name` required, property keys non-empty, unknown members refused. A subject may
 * be left out when a `Txn-Token` stands in for it. Refusals are `CerbosApiError`s (400), worded as Cerbos words them.
 */
import { protoError, validationError, violation, type FieldElement, type Violation } from './cerbos-errors.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface AzEntity {
  type: string;
  id: string;
  properties: Obj;
}
export interface AzAction {
  name: string;
  properties: Obj;
}

export interface AzEvaluation {
  subject: AzEntity | undefined;
  resource: AzEntity;
  action: AzAction;
  context: Obj;
}

export type Semantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit';

export interface AzBatch {
  /** each evaluation completed from the defaults (one, from the defaults alone, when `single`) */
  evaluations: AzEvaluation[];
  /** no `evaluations` array: the request is one evaluation and is answered as one (AuthZEN 1.0) */
  single: boolean;
  semantic: Semantic;
  /** the request-level context (the defaults' own) */
  context: Obj;
}

function members(v: unknown, allowed: readonly string[], what: string): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw protoError(`proto: syntax error: ${what}: expected an object`);
  let nulls = false;
  for (const k in v) {
    if (!allowed.includes(k)) throw protoError(`proto: unknown field ${JSON.stringify(k)}`);
    if (v[k] === null) nulls = true;
  }
  if (!nulls) return v; // the copy below would equal it
  const out: Obj = {};
  for (const k in v) {
    if (!allowed.includes(k)) throw protoError(`proto: unknown field ${JSON.stringify(k)}`);
    if (v[k] !== null) out[k] = v[k];
  }
  return out;
}

function str(v: unknown, field: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw protoError(`proto: invalid value for string field ${field}: ${JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

function props(v: unknown, field: string): Obj {
  if (v === undefined) return {};
  if (!isObj(v)) throw protoError(`proto: invalid value for map field ${field}`);
  return v;
}

const el = (fieldNumber: number, fieldName: string, fieldType: FieldElement['fieldType'], index?: number): FieldElement =>
  index === undefined ? { fieldNumber, fieldName, fieldType } : { fieldNumber, fieldName, fieldType, index: String(index) };

function keyCheck(p: Obj, at: FieldElement[], out: Violation[]): void {
  if ('' in p) {
    const last = at[at.length - 1]!;
    out.push(violation.keyMinLen([...at.slice(0, -1), { ...last, keyType: 'TYPE_STRING', valueType: 'TYPE_MESSAGE', stringKey: '' }]));
  }
}

const ENTITY_FIELDS = ['type', 'id', 'properties'];
const ACTION_FIELDS = ['name', 'properties'];

function entity(v: unknown, at: FieldElement[], out: Violation[], what: string): AzEntity {
  const m = members(v, ENTITY_FIELDS, what);
  const e = { type: str(m.type, 'type'), id: str(m.id, 'id'), properties: props(m.properties, 'properties') };
  if (e.type === '') out.push(violation.required([...at, el(1, 'type', 'TYPE_STRING')]));
  if (e.id === '') out.push(violation.required([...at, el(2, 'id', 'TYPE_STRING')]));
  if ('' in e.properties) keyCheck(e.properties, [...at, el(3, 'properties', 'TYPE_MESSAGE')], out);
  return e;
}

function action(v: unknown, at: FieldElement[], out: Violation[]): AzAction {
  const m = members(v, ACTION_FIELDS, 'action');
  const a = { name: str(m.name, 'name'), properties: props(m.properties, 'properties') };
  if (a.name === '') out.push(violation.required([...at, el(1, 'name', 'TYPE_STRING')]));
  if ('' in a.properties) keyCheck(a.properties, [...at, el(2, 'properties', 'TYPE_MESSAGE')], out);
  return a;
}

const EVALUATION_FIELDS = ['subject', 'resource', 'action', 'context'];
/** Paths of the request's members (prefixes: copied, never changed, by the violations built on them). */
const SUBJECT_AT = [el(1, 'subject', 'TYPE_MESSAGE')];
const RESOURCE_AT = [el(2, 'resource', 'TYPE_MESSAGE')];
const ACTION_AT = [el(3, 'action', 'TYPE_MESSAGE')];

/** POST /access/v1/evaluation. `subjectOptional`: a Txn-Token was sent. */
export function readEvaluation(body: unknown, subjectOptional: boolean): AzEvaluation {
  const m = members(body, EVALUATION_FIELDS, 'request');
  const out: Violation[] = [];
  let subject: AzEntity | undefined;
  if (m.subject !== undefined) subject = entity(m.subject, SUBJECT_AT, out, 'subject');
  else if (!subjectOptional) out.push(violation.required([el(1, 'subject', 'TYPE_MESSAGE')]));
  if (m.resource === undefined) out.push(violation.required([el(2, 'resource', 'TYPE_MESSAGE')]));
  const resource = entity(m.resource, RESOURCE_AT, m.resource === undefined ? [] : out, 'resource');
  if (m.action === undefined) out.push(violation.required([el(3, 'action', 'TYPE_MESSAGE')]));
  const act = action(m.action, ACTION_AT, m.action === undefined ? [] : out);
  const context = props(m.context, 'context');
  if ('' in context) keyCheck(context, [el(4, 'context', 'TYPE_MESSAGE')], out);
  if (out.length > 0) throw validationError(out);
  return { subject, resource, action: act, context };
}

const SEMANTICS = ['', 'execute_all', 'deny_on_first_deny', 'permit_on_first_permit'];

/**
 * POST /access/v1/evaluations: every evaluation completed from the request's defaults (subject, resource, action,
 * context). Without an `evaluations` array the request is one evaluation (AuthZEN 1.0; Cerbos 0.55 refuses it).
 */
export function readEvaluations(body: unknown, subjectOptional: boolean): AzBatch {
  const m = members(body, [...EVALUATION_FIELDS, 'evaluations', 'options'], 'request');
  const out: Violation[] = [];
  const subject = m.subject === undefined ? undefined : entity(m.subject, [el(1, 'subject', 'TYPE_MESSAGE')], out, 'subject');
  const resource = m.resource === undefined ? undefined : entity(m.resource, [el(2, 'resource', 'TYPE_MESSAGE')], out, 'resource');
  const act = m.action === undefined ? undefined : action(m.action, [el(3, 'action', 'TYPE_MESSAGE')], out);
  const context = props(m.context, 'context');
  keyCheck(context, [el(4, 'context', 'TYPE_MESSAGE')], out);
  const opts = members(m.options, ['evaluations_semantic', 'evaluationsSemantic'], 'options');
  const semantic = str(opts.evaluations_semantic ?? opts.evaluationsSemantic, 'evaluations_semantic');
  if (!SEMANTICS.includes(semantic))
    out.push({
      field: { elements: [el(6, 'options', 'TYPE_MESSAGE'), el(1, 'evaluations_semantic', 'TYPE_STRING')] },
      rule: { elements: [{ fieldNumber: 14, fieldName: 'string', fieldType: 'TYPE_MESSAGE' }, { fieldNumber: 10, fieldName: 'in', fieldType: 'TYPE_STRING' }] },
      ruleId: 'string.in',
      message: 'must be in list [, execute_all, deny_on_first_deny, permit_on_first_permit]',
    });
  if (m.evaluations !== undefined && !Array.isArray(m.evaluations)) throw protoError('proto: invalid value for repeated field evaluations');
  const raw = m.evaluations as unknown[] | undefined;
  const list = raw === undefined || raw.length === 0 ? undefined : raw;
  const evaluations = list?.map((e, i) => {
    const at = el(5, 'evaluations', 'TYPE_MESSAGE', i);
    const x = members(e, EVALUATION_FIELDS, 'evaluation');
    const ctx = x.context === undefined ? undefined : props(x.context, 'context');
    if (ctx !== undefined) keyCheck(ctx, [at, el(4, 'context', 'TYPE_MESSAGE')], out);
    return {
      subject: x.subject === undefined ? subject : entity(x.subject, [at, el(1, 'subject', 'TYPE_MESSAGE')], out, 'subject'),
      resource: x.resource === undefined ? resource : entity(x.resource, [at, el(2, 'resource', 'TYPE_MESSAGE')], out, 'resource'),
      action: x.action === undefined ? act : action(x.action, [at, el(3, 'action', 'TYPE_MESSAGE')], out),
      context: ctx !== undefined && Object.keys(ctx).length > 0 ? ctx : context,
    };
  });
  const all = evaluations ?? [{ subject, resource, action: act, context }];
  if (all.some((e) => e.action === undefined)) out.push(violation.message('actions', 'either the default action must be set or all evaluations must have an action'));
  if (!subjectOptional && all.some((e) => e.subject === undefined))
    out.push(violation.message('subjects', 'either the default subject must be set or all evaluations must have a subject'));
  if (all.some((e) => e.resource === undefined)) out.push(violation.message('resources', 'either the default resource must be set or all evaluations must have a resource'));
  if (out.length > 0) throw validationError(out);
  return { evaluations: all as AzEvaluation[], single: evaluations === undefined, semantic: (semantic || 'execute_all') as Semantic, context };
}
