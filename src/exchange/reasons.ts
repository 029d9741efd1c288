import type { JwtReason } from '../jose/profiles.js';

/**
 * Why the TTS refused a request (or, for `revoke.token_invalid`, why it answered without revoking), as a stable code:
 * `<step>.<check>`, one per check, named after the step of the exchange that refused (request → client → limit →
 * subject | replace → chain → scope → mint; revoke). A JWT refused by its profile carries the profile's reason after
 * the step (`client.assertion.bad_algorithm`, `subject.wrong_type`, `replace.expired`).
 *
 * Where it goes: `OAuthError.reason` and the decision log's `reason_code`. Never into the HTTP answer: the caller gets
 * the OAuth `error` and Baton's `error_description` only, because the code would tell an unauthenticated caller more
 * than RFC 6749 lets it learn (an unknown client from a wrong secret, which check a forged token reached first).
 */
export type RefusalReason =
  // the request (RFC 6749 §5.2, RFC 8693 §2.1; T-01..T-07, T-21)
  | 'request.content_type'
  | 'request.body_too_large'
  | 'request.param_repeated'
  | 'request.grant_type_missing'
  | 'request.grant_type_unsupported'
  | 'request.requested_token_type_missing'
  | 'request.requested_token_type_unsupported'
  | 'request.actor_token'
  | 'request.resource'
  | 'request.audience_missing'
  | 'request.audience_unknown'
  | 'request.scope_missing'
  | 'request.scope_invalid'
  | 'request.scope_too_many'
  | 'request.subject_token_missing'
  | 'request.subject_token_too_large'
  | 'request.subject_token_type_missing'
  | 'request.subject_token_type_refresh'
  | 'request.subject_token_type_unsupported'
  | 'request.json_too_large'
  | 'request.json_syntax'
  | 'request.json_not_object'
  | 'request.json_too_deep'
  // client authentication (T-08)
  | 'client.auth_missing'
  | 'client.auth_multiple'
  | 'client.authorization_scheme'
  | 'client.basic_malformed'
  | 'client.id_missing'
  | 'client.id_mismatch'
  | 'client.unknown'
  | 'client.method_mismatch'
  | 'client.secret_mismatch'
  | 'client.assertion_type'
  | 'client.assertion_missing'
  | 'client.assertion_too_large'
  | 'client.assertion_malformed'
  | 'client.assertion_id_mismatch'
  | `client.assertion.${JwtReason}`
  | 'client.assertion_replayed'
  | 'client.replay_check_unavailable'
  // rate limits (429) and their store
  | 'limit.client'
  | 'limit.subject'
  | 'limit.revoke'
  | 'limit.unavailable'
  // the subject token (T-09..T-11, T-13)
  | 'subject.not_jwt'
  | 'subject.no_iss'
  | 'subject.issuer_untrusted'
  | 'subject.id_token_not_accepted'
  | `subject.${JwtReason}`
  | 'subject.no_scope'
  | 'subject.no_sub'
  | 'subject.required_claim'
  | 'subject.inactive'
  | 'subject.introspection_unavailable'
  | 'subject.discovery_unavailable'
  | 'subject.act_invalid'
  | 'subject.not_entitled'
  | 'subject.self_signed_not_allowed'
  | 'subject.unsigned_not_allowed'
  | 'subject.no_keys'
  | 'subject.self_signed_act'
  | 'subject.unsigned_not_object'
  | 'subject.unsigned_no_sub'
  | 'subject.sub_empty'
  | 'subject.sub_too_long'
  | 'subject.claims_too_deep'
  | 'subject.claims_too_large'
  | 'subject.type_unsupported'
  // replacement (R-01..R-06)
  | `replace.${JwtReason}`
  | 'replace.audience_changed'
  | 'replace.revoked'
  | 'replace.revocation_unavailable'
  | 'replace.tctx_changed'
  // the chain (T-23), the scope (T-14), the token (T-16, issue 10 finding 4)
  | 'chain.too_deep'
  | 'scope.none_granted'
  | 'mint.expires_too_soon'
  | 'mint.too_deep'
  | 'mint.too_large'
  // revocation (V-08)
  | 'revoke.token_or_txn'
  | 'revoke.token_invalid'
  | 'revoke.not_in_transaction'
  | 'revoke.by_id_not_allowed'
  | 'revoke.txn_invalid'
  | 'revoke.store_unavailable'
  // anything else
  | 'store.unavailable'
  | 'internal';
