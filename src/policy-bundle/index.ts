// A policy bundle: a whole policy directory as ONE JSON document, for runtimes without a file system (Cloudflare
// Workers). `baton policy build [DIR] --out FILE` writes it (src/cli/policy-build.ts); the Worker imports the file and
// loads it with `loadPolicyBundle`, which validates it and builds the SAME engine as Node (`createEngine` over the same
// documents), so decisions are identical. Workers-safe: Web Crypto only, no Node API.
//
// Format (version 1), deterministic for a given directory (no timestamps), so a stale bundle shows up as a diff:
//   { "format": "baton.policy-bundle", "formatVersion": 1, "hash": "sha256:<hex>", "version": "<first 12 hex>",
//     "source": "policies", "policyCount": 5,
//     "policies": [ { "name": "resources/ticket.yaml", "documents": [ { ...the parsed policy... } ] }, ... ] }
// `hash` is SHA-256 over the canonical JSON of `policies` (object keys sorted), so any edit to the documents is caught.
import * as z from 'zod';
import { createEngine, parsePolicyText, PolicyLoadError, type Engine, type PolicySource } from '../policy/index.js';
import { SCHEMA_DIR } from '../policy/compile.js';

export const POLICY_BUNDLE_FORMAT = 'baton.policy-bundle';
export const POLICY_BUNDLE_FORMAT_VERSION = 1;

export interface PolicyBundleEntry {
  /** path of the policy file relative to the policy directory (`/`-separated), used in error messages */
  name: string;
  /**
   * the file's documents (a YAML file may hold several), parsed to plain JSON values; a JSON schema under `_schemas/`
   * may also be `true` or `false` (JSON Schema's boolean schemas)
   */
  documents: (Record<string, unknown> | boolean)[];
}

export interface PolicyBundle {
  format: typeof POLICY_BUNDLE_FORMAT;
  formatVersion: typeof POLICY_BUNDLE_FORMAT_VERSION;
  hash: string;
  version: string;
  source: string;
  policyCount: number;
  policies: PolicyBundleEntry[];
}

export interface LoadedPolicyBundle {
  engine: Engine;
  hash: string;
  version: string;
  source: string;
  policyCount: number;
  /** the sources handed to `createEngine` (what Node would read from the directory, as JSON) */
  sources: PolicySource[];
}

/** The bundle is missing, malformed, tampered with, or its policies do not load. The message says which. */
export class PolicyBundleError extends Error {
  override readonly name = 'PolicyBundleError';
  readonly code = 'policy_bundle_invalid' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(`policy bundle: ${message}`, options);
  }
}

const bundleSchema = z.strictObject({
  format: z.literal(POLICY_BUNDLE_FORMAT, { error: `must be "${POLICY_BUNDLE_FORMAT}" (build it with: baton policy build DIR --out FILE)` }),
  formatVersion: z.literal(POLICY_BUNDLE_FORMAT_VERSION, { error: `unsupported format version (this Baton reads ${POLICY_BUNDLE_FORMAT_VERSION}; rebuild the bundle)` }),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex>'),
  version: z.string().min(1),
  source: z.string(),
  policyCount: z.number().int().min(0),
  policies: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        documents: z.array(z.union([z.record(z.string(), z.unknown()), z.boolean()])).min(1, 'at least one document'),
      }),
    )
    .min(1, 'the bundle holds no policy'),
});

/** JSON with object keys sorted at every level: the bytes the hash is computed over. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new PolicyBundleError(`non-finite number ${String(value)} cannot be bundled`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** What `createEngine` receives for a bundle entry: the documents as JSON (YAML's multi-document form when several). */
function toSource(e: PolicyBundleEntry): PolicySource {
  return { name: e.name, content: e.documents.map((d) => JSON.stringify(d)).join('\n---\n') };
}

function docsOf(src: PolicySource): PolicyBundleEntry['documents'] {
  const out: PolicyBundleEntry['documents'] = [];
  for (const d of parsePolicyText(src.content)) {
    if (d.error !== undefined) throw new PolicyBundleError(`${src.name}: invalid YAML/JSON: ${d.error}`);
    const v: unknown = d.value;
    if (v === null || v === undefined) continue; // an empty document, as the engine skips it
    // a boolean schema (`true`: anything, `false`: nothing), as the engine loads it from the directory
    if (typeof v === 'boolean' && src.name.startsWith(SCHEMA_DIR)) {
      out.push(v);
      continue;
    }
    if (typeof v !== 'object' || Array.isArray(v)) throw new PolicyBundleError(`${src.name}: a policy document must be a mapping`);
    canonicalJson(v); // refuses values JSON cannot carry
    out.push(v as Record<string, unknown>);
  }
  return out;
}

/**
 * Builds a bundle from policy sources (as `readPolicies(dir)` returns them) and validates it by loading it exactly as
 * the Worker will. Throws `PolicyLoadError` (file, path, message) when a policy is invalid.
 */
export async function buildPolicyBundle(sources: readonly PolicySource[], options: { source?: string } = {}): Promise<PolicyBundle> {
  const policies = [...sources]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => ({ name: s.name, documents: docsOf(s) }))
    .filter((e) => e.documents.length > 0);
  if (policies.length === 0) throw new PolicyBundleError('no policy files found');
  const hex = await sha256Hex(canonicalJson(policies));
  const engine = createEngine({ policies: policies.map(toSource) });
  const bundle: PolicyBundle = {
    format: POLICY_BUNDLE_FORMAT,
    formatVersion: POLICY_BUNDLE_FORMAT_VERSION,
    hash: `sha256:${hex}`,
    version: hex.slice(0, 12),
    source: options.source ?? '',
    policyCount: engine.policyCount,
    policies,
  };
  await loadPolicyBundle(bundle); // the same path as the Worker: what is written is known to load
  return bundle;
}

/**
 * Validates a bundle (shape, hash, every policy) and builds the engine. Fails closed with `PolicyBundleError`
 * naming what is wrong; nothing is loaded partially.
 */
export async function loadPolicyBundle(value: unknown): Promise<LoadedPolicyBundle> {
  if (value === undefined || value === null) throw new PolicyBundleError('missing (build it with: baton policy build DIR --out FILE)');
  const r = bundleSchema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new PolicyBundleError(`${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
  }
  const b = r.data as PolicyBundle;
  let hex: string;
  try {
    hex = await sha256Hex(canonicalJson(b.policies));
  } catch (e) {
    if (e instanceof PolicyBundleError) throw e;
    throw new PolicyBundleError(`cannot hash: ${(e as Error).message}`);
  }
  if (`sha256:${hex}` !== b.hash) throw new PolicyBundleError(`hash mismatch: the policies were edited after the bundle was built (rebuild it)`);
  const sources = b.policies.map(toSource);
  let engine: Engine;
  try {
    engine = createEngine({ policies: sources });
  } catch (e) {
    if (e instanceof PolicyLoadError) throw new PolicyBundleError(e.message, { cause: e });
    throw new PolicyBundleError(`cannot load: ${(e as Error).message}`, { cause: e });
  }
  if (engine.policyCount !== b.policyCount) throw new PolicyBundleError(`policyCount ${b.policyCount} does not match the ${engine.policyCount} policies loaded`);
  return { engine, hash: b.hash, version: b.version, source: b.source, policyCount: engine.policyCount, sources };
}
