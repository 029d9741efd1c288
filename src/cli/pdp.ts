// `baton pdp`: the decision point alone (the Cerbos HTTP API, AuthZEN, forward auth), like `cerbos server`.
// SIGHUP reads the policies again and swaps them in at once (a directory that does not load keeps the old ones);
// SIGTERM/SIGINT drain and exit.
import { dirname, isAbsolute, resolve } from 'node:path';
import { readConfigSource } from '../config/load.node.js';
import { pdpFileSchema, type PdpFileConfig } from '../config/pdp.js';
import { ConfigError, formatIssues } from '../config/schema.js';
import { createDecisionLogger, flushStdoutLines } from '../log/index.js';
import { installNodeLineWriter } from '../log/sink.node.js';

export interface PdpCommand {
  config: string | undefined;
  policies: string | undefined;
  port: number | undefined;
  host: string | undefined;
  /** --schema-enforcement: over the file's `schemaEnforcement` */
  schemaEnforcement?: string | undefined;
}

/** The settings: the file (when given) validated by pdpFileSchema, the flags over it. Errors name the file and field. */
export function pdpSettings(c: PdpCommand): { config: PdpFileConfig; policies: string } {
  let raw: unknown = {};
  let base = process.cwd();
  if (c.config !== undefined) {
    const src = readConfigSource(c.config);
    raw = src.value ?? {};
    base = dirname(src.file);
  }
  if (c.schemaEnforcement !== undefined) {
    if (c.schemaEnforcement !== 'none' && c.schemaEnforcement !== 'warn' && c.schemaEnforcement !== 'reject') throw new ConfigError(`--schema-enforcement: must be none, warn or reject (got ${JSON.stringify(c.schemaEnforcement)})`);
    raw = { ...(raw as Record<string, unknown>), schemaEnforcement: c.schemaEnforcement };
  }
  const r = pdpFileSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(formatIssues(r.error.issues, c.config ?? 'pdp'));
  const config = { ...r.data, ...(c.port !== undefined ? { port: c.port } : {}), ...(c.host !== undefined ? { host: c.host } : {}) };
  const dir = c.policies ?? (config.policies === undefined ? undefined : isAbsolute(config.policies) ? config.policies : resolve(base, config.policies));
  if (dir === undefined) throw new ConfigError('no policies: give --policies DIR (or policies: in the --config file)');
  return { config, policies: resolve(dir) };
}

export async function pdpCommand(c: PdpCommand): Promise<number> {
  const { config, policies } = pdpSettings(c);
  const { startPdp } = await import('../node.js');
  const decisions = process.env['BATON_DECISION_LOG'] !== 'off';
  // decision lines on stdout as `baton serve` writes them: batched asynchronous writes, bounded, scrubbed and rendered
  // in the batch (src/log/sink.node.ts), never one synchronous console.log per decision
  installNodeLineWriter();
  const running = await startPdp({ config, policies, ...(decisions ? { onDecision: createDecisionLogger().sink } : {}) });
  const say = (m: string): void => console.error(`baton: ${m}`);
  say(`PDP serving on ${running.url} (policies: ${policies}; Cerbos HTTP API, AuthZEN 1.0${config.routes.length > 0 ? `, forward auth: ${config.routes.length} routes` : ''})`);
  process.on('SIGHUP', () => {
    running.reload().catch((e: unknown) => say(`reload failed, the current policies stay: ${(e as Error).message.split('\n')[0]}`));
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: shutting down`);
    void running.close({ graceMs: 5000 }).finally(() => {
      flushStdoutLines();
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return new Promise<number>(() => {});
}
