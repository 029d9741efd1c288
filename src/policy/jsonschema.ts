// A small JSON Schema (draft 2020-12) validator for Cerbos's `schemas.principalSchema/resourceSchema`: the schema files
// of a policy directory's `_schemas/` folder, named `cerbos:///NAME`. No eval or generated code (it runs on Workers).
// Errors are worded as Cerbos 0.55 words them (its validator is santhosh-tekuri/jsonschema v5): one error per failing
// leaf keyword, with the instance location as a JSON pointer ("/" for the root). Where Cerbos's order depends on Go's
// map order (several properties failing at once, the names of additionalProperties), Baton's is the properties' name
// order (schema properties), or the attributes' order (additional ones).
// Keywords Cerbos would enforce but this validator does not (unevaluated*, $dynamicRef, content*, uri-like formats) and
// `$schema` drafts other than 2020-12 are refused when the schema compiles: fail closed, never silently ignored.

export interface SchemaLeafError {
  /** Instance location (JSON pointer, `/` for the whole value). */
  path: string;
  message: string;
  /** The failing keyword (`required`, `enum`, ...): the planner ignores a resource's `required` errors, as Cerbos does. */
  keyword: string;
}

export class JsonSchemaError extends Error {
  override readonly name = 'JsonSchemaError';
}

import { FORMATS, goFloat, goLiteral, goValue, isMultiple, isNonNegInt, isObj, jsonEquals, jsonType, pointerToken, sq, UNSUPPORTED_FORMATS } from './jsonschema-go.js';
import { toRegExp } from './cel/env.js';

export { goFloat, goQuote, jsonEquals, pointerToken } from './jsonschema-go.js';

type Json = unknown;
type Obj = Record<string, Json>;
type Check = (v: Json, loc: string, out: SchemaLeafError[], depth: number) => void;

/** A compiled schema: `validate` appends the leaf errors of `v` (none: valid). */
export interface CompiledSchema {
  validate(v: Json, loc: string, out: SchemaLeafError[], depth: number): void;
}

const DRAFT_2020 = /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/;
/** Keywords Cerbos's validator enforces in 2020-12 that this one does not: a schema using them does not load. */
const REFUSED = ['unevaluatedProperties', 'unevaluatedItems', '$dynamicRef', '$dynamicAnchor', '$recursiveRef', '$recursiveAnchor', '$anchor', '$vocabulary', 'contentEncoding', 'contentMediaType', 'contentSchema'];
const TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'string', 'integer']);
const MAX_DEPTH = 256;

/** Validation went deeper than MAX_DEPTH (references looping without reading into the value): caught by `compile`'s schema only. */
class SchemaLoop {
  constructor(readonly path: string) {}
}
const has = (o: Obj, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

// ------------------------------------------------------------------------------------------ compiling

interface Doc {
  url: string;
  root: Json;
}

/**
 * Compiles the schemas of one policy directory (files by name, as under `_schemas/`). `compile('cerbos:///NAME')`
 * returns the compiled schema or throws JsonSchemaError naming what is wrong; each (document, pointer) compiles once.
 */
export class SchemaCompiler {
  private readonly docs = new Map<string, Doc>();
  private readonly compiled = new Map<string, CompiledSchema>();

  constructor(private readonly files: ReadonlyMap<string, string>) {}

  /**
   * The schema at `ref`, to validate values with. A value that sends validation through references past MAX_DEPTH
   * levels is invalid (`schema references loop without end`): the overflow is thrown past every applicator, since one
   * such as `not` or `anyOf` would read a leaf error inside it as a failure of its branch, and a value would then pass
   * `{"not": {"$ref": "#"}}` (fail open).
   */
  compile(ref: string): CompiledSchema {
    const root = this.resolve(ref, undefined);
    return {
      validate(v, loc, out, depth) {
        try {
          root.validate(v, loc, out, depth);
        } catch (e) {
          if (!(e instanceof SchemaLoop)) throw e;
          out.push({ path: e.path, message: 'schema references loop without end', keyword: '$ref' });
        }
      },
    };
  }

  private doc(url: string): Doc {
    let d = this.docs.get(url);
    if (d) return d;
    if (!url.startsWith('cerbos:///')) throw new JsonSchemaError(`schema ${url} cannot be loaded: only cerbos:/// references (files under _schemas/) are supported`);
    const name = url.slice('cerbos:///'.length);
    const text = this.files.get(name);
    if (text === undefined) throw new JsonSchemaError(`schema _schemas/${name} doesn't exist`);
    let root: Json;
    try {
      root = JSON.parse(text) as Json;
    } catch (e) {
      throw new JsonSchemaError(`_schemas/${name}: ${(e as Error).message}`);
    }
    if (typeof root !== 'boolean' && !isObj(root)) throw new JsonSchemaError(`_schemas/${name}: a JSON schema must be an object or a boolean`);
    if (isObj(root) && root.$schema !== undefined && (typeof root.$schema !== 'string' || !DRAFT_2020.test(root.$schema)))
      throw new JsonSchemaError(`_schemas/${name}: $schema ${JSON.stringify(root.$schema)} is not supported (only https://json-schema.org/draft/2020-12/schema)`);
    d = { url, root };
    this.docs.set(url, d);
    return d;
  }

  /** `ref` resolved against the document `base` (absent: `ref` is absolute). */
  private resolve(ref: string, base: Doc | undefined): CompiledSchema {
    const hash = ref.indexOf('#');
    const path = hash < 0 ? ref : ref.slice(0, hash);
    const frag = hash < 0 ? '' : decodeURIComponent(ref.slice(hash + 1));
    let url: string;
    if (path === '') {
      if (!base) throw new JsonSchemaError(`invalid schema reference ${ref}`);
      url = base.url;
    } else if (/^[a-z][a-z0-9+.-]*:/i.test(path)) url = path;
    else {
      if (!base) throw new JsonSchemaError(`invalid schema reference ${ref}`);
      const id = isObj(base.root) ? base.root.$id : undefined;
      // Cerbos resolves a relative reference against the file's $id (an http(s) URL it would fetch): not followed here
      if (typeof id === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(id) && !id.startsWith('cerbos:'))
        throw new JsonSchemaError(`schema reference ${ref} in ${base.url}: relative to its $id ${id}, which Baton does not load (use cerbos:///NAME)`);
      const dir = base.url.slice(0, base.url.lastIndexOf('/') + 1);
      const parts: string[] = [];
      for (const seg of (path.startsWith('/') ? 'cerbos:///' + path.slice(1) : dir + path).slice('cerbos:///'.length).split('/')) {
        if (seg === '..') parts.pop();
        else if (seg !== '.') parts.push(seg);
      }
      url = 'cerbos:///' + parts.join('/');
    }
    if (frag !== '' && !frag.startsWith('/')) throw new JsonSchemaError(`schema reference ${ref}: anchors are not supported, use a JSON pointer (#/$defs/NAME)`);
    const doc = this.doc(url);
    const key = `${url}#${frag}`;
    const hit = this.compiled.get(key);
    if (hit) return hit;
    let node: Json = doc.root;
    for (const raw of frag === '' ? [] : frag.slice(1).split('/')) {
      const tok = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(node) && /^\d+$/.test(tok) && Number(tok) < node.length) node = node[Number(tok)];
      else if (isObj(node) && Object.prototype.hasOwnProperty.call(node, tok)) node = node[tok];
      else throw new JsonSchemaError(`schema reference ${ref}: ${url}#${frag} does not exist`);
    }
    // a placeholder first, so that recursive references compile
    const holder: { s?: CompiledSchema } = {};
    const proxy: CompiledSchema = { validate: (v, loc, out, depth) => holder.s!.validate(v, loc, out, depth) };
    this.compiled.set(key, proxy);
    try {
      holder.s = this.schema(node, doc, `${url}#${frag}`);
    } catch (e) {
      this.compiled.delete(key);
      throw e;
    }
    this.compiled.set(key, holder.s);
    return holder.s;
  }

  private schema(s: Json, doc: Doc, at: string): CompiledSchema {
    if (s === true) return { validate: () => {} };
    if (s === false) return { validate: (_v, loc, out) => void out.push({ path: loc || '/', message: 'not allowed', keyword: '' }) };
    if (!isObj(s)) throw new JsonSchemaError(`${at}: a schema must be an object or a boolean`);
    const k = new Keywords(s, at, (v, kw) => this.schema(v, doc, `${at}/${kw}`));
    for (const kw of REFUSED) if (kw in s) k.bad(kw, `keyword ${kw} is not supported by Baton's schema validator`);
    if (s.$id !== undefined && at !== `${doc.url}#`) k.bad('$id', 'an $id is only supported at the root of a schema file');
    for (const defs of ['$defs', 'definitions'] as const) if (s[defs] !== undefined && !isObj(s[defs])) k.bad(defs, 'must be an object');
    const typeCheck = typeChecker(s.type, k.bad);
    // the library's order: const, enum, format, then the value's own type's keywords, then the applicators
    const checks = [valueChecks(k), objectChecks(k), arrayChecks(k), stringChecks(k), numberChecks(k)].filter((c): c is Check => c !== undefined);
    if (s.$ref !== undefined) {
      if (typeof s.$ref !== 'string') k.bad('$ref', 'must be a string');
      const target = this.resolve(s.$ref as string, doc);
      checks.push((v, loc, out, depth) => target.validate(v, loc, out, depth + 1));
    }
    checks.push(...applicatorChecks(k));
    // subschemas under $defs/definitions compile when referenced; other keywords are annotations or unknown (ignored, as Cerbos does)
    return {
      validate(v, loc, out, depth) {
        if (depth > MAX_DEPTH) throw new SchemaLoop(loc || '/');
        if (typeCheck && !typeCheck.ok(v)) {
          out.push({ path: loc || '/', message: `expected ${typeCheck.names}, but got ${jsonType(v)}`, keyword: 'type' });
          return;
        }
        for (const c of checks) c(v, loc, out, depth);
      },
    };
  }
}

/** One schema object's keywords, read with the checks Cerbos's metaschema makes (a bad value does not compile). */
class Keywords {
  constructor(
    readonly s: Obj,
    private readonly at: string,
    readonly sub: (v: Json, kw: string) => CompiledSchema,
  ) {}
  readonly bad = (kw: string, what: string): never => {
    throw new JsonSchemaError(`${this.at}/${kw}: ${what}`);
  };
  subs(kw: string): CompiledSchema[] | undefined {
    const v = this.s[kw];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) this.bad(kw, 'must be a non-empty array of schemas');
    return (v as Json[]).map((x, i) => this.sub(x, `${kw}/${i}`));
  }
  opt(kw: string): CompiledSchema | undefined {
    return this.s[kw] === undefined ? undefined : this.sub(this.s[kw], kw);
  }
  num(kw: string): number | undefined {
    const v = this.s[kw];
    if (v !== undefined && typeof v !== 'number') this.bad(kw, 'must be a number');
    return v as number | undefined;
  }
  count(kw: string): number | undefined {
    const v = this.s[kw];
    if (v !== undefined && !isNonNegInt(v)) this.bad(kw, 'must be a non-negative integer');
    return v as number | undefined;
  }
  /** A pattern in Go's RE2 syntax (Cerbos's validator compiles it with Go's regexp), as CEL's `matches` reads one. */
  regex(p: Json, kw: string): RegExp {
    if (typeof p !== 'string') this.bad(kw, 'must be a string');
    try {
      return toRegExp(p as string);
    } catch (e) {
      return this.bad(kw, (e as Error).message); // names the pattern
    }
  }
  strings(v: Json, kw: string): string[] {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.bad(kw, 'must be an array of strings');
    return v as string[];
  }
  map<T>(kw: string, f: (key: string, v: Json) => T): [string, T][] | undefined {
    const v = this.s[kw];
    if (v === undefined) return undefined;
    if (!isObj(v)) this.bad(kw, 'must be an object');
    return Object.entries(v as Obj).map(([key, x]) => [key, f(key, x)]);
  }
}

const at = (loc: string): string => loc || '/';
const byName = (a: [string, unknown], b: [string, unknown]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

function valueChecks(k: Keywords): Check | undefined {
  const { s } = k;
  const checks: Check[] = [];
  if ('const' in s) {
    const c = s.const;
    const message = isObj(c) || Array.isArray(c) ? 'const failed' : `value must be ${goLiteral(c)}`;
    checks.push((v, loc, out) => void (jsonEquals(v, c) || out.push({ path: at(loc), message, keyword: 'const' })));
  }
  if (s.enum !== undefined) {
    if (!Array.isArray(s.enum)) k.bad('enum', 'must be an array');
    const items = s.enum as Json[];
    const primitive = items.every((x) => !isObj(x) && !Array.isArray(x));
    const message = !primitive ? 'enum failed' : items.length === 1 ? `value must be ${goLiteral(items[0])}` : `value must be one of ${items.map(goLiteral).join(', ')}`;
    checks.push((v, loc, out) => void (items.some((x) => jsonEquals(v, x)) || out.push({ path: at(loc), message, keyword: 'enum' })));
  }
  if (s.format !== undefined) {
    if (typeof s.format !== 'string') k.bad('format', 'must be a string');
    const name = s.format as string;
    if (UNSUPPORTED_FORMATS.has(name)) k.bad('format', `format "${name}" is not supported by Baton's schema validator`);
    const fn = FORMATS[name];
    const shown = sq(name);
    if (fn) checks.push((v, loc, out) => void (typeof v !== 'string' || fn(v) || out.push({ path: at(loc), message: `${sq(v)} is not valid ${shown}`, keyword: 'format' })));
  }
  return all(checks);
}

function all(checks: Check[]): Check | undefined {
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (v, loc, out, depth) => {
    for (const c of checks) c(v, loc, out, depth);
  };
}

function objectChecks(k: Keywords): Check | undefined {
  const minP = k.count('minProperties');
  const maxP = k.count('maxProperties');
  const required = k.s.required === undefined ? undefined : k.strings(k.s.required, 'required');
  // properties in name order: the order of their errors does not depend on how the file was written (or bundled)
  const props = k.map('properties', (key, x) => k.sub(x, `properties/${key}`))?.sort(byName);
  const propNames = k.opt('propertyNames');
  const patternProps = k.map('patternProperties', (key, x) => [k.regex(key, `patternProperties/${key}`), k.sub(x, `patternProperties/${key}`)] as const)?.sort(byName);
  const ap = k.s.additionalProperties;
  const additional = ap === undefined || ap === true ? undefined : ap === false ? false : k.sub(ap, 'additionalProperties');
  const depReq = k.map('dependentRequired', (key, x) => k.strings(x, `dependentRequired/${key}`));
  const depSchemas = k.map('dependentSchemas', (key, x) => k.sub(x, `dependentSchemas/${key}`));
  if (minP === undefined && maxP === undefined && !required && !props && !propNames && !patternProps && additional === undefined && !depReq && !depSchemas) return undefined;
  const declared = props ? new Set(props.map(([key]) => key)) : undefined;
  return (v, loc, out, depth) => {
    if (!isObj(v)) return;
    const keys = Object.keys(v);
    const child = (key: string): string => `${loc}/${pointerToken(key)}`;
    if (minP !== undefined && keys.length < minP) out.push({ path: at(loc), message: `minimum ${minP} properties allowed, but found ${keys.length} properties`, keyword: 'minProperties' });
    if (maxP !== undefined && keys.length > maxP) out.push({ path: at(loc), message: `maximum ${maxP} properties allowed, but found ${keys.length} properties`, keyword: 'maxProperties' });
    const missing = required?.filter((key) => !has(v, key));
    if (missing && missing.length > 0) out.push({ path: at(loc), message: `missing properties: ${missing.map(sq).join(', ')}`, keyword: 'required' });
    if (props) for (const [key, p] of props) if (has(v, key)) p.validate(v[key], child(key), out, depth + 1);
    if (propNames) for (const key of keys) propNames.validate(key, child(key), out, depth + 1);
    let byPattern: Set<string> | undefined;
    for (const [, [rx, p]] of patternProps ?? [])
      for (const key of keys)
        if (rx.test(key)) {
          (byPattern ??= new Set()).add(key);
          p.validate(v[key], child(key), out, depth + 1);
        }
    if (additional !== undefined) {
      const extra = keys.filter((key) => !declared?.has(key) && !byPattern?.has(key));
      if (additional !== false) for (const key of extra) additional.validate(v[key], child(key), out, depth + 1);
      else if (extra.length > 0) out.push({ path: at(loc), message: `additionalProperties ${extra.map(sq).join(', ')} not allowed`, keyword: 'additionalProperties' });
    }
    for (const [key, list] of depReq ?? [])
      if (has(v, key)) for (const r of list) if (!has(v, r)) out.push({ path: at(loc), message: `property ${sq(r)} is required, if ${sq(key)} property exists`, keyword: 'dependentRequired' });
    for (const [key, p] of depSchemas ?? []) if (has(v, key)) p.validate(v, loc, out, depth + 1);
  };
}

function arrayChecks(k: Keywords): Check | undefined {
  const minI = k.count('minItems');
  const maxI = k.count('maxItems');
  if (k.s.uniqueItems !== undefined && typeof k.s.uniqueItems !== 'boolean') k.bad('uniqueItems', 'must be a boolean');
  const unique = k.s.uniqueItems === true;
  if (Array.isArray(k.s.items)) k.bad('items', 'must be a schema (2020-12: use prefixItems for tuples)');
  const prefix = k.subs('prefixItems');
  const items = k.opt('items');
  const contains = k.opt('contains');
  const minC = k.count('minContains') ?? 1;
  const maxC = k.count('maxContains');
  if (minI === undefined && maxI === undefined && !unique && !prefix && !items && !contains) return undefined;
  return (v, loc, out, depth) => {
    if (!Array.isArray(v)) return;
    if (minI !== undefined && v.length < minI) out.push({ path: at(loc), message: `minimum ${minI} items required, but found ${v.length} items`, keyword: 'minItems' });
    if (maxI !== undefined && v.length > maxI) out.push({ path: at(loc), message: `maximum ${maxI} items required, but found ${v.length} items`, keyword: 'maxItems' });
    if (unique) {
      const dup = firstDuplicate(v);
      if (dup) out.push({ path: at(loc), message: `items at index ${dup[0]} and ${dup[1]} are equal`, keyword: 'uniqueItems' });
    }
    for (let i = 0; i < v.length; i++) {
      const p = prefix && i < prefix.length ? prefix[i]! : items;
      if (!p) break;
      p.validate(v[i], `${loc}/${i}`, out, depth + 1);
    }
    if (!contains) return;
    let matched = 0;
    const causes: SchemaLeafError[] = [];
    for (let i = 0; i < v.length; i++) {
      const before = causes.length;
      contains.validate(v[i], `${loc}/${i}`, causes, depth + 1);
      if (causes.length === before) matched++;
    }
    // the library reports the items that failed `contains` as the causes of minContains (the message when there are none)
    if (matched < minC) out.push(...(causes.length > 0 ? causes : [{ path: at(loc), message: `valid must be >= ${minC}, but got ${matched}`, keyword: 'minContains' }]));
    if (maxC !== undefined && matched > maxC) out.push({ path: at(loc), message: `valid must be <= ${maxC}, but got ${matched}`, keyword: 'maxContains' });
  };
}

function firstDuplicate(v: readonly Json[]): [number, number] | undefined {
  for (let i = 1; i < v.length; i++) for (let j = 0; j < i; j++) if (jsonEquals(v[i], v[j])) return [j, i];
  return undefined;
}

function stringChecks(k: Keywords): Check | undefined {
  const minL = k.count('minLength');
  const maxL = k.count('maxLength');
  const pattern = k.s.pattern === undefined ? undefined : k.regex(k.s.pattern, 'pattern');
  if (minL === undefined && maxL === undefined && !pattern) return undefined;
  const patternText = pattern ? sq(k.s.pattern as string) : '';
  return (v, loc, out) => {
    if (typeof v !== 'string') return;
    if (minL !== undefined || maxL !== undefined) {
      let n = 0;
      for (const _ of v) n++; // code points, as Go's utf8.RuneCount
      if (minL !== undefined && n < minL) out.push({ path: at(loc), message: `length must be >= ${minL}, but got ${n}`, keyword: 'minLength' });
      if (maxL !== undefined && n > maxL) out.push({ path: at(loc), message: `length must be <= ${maxL}, but got ${n}`, keyword: 'maxLength' });
    }
    if (pattern && !pattern.test(v)) out.push({ path: at(loc), message: `does not match pattern ${patternText}`, keyword: 'pattern' });
  };
}

function numberChecks(k: Keywords): Check | undefined {
  const min = k.num('minimum');
  const xmin = k.num('exclusiveMinimum');
  const max = k.num('maximum');
  const xmax = k.num('exclusiveMaximum');
  const mult = k.num('multipleOf');
  if (mult !== undefined && !(mult > 0)) k.bad('multipleOf', 'must be greater than 0');
  if (min === undefined && xmin === undefined && max === undefined && xmax === undefined && mult === undefined) return undefined;
  return (v, loc, out) => {
    if (typeof v !== 'number') return;
    const found = goValue(v);
    if (min !== undefined && v < min) out.push({ path: at(loc), message: `must be >= ${goFloat(min)} but found ${found}`, keyword: 'minimum' });
    if (xmin !== undefined && v <= xmin) out.push({ path: at(loc), message: `must be > ${goFloat(xmin)} but found ${found}`, keyword: 'exclusiveMinimum' });
    if (max !== undefined && v > max) out.push({ path: at(loc), message: `must be <= ${goFloat(max)} but found ${found}`, keyword: 'maximum' });
    if (xmax !== undefined && v >= xmax) out.push({ path: at(loc), message: `must be < ${goFloat(xmax)} but found ${found}`, keyword: 'exclusiveMaximum' });
    if (mult !== undefined && Number.isFinite(v) && !isMultiple(v, mult)) out.push({ path: at(loc), message: `${found} not multipleOf ${goFloat(mult)}`, keyword: 'multipleOf' });
  };
}

/** not, allOf, anyOf, oneOf, if/then/else: composite failures are reported by their failing leaves (as Cerbos reports them). */
function applicatorChecks(k: Keywords): Check[] {
  const checks: Check[] = [];
  const fails = (p: CompiledSchema, v: Json, loc: string, depth: number, into: SchemaLeafError[] = []): boolean => {
    const before = into.length;
    p.validate(v, loc, into, depth + 1);
    return into.length > before;
  };
  const not = k.opt('not');
  if (not) checks.push((v, loc, out, depth) => void (fails(not, v, loc, depth) || out.push({ path: at(loc), message: 'not failed', keyword: 'not' })));
  const allOf = k.subs('allOf');
  if (allOf) checks.push((v, loc, out, depth) => allOf.forEach((p) => p.validate(v, loc, out, depth + 1)));
  const anyOf = k.subs('anyOf');
  if (anyOf)
    checks.push((v, loc, out, depth) => {
      const causes: SchemaLeafError[] = [];
      for (const p of anyOf) if (!fails(p, v, loc, depth, causes)) return;
      out.push(...causes);
    });
  const oneOf = k.subs('oneOf');
  if (oneOf)
    checks.push((v, loc, out, depth) => {
      let matched = -1;
      const causes: SchemaLeafError[] = [];
      for (let i = 0; i < oneOf.length; i++) {
        if (fails(oneOf[i]!, v, loc, depth, causes)) continue;
        if (matched >= 0) return void out.push({ path: at(loc), message: `valid against schemas at indexes ${matched} and ${i}`, keyword: 'oneOf' });
        matched = i;
      }
      if (matched < 0) out.push(...causes);
    });
  const ifS = k.opt('if');
  const thenS = k.opt('then');
  const elseS = k.opt('else');
  if (ifS && (thenS || elseS)) checks.push((v, loc, out, depth) => (fails(ifS, v, loc, depth) ? elseS : thenS)?.validate(v, loc, out, depth + 1));
  return checks;
}

function typeChecker(t: Json, bad: (kw: string, what: string) => never): { ok: (v: Json) => boolean; names: string } | undefined {
  if (t === undefined) return undefined;
  const list = typeof t === 'string' ? [t] : Array.isArray(t) ? t : bad('type', 'must be a type name or an array of them');
  if (list.length === 0 || !list.every((x): x is string => typeof x === 'string' && TYPES.has(x))) bad('type', `unknown type in ${JSON.stringify(t)}`);
  const names = list as string[];
  return {
    names: names.join(' or '),
    ok: (v) => {
      const vt = jsonType(v);
      return names.some((n) => n === vt || (n === 'integer' && vt === 'number' && Number.isInteger(v)));
    },
  };
}
