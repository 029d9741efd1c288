// YAML policy files: importing this module installs the `yaml` package as the engine's parser of policy text (see
// documents.ts). The package entry `baton-tts-policy/yaml`; `yaml` is an optional peer dependency of the engine.
import { parseAllDocuments } from 'yaml';
import { setPolicyYamlParser, type ParsedDocument, type PolicyTextParser } from './documents.js';
import { readPlainYaml } from './yaml-plain.js';

/** The documents of a YAML stream (JSON included), each with its value or its first error. */
export const yamlDocuments: PolicyTextParser = (text) => {
  // Most policy files are plain YAML, read in one pass (yaml-plain.ts gives what the yaml package gives, or declines).
  const plain = readPlainYaml(text);
  if (plain !== undefined) return [plain];
  let docs;
  try {
    docs = parseAllDocuments(text, { prettyErrors: false });
  } catch (e) {
    return [{ error: (e as Error).message }];
  }
  const list = Array.isArray(docs) ? docs : [docs];
  return list.map((d): ParsedDocument => {
    if (d.errors.length > 0) return { error: d.errors[0]!.message };
    try {
      return { value: d.contents === null ? null : (d.toJS() as unknown) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  });
};

setPolicyYamlParser(yamlDocuments);
