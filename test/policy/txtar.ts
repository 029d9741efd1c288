// txtar archives (Go testdata format) as the Cerbos conformance data stores multi-file cases.

/** Parse a txtar archive: `-- name --` headers followed by content. */
export function parseTxtar(text: string): Map<string, string> {
  const files = new Map<string, string>();
  let name: string | undefined;
  let buf: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^-- (.+) --$/.exec(line);
    if (m) {
      if (name !== undefined) files.set(name, buf.join('\n'));
      name = m[1]!.trim();
      buf = [];
    } else if (name !== undefined) buf.push(line);
  }
  if (name !== undefined) files.set(name, buf.join('\n'));
  return files;
}
