// A plan as a parameterised SQL WHERE clause (PostgreSQL, `$n` placeholders as `pg` and Kysely's `sql` expect).
// Values are always parameters, never spliced into the text; columns come only from the caller's field map and are
// quoted. The translation keeps the plan's meaning with CEL's semantics, where a condition that fails to evaluate
// (an absent attribute, a wrong type) becomes SQL NULL: AND/OR/NOT are three-valued in both, so a row is returned
// exactly when the plan holds for it, given the row as a resource whose attributes are its non-NULL columns
// (a NULL column is an absent attribute). What cannot be written in SQL throws PlanSqlError naming it; the caller must
// then not run the query (fail closed).
import type { JsonValue, PlanFilter, PlanOperand } from './types.js';

export type SqlType = 'text' | 'number' | 'boolean' | 'timestamp' | 'text[]' | 'number[]' | 'boolean[]';

export interface SqlColumn {
  /** Column name, optionally qualified (`t.owner`); each part is quoted. */
  column: string;
  type: SqlType;
}

export interface SqlOptions {
  /**
   * Filter variable -> column, e.g. `{ 'request.resource.attr.owner': { column: 'owner', type: 'text' },
   * 'request.resource.id': { column: 'id', type: 'text' } }`.
   */
  fields: Readonly<Record<string, SqlColumn>>;
  /** Number of the first placeholder (default 1, `$1`): for a clause appended to a query that has parameters already. */
  firstParam?: number;
}

export interface SqlWhere {
  /** A boolean SQL expression: `TRUE`, `FALSE` or the condition. */
  sql: string;
  params: unknown[];
}

export class PlanSqlError extends Error {
  override readonly name = 'PlanSqlError';
  readonly code = 'plan_not_expressible';
}

/** An operand in SQL: a boolean expression, a typed value expression, a constant, or something that always fails. */
type Term =
  | { k: 'bool'; sql: string }
  | { k: 'col'; sql: string; type: SqlType }
  | { k: 'const'; v: JsonValue }
  | { k: 'fail' };

const NULL_BOOL = 'NULL::boolean';

function quoteIdent(name: string): string {
  return name
    .split('.')
    .map((p) => {
      if (p.length === 0) throw new PlanSqlError(`invalid column name ${JSON.stringify(name)}`);
      return `"${p.replace(/"/g, '""')}"`;
    })
    .join('.');
}

/** The SQL type of a constant, when it fits one (timestamps arrive as `timestamp("...")` expressions). */
function typeOf(v: JsonValue): SqlType | 'null' | undefined {
  if (v === null) return 'null';
  if (typeof v === 'string') return 'text';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) {
    const t = v.map(typeOf);
    if (t.length > 0 && t.every((x) => x === t[0]) && (t[0] === 'text' || t[0] === 'number' || t[0] === 'boolean')) return `${t[0]}[]` as SqlType;
    return undefined;
  }
  return undefined;
}

const isArrayType = (t: SqlType) => t.endsWith('[]');
const elementType = (t: SqlType): SqlType => t.slice(0, -2) as SqlType;
/** `a IS NULL` -> NULL, else `when`: what CEL gives for a comparison that is false (or true) whenever it evaluates. */
const whenPresent = (sqls: string[], when: 'TRUE' | 'FALSE') => `(CASE WHEN ${sqls.map((s) => `${s} IS NULL`).join(' OR ')} THEN NULL ELSE ${when} END)`;

class Builder {
  readonly params: unknown[] = [];
  constructor(private readonly opts: SqlOptions) {}

  param(v: unknown): string {
    this.params.push(v);
    return `$${(this.opts.firstParam ?? 1) + this.params.length - 1}`;
  }

  term(o: PlanOperand): Term {
    if ('value' in o) return { k: 'const', v: o.value };
    if ('variable' in o) {
      const f = Object.hasOwn(this.opts.fields, o.variable) ? this.opts.fields[o.variable] : undefined;
      if (f) return { k: 'col', sql: quoteIdent(f.column), type: f.type };
      // left in a plan only because it fails to evaluate (a missing principal attribute, an unknown variable)
      if (/^(request\.principal|request\.aux_?[dD]ata|variables|constants|globals)\./.test(o.variable)) return { k: 'fail' };
      throw new PlanSqlError(`no column for ${o.variable} in the field map`);
    }
    const { operator } = o.expression;
    const args = o.expression.operands ?? [];
    switch (operator) {
      case 'and':
      case 'or': {
        if (args.length === 0) return { k: 'bool', sql: operator === 'and' ? 'TRUE' : 'FALSE' };
        return { k: 'bool', sql: `(${args.map((a) => this.bool(a)).join(operator === 'and' ? ' AND ' : ' OR ')})` };
      }
      case 'not':
        return { k: 'bool', sql: `(NOT ${this.bool(args[0]!)})` };
      case 'eq':
      case 'ne':
      case 'lt':
      case 'le':
      case 'gt':
      case 'ge':
        return { k: 'bool', sql: this.compare(operator, this.term(args[0]!), this.term(args[1]!)) };
      case 'in':
        return { k: 'bool', sql: this.membership(this.term(args[0]!), this.term(args[1]!)) };
      case 'startsWith':
      case 'endsWith':
      case 'contains':
        return { k: 'bool', sql: this.stringTest(operator, this.term(args[0]!), this.term(args[1]!)) };
      case 'hasIntersection':
        return { k: 'bool', sql: this.intersects(this.term(args[0]!), this.term(args[1]!)) };
      case 'index':
        return this.lookup(args[0]!, this.term(args[1]!));
      case 'timestamp': {
        const a = args[0];
        if (a && 'value' in a && typeof a.value === 'string' && !Number.isNaN(Date.parse(a.value))) return { k: 'col', sql: `${this.param(a.value)}::timestamptz`, type: 'timestamp' };
        break;
      }
    }
    throw new PlanSqlError(`the operator ${JSON.stringify(operator)} has no SQL translation here`);
  }

  bool(o: PlanOperand): string {
    const t = this.term(o);
    if (t.k === 'bool') return t.sql;
    if (t.k === 'fail') return NULL_BOOL;
    if (t.k === 'const') return t.v === true ? 'TRUE' : t.v === false ? 'FALSE' : NULL_BOOL; // a non-boolean condition fails
    return t.type === 'boolean' ? t.sql : NULL_BOOL; // a non-boolean attribute as a condition fails to evaluate
  }

  private compare(op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Term, b: Term): string {
    if (a.k === 'fail' || b.k === 'fail') return NULL_BOOL;
    if (a.k === 'bool' || b.k === 'bool') throw new PlanSqlError(`comparing a condition with ${op} has no SQL translation here`);
    if (a.k === 'const' && b.k === 'const') throw new PlanSqlError('a comparison of two constants in a plan');
    if (a.k === 'const') return this.compare(flip(op), b, a);
    const ordering = op !== 'eq' && op !== 'ne';
    const sqlOp = { eq: '=', ne: '<>', lt: '<', le: '<=', gt: '>', ge: '>=' }[op];
    if (b.k === 'col') {
      if (a.type !== b.type) return ordering ? NULL_BOOL : whenPresent([a.sql, b.sql], op === 'eq' ? 'FALSE' : 'TRUE');
      if (ordering && isArrayType(a.type)) return NULL_BOOL;
      return `(${a.sql} ${collate(a.type, ordering)}${sqlOp} ${b.sql}${collate(a.type, ordering)})`;
    }
    // an empty list has the type of any list
    const vt = Array.isArray(b.v) && b.v.length === 0 && isArrayType(a.type) ? a.type : typeOf(b.v);
    // CEL: a value of another type is never equal (and ordering across types, or with null, is an error)
    if (vt !== a.type) {
      if (ordering) return NULL_BOOL;
      return whenPresent([a.sql], op === 'eq' ? 'FALSE' : 'TRUE');
    }
    if (ordering && isArrayType(a.type)) return NULL_BOOL;
    return `(${a.sql}${collate(a.type, ordering)} ${sqlOp} ${this.param(b.v)})`;
  }

  private membership(x: Term, c: Term): string {
    if (x.k === 'fail' || c.k === 'fail') return NULL_BOOL;
    if (x.k === 'bool' || c.k === 'bool') throw new PlanSqlError('`in` over a condition has no SQL translation here');
    if (c.k === 'const') {
      if (x.k !== 'col') throw new PlanSqlError('`in` of two constants in a plan');
      if (!Array.isArray(c.v)) throw new PlanSqlError('`in` over a constant that is not a list');
      const same = c.v.filter((v) => typeOf(v) === x.type);
      if (same.length === 0) return whenPresent([x.sql], 'FALSE');
      return `(${x.sql} = ANY(${this.param(same)}))`;
    }
    if (!isArrayType(c.type)) throw new PlanSqlError(`\`in\` over a ${c.type} column has no SQL translation here`);
    const el = elementType(c.type);
    if (x.k === 'const') {
      if (typeOf(x.v) !== el) return whenPresent([c.sql], 'FALSE');
      return `(${this.param(x.v)} = ANY(${c.sql}))`;
    }
    if (x.type !== el) return whenPresent([x.sql, c.sql], 'FALSE');
    return `(${x.sql} = ANY(${c.sql}))`;
  }

  private stringTest(op: 'startsWith' | 'endsWith' | 'contains', s: Term, p: Term): string {
    if (s.k === 'fail' || p.k === 'fail') return NULL_BOOL;
    if (s.k !== 'col' || p.k !== 'const') throw new PlanSqlError(`${op} needs a column and a constant`);
    if (s.type !== 'text' || typeof p.v !== 'string') return NULL_BOOL; // no such overload: an error in CEL
    const v = this.param(p.v);
    if (op === 'startsWith') return `starts_with(${s.sql}, ${v}::text)`;
    if (op === 'endsWith') return `(right(${s.sql}, char_length(${v}::text)) = ${v}::text)`;
    return `(strpos(${s.sql}, ${v}::text) > 0)`;
  }

  private intersects(a: Term, b: Term): string {
    if (a.k === 'fail' || b.k === 'fail') return NULL_BOOL;
    if (a.k === 'const') [a, b] = [b, a];
    if (a.k !== 'col' || !isArrayType(a.type)) throw new PlanSqlError('hasIntersection needs a list column');
    if (b.k === 'col') return b.type === a.type ? `(${a.sql} && ${b.sql})` : whenPresent([a.sql, b.sql], 'FALSE');
    if (b.k !== 'const' || !Array.isArray(b.v)) throw new PlanSqlError('hasIntersection needs a list');
    const same = b.v.filter((v) => typeOf(v) === elementType(a.type));
    if (same.length === 0) return whenPresent([a.sql], 'FALSE');
    return `(${a.sql} && ${this.param(same)})`;
  }

  /** `{k: v, ...}[column]`: the value for the column's key; NULL (an error in CEL) for a key the map does not have. */
  private lookup(mapOperand: PlanOperand, key: Term): Term {
    if (key.k === 'fail') return { k: 'fail' };
    const entries = structEntries(mapOperand);
    if (!entries || key.k !== 'col') throw new PlanSqlError('index has an SQL translation only for a constant map looked up by a column');
    const types = new Set(entries.map(([, v]) => typeOf(v)));
    const [t] = [...types];
    if (types.size !== 1 || t === undefined || t === 'null') throw new PlanSqlError('index over a map whose values are not all of one SQL type');
    const whens = entries.filter(([k]) => typeOf(k) === key.type).map(([k, v]) => `WHEN ${this.param(k)} THEN ${this.param(v)}${cast(t)}`);
    if (whens.length === 0) return { k: 'col', sql: `(CASE WHEN ${key.sql} IS NULL THEN NULL END)${cast(t)}`, type: t };
    return { k: 'col', sql: `(CASE ${key.sql} ${whens.join(' ')} END)`, type: t };
  }
}

const cast = (t: SqlType): string => ({ text: '::text', number: '::double precision', boolean: '::boolean', timestamp: '::timestamptz', 'text[]': '::text[]', 'number[]': '::double precision[]', 'boolean[]': '::boolean[]' })[t];
/** CEL orders strings by code point: the C collation does too. */
const collate = (t: SqlType, ordering: boolean): string => (ordering && t === 'text' ? ' COLLATE "C"' : '');
const flip = (op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge') => ({ eq: 'eq', ne: 'ne', lt: 'gt', le: 'ge', gt: 'lt', ge: 'le' } as const)[op];

function structEntries(o: PlanOperand): [JsonValue, JsonValue][] | undefined {
  if (!('expression' in o) || o.expression.operator !== 'struct') return undefined;
  const out: [JsonValue, JsonValue][] = [];
  for (const f of o.expression.operands ?? []) {
    if (!('expression' in f) || f.expression.operator !== 'set-field') return undefined;
    const [k, v] = f.expression.operands;
    if (!k || !v || !('value' in k) || !('value' in v)) return undefined;
    out.push([k.value, v.value]);
  }
  return out;
}

/**
 * The WHERE clause of a plan (a PlanResult, or Cerbos's `filter`): `TRUE` for ALWAYS_ALLOWED, `FALSE` for
 * ALWAYS_DENIED, else the condition with its values as parameters.
 */
export function planToSql(plan: { filter: PlanFilter } | PlanFilter, opts: SqlOptions): SqlWhere {
  const filter = 'filter' in plan ? plan.filter : plan;
  if (filter.kind === 'KIND_ALWAYS_ALLOWED') return { sql: 'TRUE', params: [] };
  if (filter.kind === 'KIND_ALWAYS_DENIED') return { sql: 'FALSE', params: [] };
  if (filter.kind !== 'KIND_CONDITIONAL' || !filter.condition) throw new PlanSqlError(`unknown filter kind ${String(filter.kind)}`);
  const b = new Builder(opts);
  const sql = b.bool(filter.condition);
  return { sql, params: b.params };
}
