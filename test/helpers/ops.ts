/**
 * Operations helpers: reading a Prometheus exposition (`metricValue`), and writing a policy directory for the scope
 * decision (`writeScopePolicy`: a resource policy of kind txn_token allowing the listed scopes to every role).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The value of one sample of a Prometheus text exposition: `name` with at least `labels`; undefined when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Writes `txn_token.yaml` into `dir`: the scopes in `allow` are allowed to every role, the rest denied by default. */
export function writeScopePolicy(dir: string, allow: readonly string[], file = 'txn_token.yaml'): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(
    path,
    ['apiVersion: api.cerbos.dev/v1', 'resourcePolicy:', '  resource: txn_token', '  version: default', '  rules:', `    - actions: [${allow.map((a) => JSON.stringify(a)).join(', ')}]`, '      effect: EFFECT_ALLOW', "      roles: ['*']", ''].join('\n'),
  );
  return path;
}
