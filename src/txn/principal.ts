/**
 * The principal a policy sees for a Txn-Token's user (V-12, T-24), built the same way at the TTS (the `txn_token`
 * scope decision) and at every receiving service (`authorize`), so one set of policy files means the same everywhere:
 *   id    = the user (`sub`; it stays the same through every hop)
 *   roles = the user's roles (`tctx.roles` in a Txn-Token); `["user"]` when there are none
 *   attr  = the user's attributes (`tctx.attr`) plus `workload` = the current actor and `chain` = the workloads of the
 *           EARLIER hops, outermost (most recent) first, the current actor not included. `workload` and `chain` always
 *           win over attributes of the same name.
 */
import { actChain, type TxnTokenClaims } from './claims.js';

export interface TxnPrincipal {
  readonly id: string;
  readonly roles: readonly string[];
  readonly attr: Readonly<Record<string, unknown>>;
}

/** The roles of a user whose token names none (policies need at least one role). */
export const DEFAULT_ROLES: readonly string[] = Object.freeze(['user']);

export interface PrincipalParts {
  sub: string;
  roles: readonly string[];
  attr: Readonly<Record<string, unknown>>;
  /** the current actor (`req_wl`) */
  workload: string;
  /** the workloads of the earlier hops, outermost first */
  earlier: readonly string[];
}

export function principalFrom(p: PrincipalParts): TxnPrincipal {
  return {
    id: p.sub,
    roles: p.roles.length > 0 ? [...p.roles] : [...DEFAULT_ROLES],
    // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
    attr: { __proto__: Object.prototype, ...p.attr, workload: p.workload, chain: [...p.earlier] },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** What a Txn-Token says of its user: `tctx.roles` (non-empty strings) and `tctx.attr`, put there by the TTS. */
export function userOf(claims: Pick<TxnTokenClaims, 'tctx'>): { roles: string[]; attr: Record<string, unknown> } {
  const tctx = isObject(claims.tctx) ? claims.tctx : {};
  const roles = Array.isArray(tctx.roles) ? tctx.roles.filter((r): r is string => typeof r === 'string' && r.length > 0) : [];
  return { roles, attr: isObject(tctx.attr) ? tctx.attr : {} };
}

/** The principal of a verified Txn-Token: its user, its current actor and the earlier hops of its chain. */
export function txnPrincipal(claims: Pick<TxnTokenClaims, 'sub' | 'req_wl' | 'act' | 'tctx'>): TxnPrincipal {
  return principalFrom({ sub: claims.sub, ...userOf(claims), workload: claims.req_wl, earlier: actChain(claims.act).slice(1) });
}
