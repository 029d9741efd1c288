/**
 * Cerbos's error answers, as its HTTP gateway writes them: `{ code, message, details }` with the gRPC status code
 * (3 = InvalidArgument → HTTP 400, ...). Request validation failures carry `buf.validate.Violations` details built
 * from the request's field numbers, so that a client reading them sees what Cerbos would send.
 */

/** A path element of a violation: the field, its number and type, and the index or map key when there is one. */
export interface FieldElement {
  fieldNumber: number;
  fieldName: string;
  fieldType: 'TYPE_MESSAGE' | 'TYPE_STRING' | 'TYPE_BOOL';
  index?: string;
  keyType?: 'TYPE_STRING';
  valueType?: 'TYPE_MESSAGE';
  stringKey?: string;
}

interface RuleElement {
  fieldNumber: number;
  fieldName: string;
  fieldType: 'TYPE_MESSAGE' | 'TYPE_BOOL' | 'TYPE_STRING' | 'TYPE_UINT64';
}

export interface Violation {
  field?: { elements: FieldElement[] };
  rule?: { elements: RuleElement[] };
  ruleId: string;
  message: string;
  forKey?: boolean;
}

const R = {
  required: { fieldNumber: 25, fieldName: 'required', fieldType: 'TYPE_BOOL' },
  repeated: { fieldNumber: 18, fieldName: 'repeated', fieldType: 'TYPE_MESSAGE' },
  unique: { fieldNumber: 3, fieldName: 'unique', fieldType: 'TYPE_BOOL' },
  items: { fieldNumber: 4, fieldName: 'items', fieldType: 'TYPE_MESSAGE' },
  maxItems: { fieldNumber: 2, fieldName: 'max_items', fieldType: 'TYPE_UINT64' },
  map: { fieldNumber: 19, fieldName: 'map', fieldType: 'TYPE_MESSAGE' },
  keys: { fieldNumber: 4, fieldName: 'keys', fieldType: 'TYPE_MESSAGE' },
  string: { fieldNumber: 14, fieldName: 'string', fieldType: 'TYPE_MESSAGE' },
  minLen: { fieldNumber: 2, fieldName: 'min_len', fieldType: 'TYPE_UINT64' },
  pattern: { fieldNumber: 6, fieldName: 'pattern', fieldType: 'TYPE_STRING' },
} as const satisfies Record<string, RuleElement>;

/** The violations protovalidate reports for Cerbos's request messages. */
export const violation = {
  required: (path: FieldElement[]): Violation => ({ field: { elements: path }, rule: { elements: [R.required] }, ruleId: 'required', message: 'value is required' }),
  unique: (path: FieldElement[]): Violation => ({
    field: { elements: path },
    rule: { elements: [R.repeated, R.unique] },
    ruleId: 'repeated.unique',
    message: 'repeated value must contain unique items',
  }),
  maxItems: (path: FieldElement[], max: number): Violation => ({
    field: { elements: path },
    rule: { elements: [R.repeated, R.maxItems] },
    ruleId: 'repeated.max_items',
    message: `value must contain no more than ${max} item(s)`,
  }),
  itemMinLen: (path: FieldElement[]): Violation => ({
    field: { elements: path },
    rule: { elements: [R.repeated, R.items, R.string, R.minLen] },
    ruleId: 'string.min_len',
    message: 'must be at least 1 characters',
  }),
  keyMinLen: (path: FieldElement[]): Violation => ({
    field: { elements: path },
    rule: { elements: [R.map, R.keys, R.string, R.minLen] },
    ruleId: 'string.min_len',
    message: 'must be at least 1 characters',
    forKey: true,
  }),
  pattern: (path: FieldElement[], pattern: string): Violation => ({
    field: { elements: path },
    rule: { elements: [R.string, R.pattern] },
    ruleId: 'string.pattern',
    message: `does not match regex pattern \`${pattern}\``,
  }),
  message: (ruleId: string, message: string): Violation => ({ ruleId, message }),
};

/** How protovalidate names a field path: `resources[0].resource.policy_version`, `principal.attr[""]`. */
export function pathText(path: readonly FieldElement[]): string {
  let out = '';
  for (const e of path) {
    out += out === '' ? e.fieldName : `.${e.fieldName}`;
    if (e.index !== undefined) out += `[${e.index}]`;
    if (e.stringKey !== undefined) out += `[${JSON.stringify(e.stringKey)}]`;
  }
  return out;
}

const HTTP_OF_CODE: Record<number, number> = { 3: 400, 8: 413, 5: 404, 9: 400, 12: 501, 13: 500, 16: 401, 7: 403 };

/** An error answer in Cerbos's shape. `code` is the gRPC status code; the HTTP status follows from it. */
export class CerbosApiError extends Error {
  readonly code: number;
  readonly status: number;
  readonly details: readonly object[] | undefined;
  /** a stable reason code for the decision log (never in the answer) */
  readonly reason: string;
  constructor(code: number, message: string, reason: string, details?: readonly object[]) {
    super(message);
    this.name = 'CerbosApiError';
    this.code = code;
    this.status = HTTP_OF_CODE[code] ?? 500;
    this.details = details;
    this.reason = reason;
  }
  toJSON(): { code: number; message: string; details?: readonly object[] } {
    return { code: this.code, message: this.message, ...(this.details !== undefined ? { details: this.details } : {}) };
  }
}

/** 400 InvalidArgument with the violations, worded as Cerbos words them. */
export function validationError(violations: readonly Violation[]): CerbosApiError {
  const line = (v: Violation) => (v.field === undefined ? v.message : `${pathText(v.field.elements)}: ${v.message}`);
  const message = violations.length === 1 ? `validation error: ${line(violations[0]!)}` : `validation errors:\n${violations.map((v) => ` - ${line(v)}`).join('\n')}`;
  return new CerbosApiError(3, message, 'request.invalid', [{ '@type': 'type.googleapis.com/buf.validate.Violations', violations }]);
}

/** 400 InvalidArgument for a body that is not the request message (bad JSON, unknown field, wrong type). */
export function protoError(message: string): CerbosApiError {
  return new CerbosApiError(3, message, 'request.malformed');
}
