import * as z from 'zod';
import { BoundedReadError, mediaType, readBoundedText } from './bounded-read.js';

/**
 * Discovery of a subject issuer's metadata (issue 17): OpenID Connect Discovery 1.0 (`<issuer>/.well-known/
 * openid-configuration`), else RFC 8414 (`/.well-known/oauth-authorization-server` inserted before the issuer's path).
 * The metadata's `issuer` must equal the configured issuer exactly (OIDC Discovery §4.3, RFC 8414 §3.3); otherwise it
 * is refused like an unreachable endpoint. Web-standard only (Node and Workers).
 *
 * - Each request is bounded (`timeoutMs`), each answer at most MAX_METADATA_BYTES.
 * - Good metadata is used for `refreshSeconds`, then fetched again in the background while the last good metadata
 *   keeps serving; a failed refresh keeps it.
 * - Without good metadata, a failure is DiscoveryUnavailable (the exchange fails closed with 503) and the next
 *   attempt waits: 1 s after the first failure, doubling up to 60 s. During that wait the error is answered at once,
 *   without a request (an IdP that is down is not hammered by every exchange). Concurrent callers share one request.
 */

export const MAX_METADATA_BYTES = 64 * 1024;

const httpUrl = z.url({ protocol: /^https?$/ });
const metadataSchema = z.looseObject({
  issuer: z.string().min(1),
  jwks_uri: httpUrl.optional(),
  introspection_endpoint: httpUrl.optional(),
  introspection_endpoint_auth_methods_supported: z.array(z.string()).optional(),
});
export type IssuerMetadata = z.output<typeof metadataSchema>;

/** Discovery failed; the message is safe to show (no URL, no body). */
export class DiscoveryUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiscoveryUnavailable';
  }
}

export interface MetadataSourceOptions {
  issuer: string;
  timeoutMs: number;
  refreshSeconds: number;
  fetch?: typeof fetch;
  /** milliseconds since the epoch (tests) */
  now?: () => number;
  /** back-off after the first failure, doubling per failure up to `maxBackoffMs` (defaults 1 s and 60 s) */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** The two well-known locations, in the order tried. */
export function wellKnownUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, '');
  return [`${u.origin}${path}/.well-known/openid-configuration`, `${u.origin}/.well-known/oauth-authorization-server${path}`];
}

export class IssuerMetadataSource {
  readonly #o: MetadataSourceOptions;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  #current: { metadata: IssuerMetadata; fetchedAt: number } | undefined;
  #inflight: Promise<IssuerMetadata> | undefined;
  #failures = 0;
  #retryAt = 0;
  #lastError: DiscoveryUnavailable | undefined;
  #requests = 0;

  constructor(o: MetadataSourceOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
  }

  /** metadata requests sent so far */
  get requests(): number {
    return this.#requests;
  }

  async get(): Promise<IssuerMetadata> {
    const now = this.#now();
    const cur = this.#current;
    if (cur !== undefined) {
      if (now >= cur.fetchedAt + this.#o.refreshSeconds * 1000 && now >= this.#retryAt) this.#start().catch(() => {}); // refresh in the background
      return cur.metadata;
    }
    if (this.#inflight === undefined && now < this.#retryAt)
      throw new DiscoveryUnavailable(`${this.#lastError?.message ?? 'discovery failed'}; next attempt in ${Math.ceil((this.#retryAt - now) / 1000)} s`);
    return this.#start();
  }

  #start(): Promise<IssuerMetadata> {
    this.#inflight ??= this.#discover().then(
      (metadata) => {
        this.#current = { metadata, fetchedAt: this.#now() };
        this.#failures = 0;
        this.#retryAt = 0;
        this.#lastError = undefined;
        this.#inflight = undefined;
        return metadata;
      },
      (e: unknown) => {
        const err = e instanceof DiscoveryUnavailable ? e : new DiscoveryUnavailable('discovery failed', { cause: e });
        const min = this.#o.minBackoffMs ?? 1_000;
        const max = this.#o.maxBackoffMs ?? 60_000;
        this.#retryAt = this.#now() + Math.min(max, min * 2 ** Math.min(this.#failures, 30));
        this.#failures++;
        this.#lastError = err;
        this.#inflight = undefined;
        throw err;
      },
    );
    return this.#inflight;
  }

  async #discover(): Promise<IssuerMetadata> {
    const [oidc, oauth] = wellKnownUrls(this.#o.issuer) as [string, string];
    const first = await this.#fetchMetadata(oidc);
    if (first !== 'not_found') return first;
    const second = await this.#fetchMetadata(oauth);
    if (second !== 'not_found') return second;
    throw new DiscoveryUnavailable('the subject issuer publishes no metadata (OpenID Connect or RFC 8414 well-known URL: 404)');
  }

  async #fetchMetadata(url: string): Promise<IssuerMetadata | 'not_found'> {
    const t = this.#o.timeoutMs;
    this.#requests++;
    let response: Response;
    try {
      // redirects are never followed (a 3xx is a failure); 'manual', since workerd has no redirect: 'error'
      response = await this.#fetch(url, { headers: { accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(t) });
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
      throw new DiscoveryUnavailable(timedOut ? `the subject issuer's metadata did not arrive within ${t} ms` : "the subject issuer's metadata cannot be fetched", { cause: e });
    }
    if (response.status === 404) {
      await response.body?.cancel().catch(() => {});
      return 'not_found';
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new DiscoveryUnavailable(`the subject issuer's metadata endpoint answered HTTP ${response.status}`);
    }
    if (mediaType(response) !== 'application/json') {
      await response.body?.cancel().catch(() => {});
      throw new DiscoveryUnavailable("the subject issuer's metadata is not JSON");
    }
    let text: string;
    try {
      text = await readBoundedText(response, MAX_METADATA_BYTES, t);
    } catch (e) {
      throw new DiscoveryUnavailable(`the subject issuer's metadata: ${e instanceof BoundedReadError ? e.message : 'unreadable'}`, { cause: e });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new DiscoveryUnavailable("the subject issuer's metadata is not JSON", { cause: e });
    }
    const r = metadataSchema.safeParse(json);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new DiscoveryUnavailable(`the subject issuer's metadata is invalid: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    }
    if (r.data.issuer !== this.#o.issuer) throw new DiscoveryUnavailable("the subject issuer's metadata names another issuer (it must equal the configured issuer exactly)");
    return r.data;
  }
}
