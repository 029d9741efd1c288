import { defaultJwsCrypto, pooledJwsCrypto, type JwsCrypto } from '../jose/jws.js';

/**
 * Where an exchange's two signatures (the subject token's verify, the Txn-Token's sign) are computed.
 *
 * One exchange at a time: inline (node:crypto's synchronous calls), the least CPU and the lowest latency. With other
 * exchanges in flight: on libuv's thread pool, so that the event loop goes on with the others meanwhile and a busy
 * TTS uses more than one core (on Workers both are Web Crypto).
 *
 * Exchanges that never wait (a memory store, synchronous signatures) run one after another to their end, so the count
 * alone would never see the others queued on their sockets. So one exchange in `PROBE_MS` is offloaded even when it is
 * alone: if requests are waiting, they start while it is on the pool, the count rises, and the rest follow. With none
 * waiting, that costs one hand-off in `PROBE_MS`. And once others were seen in flight, an exchange alone within
 * `BUSY_MS` of that is offloaded too: under load the count drops to 1 between requests read from their sockets, and
 * the next request's signatures would otherwise hold the event loop while the others wait.
 */
export const PROBE_MS = 20;
export const BUSY_MS = 10;

export class CryptoOffload {
  #inflight = 0;
  #probeAt = 0;
  #busyUntil = 0;
  readonly #clock: () => number;

  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /** exchanges started and not yet answered */
  get inflight(): number {
    return this.#inflight;
  }

  enter(): void {
    this.#inflight++;
  }

  leave(): void {
    this.#inflight--;
  }

  /** The backend for a signature about to be computed now. */
  backend(): JwsCrypto {
    const t = this.#clock();
    if (this.#inflight > 1) {
      this.#busyUntil = t + BUSY_MS;
      return pooledJwsCrypto();
    }
    if (t < this.#busyUntil) return pooledJwsCrypto();
    if (t - this.#probeAt >= PROBE_MS) {
      this.#probeAt = t;
      return pooledJwsCrypto();
    }
    return defaultJwsCrypto();
  }
}
