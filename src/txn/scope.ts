/**
 * Scope as a Txn-Token means it (T-12, V-12): a space-delimited list of scope tokens, and configured implications
 * (`tickets` ⊇ `tickets:read`), never the reverse. One reading for the TTS's decision, the verifier's check and the
 * client SDK.
 */
import type { Claims } from './claims.js';

export type ScopeImplications = Readonly<Record<string, readonly string[]>>;

/** The scopes of a space-delimited `scope` value, in order, each once. */
export function parseScope(scope: string): string[] {
  return [...new Set(scope.split(' ').filter((s) => s.length > 0))];
}

/** A `scope` given as a string (space-delimited) or a list, each scope once; surrounding whitespace dropped. */
export function scopeList(scope: string | readonly string[]): string[] {
  const list = typeof scope === 'string' ? scope.split(' ') : [...scope];
  return [...new Set(list.map((s) => s.trim()).filter((s) => s.length > 0))];
}

/**
 * The scope a claims set grants, from `claim` (a space-delimited string or an array of strings) or else `scp` (the
 * array form some issuers use). Undefined when neither is there: unknown scope is never unlimited (T-13).
 */
export function readScopeClaim(claims: Claims, claim = 'scope'): string[] | undefined {
  for (const name of claim === 'scp' ? ['scp'] : [claim, 'scp']) {
    const v = claims[name];
    if (typeof v === 'string') return v.split(' ').filter((s) => s.length > 0);
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return (v as string[]).filter((s) => s.length > 0);
  }
  return undefined;
}

/** A scope and everything it implies through the configured implications (never the reverse), transitively. */
export function expandScopes(scopes: Iterable<string>, implications: ScopeImplications): Set<string> {
  const out = new Set<string>();
  const stack = [...scopes];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (out.has(s)) continue;
    out.add(s);
    // own members only: a scope named `constructor` or `__proto__` must not reach Object.prototype (a 500)
    const implied = Object.hasOwn(implications, s) ? implications[s] : undefined;
    if (implied !== undefined) stack.push(...implied);
  }
  return out;
}

/** Whether the scopes `have` cover `needed`, directly or through implications (never the reverse). */
export function scopeCovers(have: ReadonlySet<string>, needed: string, implications?: ScopeImplications): boolean {
  if (have.has(needed)) return true;
  if (implications === undefined) return false;
  return expandScopes(have, implications).has(needed);
}
