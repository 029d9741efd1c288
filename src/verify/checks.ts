import { scrub, toJsonLine } from '../log/index.js';
import { RevocationCache } from '../store/revocation-cache.js';
import { StoreUnavailableError, type Store } from '../store/types.js';
import type { TxnContext } from './context.js';
import { TxnTokenError } from './errors.js';

/** The store checks of every call, cached token or not: revocation (V-08) and the replay guard (V-09). */
export interface StoreChecks {
  /** undefined when there is nothing to check (no store) */
  check(ctx: TxnContext, nowMs: number): Promise<void> | undefined;
  close(): void;
}

export interface StoreCheckOptions {
  store: Store | undefined;
  failOpen: boolean;
  /** the replay guard's namespace (V-09), when there is one */
  replayNamespace: string | undefined;
  clockSkew: number;
  now: () => number;
  /** where the fail-open warning goes: one line naming the txn, never the token */
  warn: (line: string) => void;
  service: string;
}

export function storeChecks(o: StoreCheckOptions): StoreChecks {
  const { store } = o;
  if (store === undefined) return { check: () => undefined, close: () => {} };
  const revocations = new RevocationCache(store, { now: o.now });
  const replayNs = o.replayNamespace === undefined ? undefined : `replay:${o.replayNamespace}`;

  async function isRevoked(ctx: TxnContext): Promise<boolean> {
    const local = revocations.isRevokedLocal(ctx.txn);
    if (local !== undefined) return local;
    try {
      return await store!.isRevoked(ctx.txn);
    } catch (e) {
      if (o.failOpen && e instanceof StoreUnavailableError) {
        o.warn(`baton verify [${o.service}]: revocation store unavailable; accepting txn ${toJsonLine(scrub(ctx.txn))} unchecked (revocation: fail-open)`);
        return false;
      }
      throw new TxnTokenError('unavailable', 'the revocation check is unavailable; retry later', { reason: 'revocation_unavailable', cause: e });
    }
  }

  async function checkReplay(ctx: TxnContext, nowMs: number): Promise<void> {
    if (replayNs === undefined) return;
    let first: boolean;
    try {
      first = await store!.useOnce(replayNs, ctx.txn, Math.max(1, (ctx.exp + o.clockSkew) * 1000 - nowMs));
    } catch (e) {
      throw new TxnTokenError('unavailable', 'the replay check is unavailable; retry later', { reason: 'replay_unavailable', cause: e });
    }
    if (!first) throw new TxnTokenError('replayed', 'this transaction was already presented to this service', { reason: 'replayed' });
  }

  return {
    async check(ctx, nowMs) {
      if (await isRevoked(ctx)) throw new TxnTokenError('revoked', 'the transaction is revoked', { reason: 'revoked' });
      await checkReplay(ctx, nowMs);
    },
    close: () => revocations.close(),
  };
}
