/**
 * A Txn-Token as the principal: the `Txn-Token` header is verified by baton/verify's verifier (V-01..V-09) and the
 * decision is made for the principal `authorize` builds from it (`principalOf`: the user, roles, attributes, workload,
 * chain; src/txn/principal.ts). The token's scope must cover each action: the scope an action needs is configured per
 * resource kind and action (`scopes: { ticket: { read: tickets:read } }`, `*` for any action of the kind); an action
 * with no configured scope is denied (fail closed), like one whose scope the token lacks.
 */
import type { Principal } from '../policy/index.js';
import { principalOf, scopeCovers, type ScopeImplications } from '../verify/authorize.js';
import type { TxnContext } from '../verify/context.js';
import type { Verifier } from '../verify/verifier.js';

export type TxnCaller = TxnContext;

export type ScopeTable = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;

export interface TxnAuth {
  /** verifies the header value; throws TxnTokenError (401, or 503 when keys or the store cannot answer) */
  verify(header: string | undefined): Promise<TxnContext>;
  /** the actions of `kind` the token's scope does not cover (or that have no configured scope) */
  uncovered(txn: TxnContext, kind: string, actions: readonly string[]): ReadonlySet<string>;
  /** the scopes `action` on `kind` needs, or undefined when none is configured */
  needed(kind: string, action: string): readonly string[] | undefined;
}

export function txnAuth(verifier: Verifier, scopes: ScopeTable, implications: ScopeImplications | undefined): TxnAuth {
  const needed = (kind: string, action: string): readonly string[] | undefined => {
    const table = scopes[kind];
    const s = table?.[action] ?? table?.['*'];
    return s === undefined ? undefined : typeof s === 'string' ? [s] : s;
  };
  return {
    verify: (header) => verifier.verify(header ?? null),
    needed,
    uncovered(txn, kind, actions) {
      let out: Set<string> | undefined;
      for (const a of actions) {
        const n = needed(kind, a);
        if (n === undefined || n.some((s) => !scopeCovers(txn.scope, s, implications))) (out ??= new Set()).add(a);
      }
      return out ?? NONE;
    },
  };
}

const NONE: ReadonlySet<string> = new Set();

/** The principal a decision for this token's user is made for: the one `authorize` uses. */
export function principalFor(txn: TxnContext): Principal {
  return principalOf(txn);
}
