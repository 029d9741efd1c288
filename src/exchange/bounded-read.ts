/**
 * Reads a fetch Response body as UTF-8 text, at most `maxBytes`, within `timeoutMs` (a slow or endless body from a
 * remote IdP never holds an exchange). Web-standard only (Node and Workers).
 */
export class BoundedReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BoundedReadError';
  }
}

export async function readBoundedText(response: Response, maxBytes: number, timeoutMs: number): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const deadline = Date.now() + timeoutMs;
  const late = () => new BoundedReadError(`the answer did not arrive within ${timeoutMs} ms`);
  try {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw late();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(late()), left);
      });
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await Promise.race([reader.read(), timeout]);
      } finally {
        clearTimeout(timer);
      }
      if (r.done) break;
      size += r.value.byteLength;
      if (size > maxBytes) throw new BoundedReadError(`the answer exceeds ${maxBytes} bytes`);
      chunks.push(r.value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof BoundedReadError) throw e;
    // the request's own AbortSignal.timeout ends the body stream too: that is the same time bound
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) throw late();
    throw new BoundedReadError('the answer could not be read', { cause: e });
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const ch of chunks) {
    all.set(ch, off);
    off += ch.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch (e) {
    throw new BoundedReadError('the answer is not UTF-8', { cause: e });
  }
}

/** The media type of a response, lower case, without parameters. */
export function mediaType(response: Response): string {
  return (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}
