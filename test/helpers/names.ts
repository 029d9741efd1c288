/**
 * The names every suite shares (runtime-neutral: Node and workerd). The URNs are the product's own (src/txn/urns.ts).
 */

/** The trust domain of every test TTS and verifier (`aud` of its Txn-Tokens). */
export const TRUST_DOMAIN = 'support.example';
/** The MCP server a test user's access token is issued to (its `aud`). */
export const MCP_AUD = 'https://mcp.support.example';

/** RFC 6749 §2.3.1 `client_secret_basic`: `Basic base64(urlencode(id) ":" urlencode(secret))`. A value that cannot be
 * percent-encoded (a lone surrogate) is sent as is (the fuzz suite sends such values). */
export function basic(id: string, secret: string): string {
  const enc = (s: string): string => {
    try {
      return encodeURIComponent(s);
    } catch {
      return s;
    }
  };
  let bin = '';
  for (const b of new TextEncoder().encode(`${enc(id)}:${enc(secret)}`)) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}
