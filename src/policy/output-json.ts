/**
 * Output values as Cerbos 0.55 reports them. An output expression that yields the request's principal, resource or
 * the whole request (`P`, `R`, `request`, alone or inside a list or map) yields a protobuf message in cel-go, which
 * Cerbos turns into JSON with protojson: fields holding their default value (an empty scope or policy version, an
 * empty attribute map, absent auxiliary data) are left out. Attribute values themselves are JSON values and keep
 * everything. Anything else is returned as is (the same object when nothing inside is a request message).
 */
import type { CelScope } from './cel/index.js';

const MAX_DEPTH = 64;

function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === '' || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}

/** A request message's own fields without the empty ones (protojson's default). */
function withoutDefaults(m: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (!isEmptyValue(v)) out[k] = v;
  return out;
}

function requestMessage(scope: CelScope): Record<string, unknown> {
  const out: Record<string, unknown> = { principal: withoutDefaults(scope.P), resource: withoutDefaults(scope.R) };
  // Cerbos's AuxData message has one field, `jwt` (a map): present only when a token's claims were given
  const jwt = scope.request.auxData.jwt;
  if (!isEmptyValue(jwt)) out.auxData = { jwt };
  return out;
}

export function outputValue(v: unknown, scope: CelScope, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) return v;
  if (v === scope.R || v === scope.P) return withoutDefaults(v as Record<string, unknown>);
  if (v === scope.request) return requestMessage(scope);
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    v.forEach((x, i) => {
      const y = outputValue(x, scope, depth + 1);
      if (y !== x) (copy ??= v.slice())[i] = y;
    });
    return copy ?? v;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return v;
  let copy: Record<string, unknown> | undefined;
  for (const [k, x] of Object.entries(v)) {
    const y = outputValue(x, scope, depth + 1);
    if (y !== x) (copy ??= { ...(v as Record<string, unknown>) })[k] = y;
  }
  return copy ?? v;
}
