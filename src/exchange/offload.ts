import { defaultJwsCrypto, pooledJwsCrypto, type JwsCrypto } from '../jose/jws.js';

/**
 * Where an exchange's subject-token verification is computed.
 *
 * One exchange at a time: inline (node:crypto's synchronous call), the least CPU and the lowest latency. With other
 * exchanges in flight: on libuv's thread pool, so that the event loop goes on with the others meanwhile and a busy
 * TTS uses more than one core (on Workers both are Web Crypto).
 *
 * Only the verification: the Txn-Token's signature (mint.ts) is always computed inline. A hand-off to the pool and back
 * costs CPU of its own (a pool thread woken and put back to sleep, the answer's wake-up of the event loop, a promise):
 * 15-25 µs of process CPU per call measured on 2 cores, against 28-35 µs for an Ed25519 or ES256 signature and ~60-80
 * µs for a verification. With libuv's default 4 pool threads on 2 cores, sending the signature too put the other
 * threads' CPU per HTTP exchange at 1.5× the verify-only split's, for no less CPU on the event loop. (With
 * UV_THREADPOOL_SIZE=1 a hand-off is cheaper, and sending both measured less CPU: docs/operations.md.)
 *
 * Exchanges that never wait (a memory store, synchronous signatures) run one after another to their end, so the count
 * alone would never see the others queued on their sockets. So one exchange in `PROBE_MS` is offloaded even when it is
 * alone: if requests are waiting, they start while it is on the pool, the count rises, and the rest follow. With none
 * waiting, that costs one hand-off in `PROBE_MS`. And once others were seen in flight, an exchange alone within
 * `BUSY_MS` of that is offloaded too: under load the count drops to 1 between requests read from their sockets, and
 * the next request's verification would otherwise hold the event loop while the others wait.
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

  /** The backend for a verification about to be computed now. */
  verifier(): JwsCrypto {
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
