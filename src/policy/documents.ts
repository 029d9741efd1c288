// How the text of a policy file becomes documents. The engine reads JSON by itself (a policy bundle, JSON policy
// files); YAML needs the `yaml` package, which `yaml.ts` installs as the parser when it is imported (the Node readers
// `fs.node.ts` and the test-suite runner do). So a service that loads a bundle, e.g. on Workers, never carries a YAML
// parser, and the same text gives the same documents whichever parser reads it.

/** One document of a policy file: its value (`null` for an empty document), or why it could not be parsed. */
export type ParsedDocument = { value: unknown; error?: undefined } | { value?: undefined; error: string };

/** Splits a file into its documents (YAML's `---` separated stream). Never throws: a problem is a document's `error`. */
export type PolicyTextParser = (text: string) => ParsedDocument[];

let yamlParser: PolicyTextParser | undefined;

/** Installs the YAML parser (`yaml.ts` calls this); without one, policy text must be JSON. */
export function setPolicyYamlParser(parser: PolicyTextParser): void {
  yamlParser = parser;
}

/** The documents of a policy file: YAML when a YAML parser is installed (JSON is YAML), else JSON documents. */
export function parsePolicyText(text: string): ParsedDocument[] {
  return yamlParser !== undefined ? yamlParser(text) : parseJsonDocuments(text);
}

const NO_YAML =
  'not JSON, and no YAML parser is loaded (import the policy package\'s "yaml" entry, e.g. baton-tts-policy/yaml, with the yaml package installed; or load a policy bundle)';

/**
 * JSON documents, separated as in a YAML stream by lines holding only `---` (a line that JSON text cannot contain
 * outside a string, and a JSON string cannot span lines). An object with a repeated member name is refused, as YAML
 * refuses a repeated mapping key, instead of letting the last one silently win.
 */
export function parseJsonDocuments(text: string): ParsedDocument[] {
  const parts = text.split(/^---[ \t]*\r?$/m);
  if (parts.length > 1 && parts[0]!.trim() === '') parts.shift(); // a leading `---` starts the first document
  return parts.map((part): ParsedDocument => {
    const t = part.trim();
    if (t === '') return { value: null };
    let value: unknown;
    try {
      value = JSON.parse(t);
    } catch (e) {
      if (!t.startsWith('{') && !t.startsWith('[')) return { error: NO_YAML };
      return { error: (e as Error).message };
    }
    const dup = repeatedMember(t);
    return dup === undefined ? { value } : { error: `repeated member name ${JSON.stringify(dup)} in an object` };
  });
}

/** The first member name repeated within one object of valid JSON text, if any. */
function repeatedMember(json: string): string | undefined {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let i = 0;
  while (i < json.length) {
    const ch = json[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top) {
        let k = j + 1;
        while (k < json.length && /\s/.test(json[k]!)) k++;
        if (json[k] === ':') {
          const name = JSON.parse(json.slice(i, j + 1)) as string;
          if (top.has(name)) return name;
          top.add(name);
        }
      }
      i = j + 1;
      continue;
    }
    if (ch === '{') stack.push(new Set());
    else if (ch === '[') stack.push(null);
    else if (ch === '}' || ch === ']') stack.pop();
    i++;
  }
  return undefined;
}
