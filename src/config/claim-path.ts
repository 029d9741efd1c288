/**
 * Claim paths: where in a token's claims (or an introspection response) a value is read from. One small grammar,
 * decided when the configuration is loaded, never by the token:
 *
 *   roles                          a top-level claim
 *   realm_access.roles             nested members, separated by `.`; a plain segment is letters, digits, `_`, `-`, `$`
 *   resource_access.{client}.roles `{client}`: one segment, the requesting workload's client id at the IdP
 *                                  (`clientIds` of the subject issuer maps Baton's client ids to the IdP's)
 *   ["https://example.com/roles"]  any member name, written as a JSON string in brackets (dots, slashes, anything)
 *   ["https://example.com/app"].roles, resource_access["my.client"].roles   the two combined
 *
 * Backwards compatibility: a name without brackets or braces that contains a character other than the plain-segment
 * characters and `.` (`https://example.com/roles`, `cognito:groups`) is one top-level claim name, as before paths
 * existed. A name of plain characters and dots is a path: a top-level claim literally named `a.b` is written `["a.b"]`.
 * A string with brackets or braces must be a well-formed path (a typo is an error, never a silently different claim).
 *
 * Pure (no imports): used by the configuration schema to validate, and by the exchange to read claims.
 */

export type ClaimPathSegment = { readonly key: string } | { readonly placeholder: 'client' };

export interface ClaimPath {
  /** the path as configured (for messages; never a token value) */
  readonly source: string;
  readonly segments: readonly ClaimPathSegment[];
}

export class ClaimPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClaimPathError';
  }
}

const PLAIN = /^[A-Za-z0-9_$-]+$/;
const PLAIN_OR_DOT = /^[A-Za-z0-9_$.-]+$/;
const PLAIN_CHAR = /[A-Za-z0-9_$-]/;
const PLACEHOLDER = '{client}';

/** Parses a configured claim path. Throws ClaimPathError naming what is wrong. */
export function parseClaimPath(source: string): ClaimPath {
  if (source.length === 0) throw new ClaimPathError('a claim path must not be empty');
  if (!/[[\]{}]/.test(source)) {
    // no brackets, no placeholder: a plain dotted path, or (any other character) one literal claim name
    if (!PLAIN_OR_DOT.test(source)) return { source, segments: [{ key: source }] };
    const parts = source.split('.');
    if (parts.some((p) => !PLAIN.test(p))) throw new ClaimPathError(`claim path ${source}: empty segment (a leading, trailing or doubled dot)`);
    return { source, segments: parts.map((key) => ({ key })) };
  }
  const segments: ClaimPathSegment[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new ClaimPathError(`claim path ${source}: ${what} at character ${i + 1}`);
  };
  /** one segment at `i`: plain, {client}, or ["…"]; `dotted`: it followed a dot (brackets never follow a dot) */
  const segment = (dotted: boolean): void => {
    if (source.startsWith(PLACEHOLDER, i)) {
      segments.push({ placeholder: 'client' });
      i += PLACEHOLDER.length;
      return;
    }
    if (source[i] === '[') {
      if (dotted) fail('a bracketed name follows its parent directly, without a dot');
      i++;
      if (source[i] !== '"') fail('a bracketed name is a JSON string ["…"]');
      let j = i + 1;
      while (j < source.length && source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
      if (j >= source.length) fail('unterminated string');
      let key: unknown;
      try {
        key = JSON.parse(source.slice(i, j + 1));
      } catch {
        fail('invalid JSON string');
      }
      if (typeof key !== 'string' || key.length === 0) fail('empty member name');
      i = j + 1;
      if (source[i] !== ']') fail('expected ]');
      i++;
      segments.push({ key: key as string });
      return;
    }
    const start = i;
    while (i < source.length && PLAIN_CHAR.test(source[i]!)) i++;
    if (i === start) fail(source[i] === undefined ? 'missing segment' : `unexpected ${JSON.stringify(source[i])}`);
    segments.push({ key: source.slice(start, i) });
  };
  segment(false);
  while (i < source.length) {
    if (source[i] === '.') {
      i++;
      segment(true);
    } else if (source[i] === '[') {
      segment(false);
    } else {
      fail(`unexpected ${JSON.stringify(source[i])}`);
    }
  }
  return { source, segments };
}

/** Whether a path uses the `{client}` placeholder. */
export function usesClientPlaceholder(p: ClaimPath): boolean {
  return p.segments.some((s) => 'placeholder' in s);
}

/**
 * The value at `path` in `claims`: own members of plain objects only (never a prototype's, never through an array).
 * Undefined when any step is missing. `client` replaces `{client}`; a path with the placeholder reads nothing when
 * no client is known.
 */
export function readClaimPath(claims: Readonly<Record<string, unknown>>, path: ClaimPath, client: string | undefined): unknown {
  let v: unknown = claims;
  for (const s of path.segments) {
    const key = 'key' in s ? s.key : client;
    if (key === undefined || v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
