import { readCapped } from '../jose/json-bounds.js';

/**
 * Reads a fetch Response body from a remote IdP (introspection answers, discovery metadata) as UTF-8 text, at most
 * `maxBytes` (jose/json-bounds.ts `readCapped`). Its time bound is the request's: the AbortSignal.timeout given to
 * fetch also ends the body stream, so a slow or endless body never holds an exchange. Web-standard only.
 */
export class BoundedReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BoundedReadError';
  }
}

export async function readBoundedText(response: Response, maxBytes: number, timeoutMs: number): Promise<string> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readCapped(response.body, maxBytes);
  } catch (e) {
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) throw new BoundedReadError(`the answer did not arrive within ${timeoutMs} ms`, { cause: e });
    throw new BoundedReadError('the answer could not be read', { cause: e });
  }
  if (bytes === undefined) throw new BoundedReadError(`the answer exceeds ${maxBytes} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new BoundedReadError('the answer is not UTF-8', { cause: e });
  }
}

/** The media type of a response, lower case, without parameters. */
export function mediaType(response: Response): string {
  return (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}
