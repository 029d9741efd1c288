/**
 * The names of the Txn-Token world, declared once: the RFC 8693 grant and token-type URNs Baton speaks, the JWS `typ`
 * of a Txn-Token (T-15) and the HTTP header that carries it (V-01). Every room imports them from here.
 */

/** RFC 8693 §2.1 `grant_type` of a token exchange (T-01). */
export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** The Txn-Token (draft-ietf-oauth-transaction-tokens; with an underscore, T-02). */
export const TT_TXN_TOKEN = 'urn:ietf:params:oauth:token-type:txn_token';
export const TT_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
/** A JWT access token (RFC 9068), read as an access token. */
export const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TT_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
/** Never accepted as a subject (T-06). */
export const TT_REFRESH_TOKEN = 'urn:ietf:params:oauth:token-type:refresh_token';
/** A subject signed by the workload's own key (Baton's profile, T-10). */
export const TT_SELF_SIGNED = 'urn:ietf:params:oauth:token-type:self_signed';
/** A subject given as a JSON object (Baton's profile, T-10). */
export const TT_UNSIGNED_JSON = 'urn:ietf:params:oauth:token-type:unsigned_json';
/** RFC 7523 `client_assertion_type` of private_key_jwt (T-08). */
export const CLIENT_ASSERTION_JWT = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The subject token types a TTS accepts, in the order the profile lists them. */
export const SUBJECT_TOKEN_TYPES = [TT_ACCESS_TOKEN, TT_JWT, TT_ID_TOKEN, TT_SELF_SIGNED, TT_UNSIGNED_JSON, TT_TXN_TOKEN] as const;
export type SubjectTokenType = (typeof SUBJECT_TOKEN_TYPES)[number];

/** JWS `typ` of a Txn-Token, exactly (T-15, V-03). */
export const TXN_TOKEN_TYP = 'txntoken+jwt';

/** The request header that carries a Txn-Token, alone and unmodified (V-01, V-10). */
export const TXN_TOKEN_HEADER = 'Txn-Token';
