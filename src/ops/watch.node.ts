/**
 * `baton serve --watch` (development): a change under the policy directory or the key directory reloads the serving
 * set, as SIGHUP does. Changes are gathered for a moment (an editor writes a file in several steps) before one reload.
 */
import { watch, type FSWatcher } from 'node:fs';

export interface Watching {
  close(): void;
}

export function watchAndReload(dirs: readonly string[], reload: (trigger: string) => unknown, o: { debounceMs?: number; say?: (m: string) => void } = {}): Watching {
  const watchers: FSWatcher[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const changed = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload('watch');
    }, o.debounceMs ?? 200);
  };
  for (const dir of dirs) {
    try {
      watchers.push(watch(dir, { recursive: true, persistent: false }, changed));
    } catch (e) {
      o.say?.(`--watch: cannot watch ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'}); SIGHUP still reloads`);
    }
  }
  return {
    close() {
      if (timer !== undefined) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
