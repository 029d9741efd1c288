// A StrykerJS ignorer (stryker.config.mjs `ignorers: ['baton-descriptions']`): mutants of human-readable error text are
// not tested. It ignores the string or template literal passed as the description of an error (the `message` of
// Error/TypeError/RangeError/JwsFormatError, the description of OAuthError/JwtProfileError/TxnTokenError and their
// factories), the texts of the REFUSED description tables, and the "typ must be …" text of verifyWith. Never ignored:
// error codes, reason codes, claim names, header values, or any literal that decides. Why: docs/mutation.md.
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';

/** callee name -> index of its description argument */
const DESCRIPTION_ARG = new Map([
  ['Error', 0], ['TypeError', 0], ['RangeError', 0], ['JwsFormatError', 0], ['StoreUnavailableError', 0],
  ['OAuthError', 1], ['JwtProfileError', 1], ['TxnTokenError', 1],
  ['invalidRequest', 1], ['invalidClient', 1], ['unavailable', 1], ['invalid', 1],
  ['verifyWith', 3],
]);

function calleeName(call) {
  const c = call.callee;
  if (c.type === 'Identifier') return c.name;
  if (c.type === 'MemberExpression' && c.property.type === 'Identifier') return c.property.name;
  return undefined;
}

function isText(node) {
  return node.type === 'StringLiteral' || node.type === 'TemplateLiteral';
}

const ignorer = {
  shouldIgnore(path) {
    const node = path.node;
    if (!isText(node)) return undefined;
    const parent = path.parent;
    if ((parent.type === 'CallExpression' || parent.type === 'NewExpression') && path.listKey === 'arguments') {
      const at = DESCRIPTION_ARG.get(calleeName(parent));
      if (at !== undefined && at === path.key) return 'error description text (docs/mutation.md)';
    }
    if (parent.type === 'ObjectProperty' && path.key === 'value') {
      const decl = path.parentPath.parentPath?.parent;
      if (decl?.type === 'VariableDeclarator' && decl.id.type === 'Identifier' && decl.id.name === 'REFUSED')
        return 'error description text (docs/mutation.md)';
    }
    return undefined;
  },
};

export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, 'baton-descriptions', ignorer)];
