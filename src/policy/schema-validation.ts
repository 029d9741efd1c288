// Request attributes checked against a resource policy's `schemas` (Cerbos's schema enforcement). Which policy's
// schemas apply, as in Cerbos 0.55: those of the resource policy for the kind and version at the first existing scope of
// the request's scope chain, and for a scoped policy its root-scope policy's (the only schemas in effect in a scope
// tree). `ignoreWhen.actions` globs skip validation when they match every action of the request. `warn` reports the
// errors and decides as usual; `reject` denies every action (the policy named is the one the check would name).
import { compileGlob, type Matcher } from './glob.js';
import type { CompiledSchema, SchemaLeafError } from './jsonschema.js';

/** Cerbos's `schema.enforcement`. Cerbos's (and Baton's) default is `none`. */
export type SchemaEnforcement = 'none' | 'warn' | 'reject';

/** One validation error as Cerbos reports it (`validationErrors[]`). */
export interface ValidationError {
  /** JSON pointer into the attributes (`/` for the attributes themselves). */
  path: string;
  message: string;
  source: 'SOURCE_PRINCIPAL' | 'SOURCE_RESOURCE';
}

export interface SchemaRefCheck {
  ref: string;
  /** `ignoreWhen.actions`, compiled */
  ignore: readonly Matcher[];
  /** absent when the policies were loaded without their `_schemas/` files (then only `none` enforcement can use them) */
  schema?: CompiledSchema;
}

export interface PolicySchemas {
  principal?: SchemaRefCheck;
  resource?: SchemaRefCheck;
}

/** The `schemas` member of a resource policy document, read as Cerbos reads it (an empty ref: no schema). */
export function schemaRefsOf(raw: Record<string, unknown> | undefined): { principal?: { ref: string; ignore: string[] }; resource?: { ref: string; ignore: string[] } } | undefined {
  if (!raw) return undefined;
  const one = (v: unknown): { ref: string; ignore: string[] } | undefined => {
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as { ref?: unknown; ignoreWhen?: { actions?: unknown } };
    if (typeof o.ref !== 'string' || o.ref === '') return undefined;
    const acts = o.ignoreWhen?.actions;
    return { ref: o.ref, ignore: Array.isArray(acts) ? acts.filter((a): a is string => typeof a === 'string') : [] };
  };
  const principal = one(raw.principalSchema);
  const resource = one(raw.resourceSchema);
  if (!principal && !resource) return undefined;
  return { ...(principal ? { principal } : {}), ...(resource ? { resource } : {}) };
}

export function refCheck(r: { ref: string; ignore: string[] }, schema: CompiledSchema | undefined): SchemaRefCheck {
  return { ref: r.ref, ignore: r.ignore.map(compileGlob), ...(schema ? { schema } : {}) };
}

/** Some action is not covered by the `ignoreWhen` globs (each glob removes the actions it matches). */
function applies(c: SchemaRefCheck, actions: readonly string[]): boolean {
  if (c.ignore.length === 0) return true;
  return actions.some((a) => !c.ignore.some((m) => m(a)));
}

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

function one(c: SchemaRefCheck | undefined, attr: Record<string, unknown> | undefined, actions: readonly string[], source: ValidationError['source'], skipRequired: boolean, out: ValidationError[]): void {
  if (!c || !applies(c, actions)) return;
  if (!c.schema) throw new Error(`schema ${c.ref} is not loaded`);
  const leaves: SchemaLeafError[] = [];
  c.schema.validate(attr ?? EMPTY, '', leaves, 0);
  for (const l of leaves) if (!(skipRequired && l.keyword === 'required')) out.push({ path: l.path, message: l.message, source });
}

/**
 * The validation errors of a request's attributes (principal first, then resource), or undefined when there are none.
 * `plan`: a query plan's resource attributes are partial, so the resource's `required` errors are left out (as Cerbos).
 */
export function validateAttributes(s: PolicySchemas, principalAttr: Record<string, unknown> | undefined, resourceAttr: Record<string, unknown> | undefined, actions: readonly string[], plan: boolean): ValidationError[] | undefined {
  const out: ValidationError[] = [];
  one(s.principal, principalAttr, actions, 'SOURCE_PRINCIPAL', false, out);
  one(s.resource, resourceAttr, actions, 'SOURCE_RESOURCE', plan, out);
  return out.length > 0 ? out : undefined;
}
