import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseConfig, substituteEnv, type Config } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'baton.config.yaml';

export interface LoadedConfig {
  config: Config;
  /** the file it came from, absolute */
  file: string;
  /** resolves a path of the configuration (keys, policies) relative to the file's folder */
  resolvePath(p: string): string;
}

/** Which file: `--config PATH`, else `BATON_CONFIG`, else ./baton.config.yaml. */
export function configPathFrom(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  const i = argv.indexOf('--config');
  if (i >= 0) {
    const p = argv[i + 1];
    if (p === undefined || p.startsWith('--')) throw new ConfigError('--config needs a path');
    return p;
  }
  return env.BATON_CONFIG ?? DEFAULT_CONFIG_FILE;
}

/** The file's content with `${ENV}` substituted, before validation (absolute path, value). */
export function readConfigSource(path: string, env: NodeJS.ProcessEnv = process.env): { file: string; value: unknown } {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`${file}: cannot read configuration (${code})${code === 'ENOENT' ? '; `baton init` writes a starter configuration' : ''}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  return { file, value: substituteEnv(raw, env, file) };
}

/** Reads YAML or JSON, substitutes `${ENV}`, validates. Errors name the file and the field. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { file, value } = readConfigSource(path, env);
  const config = parseConfig(value, file);
  const dir = dirname(file);
  return { config, file, resolvePath: (p) => (isAbsolute(p) ? p : resolve(dir, p)) };
}
