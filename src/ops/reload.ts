/**
 * Reload without restart: the holder of what a server serves with (the TTS's signing keys and scope policy, the
 * decision point's engine). A new set is built beside the one serving and swapped in one assignment; a set that fails
 * to build keeps the old one serving, and the failure (file, field, message) is kept for `/readyz` and the metrics.
 * Whoever serves reads `current` once per request, so a request in flight finishes on the set it started with.
 * Workers-safe (a Worker's set comes with its deployment: it never reloads).
 */

/** One reason a new set was refused: the file and the field of it, when known. */
export interface ReloadProblem {
  file?: string | undefined;
  field?: string | undefined;
  message: string;
}

export interface ReloadStatus {
  /** 1 for the set loaded at start, +1 for each set swapped in */
  generation: number;
  /** when the set serving now was loaded */
  loadedAt: string;
  /** reloads that swapped a set in, and that were refused */
  reloads: { ok: number; failed: number };
  /** the last refused reload, when it is newer than the set serving */
  lastFailure?: { at: string; trigger: string; problems: ReloadProblem[] } | undefined;
}

/**
 * The problems of a failed load: an error carrying `issues` ({ file, path, message }, as the policy loader and the key
 * loader throw) is listed issue by issue; any other error is its message alone.
 */
export function problemsOf(e: unknown): ReloadProblem[] {
  const issues = (e as { issues?: unknown } | null)?.issues;
  if (Array.isArray(issues) && issues.length > 0)
    return issues.map((i: { file?: unknown; path?: unknown; field?: unknown; message?: unknown }) => ({
      ...(typeof i.file === 'string' ? { file: i.file } : {}),
      ...(typeof i.path === 'string' ? { field: i.path } : typeof i.field === 'string' ? { field: i.field } : {}),
      message: typeof i.message === 'string' ? i.message : String(i.message),
    }));
  return [{ message: e instanceof Error ? e.message : String(e) }];
}

/** A problem as one line for the operator's log. */
export function problemLine(p: ReloadProblem): string {
  return `${p.file ?? '(no file)'}${p.field !== undefined ? ` ${p.field}` : ''}: ${p.message}`;
}

export interface ReloadableOptions<T> {
  /** builds a new set (reads the files again); throws when the set is invalid */
  load: () => Promise<T>;
  /** one line per event for the operator (reloaded, refused with file and field) */
  say?: ((message: string) => void) | undefined;
  /** how a set is named in those lines (e.g. its policy hash and key id) */
  describe?: ((set: T) => string) | undefined;
  now?: (() => Date) | undefined;
}

export class Reloadable<T> {
  #current: T;
  #generation = 1;
  #loadedAt: Date;
  #ok = 0;
  #failed = 0;
  #lastFailure: ReloadStatus['lastFailure'];
  #running: Promise<boolean> | undefined;
  #pending: Promise<boolean> | undefined;
  readonly #listeners: Array<(next: T) => void> = [];
  readonly #o: ReloadableOptions<T>;

  constructor(initial: T, o: ReloadableOptions<T>) {
    this.#current = initial;
    this.#o = o;
    this.#loadedAt = (o.now ?? (() => new Date()))();
  }

  /** The set serving now: read it once per request. */
  get current(): T {
    return this.#current;
  }

  /** Called with each set swapped in (after the swap). */
  onSwap(listener: (next: T) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Builds a new set and swaps it in; resolves true when swapped, false when refused (the old set keeps serving).
   * Reloads never overlap: one asked for while another runs starts once that one ends (the files may have changed).
   */
  reload(trigger: string): Promise<boolean> {
    if (this.#running !== undefined) {
      // one follow-up for every request made meanwhile
      this.#pending ??= this.#running.then(() => {
        this.#pending = undefined;
        return this.reload(trigger);
      });
      return this.#pending;
    }
    this.#running = this.#reloadOnce(trigger).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #reloadOnce(trigger: string): Promise<boolean> {
    const now = this.#o.now ?? (() => new Date());
    let next: T;
    try {
      next = await this.#o.load();
    } catch (e) {
      this.#failed++;
      const problems = problemsOf(e);
      this.#lastFailure = { at: now().toISOString(), trigger, problems };
      for (const p of problems) this.#o.say?.(`reload (${trigger}) refused, the previous set keeps serving: ${problemLine(p)}`);
      return false;
    }
    this.#current = next;
    this.#generation++;
    this.#ok++;
    this.#loadedAt = now();
    this.#lastFailure = undefined;
    for (const l of this.#listeners) l(next);
    this.#o.say?.(`reload (${trigger}): generation ${this.#generation} serving${this.#o.describe !== undefined ? ` (${this.#o.describe(next)})` : ''}`);
    return true;
  }

  status(): ReloadStatus {
    return {
      generation: this.#generation,
      loadedAt: this.#loadedAt.toISOString(),
      reloads: { ok: this.#ok, failed: this.#failed },
      ...(this.#lastFailure !== undefined ? { lastFailure: this.#lastFailure } : {}),
    };
  }
}
