//! Stable reason codes, one type for every edgeward filter.
//!
//! A reason code appears in the problem+json body (`reason`, and `type` as
//! `urn:edgeward:problem:<code>`), in filter state, in logs, in metric labels
//! and in `%RESPONSE_CODE_DETAILS%`. Clients and operators match on it, so a
//! code never changes meaning once released. Codes are unique across filters.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    // ---- every filter ----
    /// The host failed a call the decision depends on (headers unreadable,
    /// identity not publishable). Fails closed.
    InternalError,
    /// The filter has no configuration (cannot happen once Envoy accepted it).
    FilterUnconfigured,
    /// The request path is not in canonical form (dot segments, `%2F`,
    /// `\`, `;`, encoded unreserved characters, `//`, control bytes).
    NonCanonicalPath,
    /// A body the filter must read has a missing, disallowed, repeated or
    /// oddly parameterised content type, or a content encoding.
    UnsupportedMediaType,
    /// The body is larger than the filter's limit.
    BodyTooLarge,
    /// The body is not strict JSON (invalid UTF-8, a duplicated key,
    /// trailing data, nesting past the bound) or its length is malformed.
    InvalidBody,

    // ---- JWT ----
    /// No token in any location the provider reads.
    MissingToken,
    /// More than one token where only one may be.
    MultipleTokens,
    /// Longer than the provider's `max_token_bytes`.
    TokenTooLarge,
    /// Not a well-formed compact JWS with strictly typed claims.
    Malformed,
    /// `alg` is `none`, unknown, or not in the provider's allowlist.
    AlgNotAllowed,
    /// `typ` header absent or different from the required one.
    TypMismatch,
    /// `kid` names no key in the JWKS (after a refetch, if one was allowed).
    UnknownKid,
    /// No key in the JWKS fits the token's `alg`.
    KeyAlgMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the clock skew).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the clock skew).
    NotYetValid,
    /// `exp` is required and absent.
    MissingExp,
    /// The token lives longer than the provider's `max_lifetime_s`.
    LifetimeTooLong,
    /// `iss` is not the provider's issuer.
    IssuerMismatch,
    /// No `aud` value is among the provider's audiences.
    AudienceMismatch,
    /// The provider's keys could not be obtained in time.
    JwksUnavailable,
    /// The request matched no JWT rule and unmatched requests are denied.
    NoRuleMatched,
    /// A claim mapped to a header holds characters a header cannot carry
    /// (CR, LF, NUL, non-ASCII) and the mapping says deny.
    UnsafeClaimValue,

    // ---- rate limit ----
    /// A rate-limit policy's quota is spent (429, `Retry-After`).
    QuotaExceeded,
    /// The Rate Limit Service could not answer and the policy's
    /// `failure_mode` is `deny` (503).
    RateLimitUnavailable,

    // ---- tenant authorization ----
    /// The request carries no verified identity and the rule needs one.
    NoIdentity,
    /// The identity lacks a scope the rule requires.
    MissingScope,
    /// The identity holds none of the roles the rule requires.
    RoleDenied,
    /// The tenant named by the request is not the identity's tenant.
    TenantMismatch,
    /// A claim, client address, header, time or peer condition does not hold.
    ConditionFailed,
    /// No authorization rule covers the request and unmatched requests are denied.
    NoMatchingRule,
    /// A deny rule matched.
    DeniedByRule,
    /// A method-override header (`X-HTTP-Method-Override` and kin) was sent.
    MethodOverride,
    /// A header the decision depends on was sent twice or as a comma list.
    AmbiguousHeader,

    // ---- schema enforcement ----
    /// The request body violates the operation's schema (or strict mode).
    SchemaViolation,
    /// A path, query or header parameter violates its schema, is missing
    /// while required, or is repeated.
    ParameterViolation,
    /// The operation requires a body and the request has none.
    MissingBody,
    /// The path is not an operation of the route's OpenAPI document.
    UnknownOperation,
    /// The path is in the document, the method is not.
    MethodNotAllowed,
    /// The request selects no contract of the route (an unknown API
    /// version, a tenant plan without one).
    NoContract,
    /// The upstream's response violates its schema (or cannot be read as
    /// the contract's JSON): replaced.
    ResponseViolation,
}

impl Reason {
    pub const ALL: [Reason; 42] = [
        Reason::InternalError,
        Reason::FilterUnconfigured,
        Reason::NonCanonicalPath,
        Reason::UnsupportedMediaType,
        Reason::BodyTooLarge,
        Reason::InvalidBody,
        Reason::MissingToken,
        Reason::MultipleTokens,
        Reason::TokenTooLarge,
        Reason::Malformed,
        Reason::AlgNotAllowed,
        Reason::TypMismatch,
        Reason::UnknownKid,
        Reason::KeyAlgMismatch,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::MissingExp,
        Reason::LifetimeTooLong,
        Reason::IssuerMismatch,
        Reason::AudienceMismatch,
        Reason::JwksUnavailable,
        Reason::NoRuleMatched,
        Reason::UnsafeClaimValue,
        Reason::QuotaExceeded,
        Reason::RateLimitUnavailable,
        Reason::NoIdentity,
        Reason::MissingScope,
        Reason::RoleDenied,
        Reason::TenantMismatch,
        Reason::ConditionFailed,
        Reason::NoMatchingRule,
        Reason::DeniedByRule,
        Reason::MethodOverride,
        Reason::AmbiguousHeader,
        Reason::SchemaViolation,
        Reason::ParameterViolation,
        Reason::MissingBody,
        Reason::UnknownOperation,
        Reason::MethodNotAllowed,
        Reason::NoContract,
        Reason::ResponseViolation,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::InternalError => "internal_error",
            Reason::FilterUnconfigured => "filter_unconfigured",
            Reason::NonCanonicalPath => "non_canonical_path",
            Reason::UnsupportedMediaType => "unsupported_media_type",
            Reason::BodyTooLarge => "body_too_large",
            Reason::InvalidBody => "invalid_body",
            Reason::MissingToken => "missing_token",
            Reason::MultipleTokens => "multiple_tokens",
            Reason::TokenTooLarge => "token_too_large",
            Reason::Malformed => "malformed",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::TypMismatch => "typ_mismatch",
            Reason::UnknownKid => "unknown_kid",
            Reason::KeyAlgMismatch => "key_alg_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::MissingExp => "missing_exp",
            Reason::LifetimeTooLong => "lifetime_too_long",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::NoRuleMatched => "no_rule_matched",
            Reason::UnsafeClaimValue => "unsafe_claim_value",
            Reason::QuotaExceeded => "quota_exceeded",
            Reason::RateLimitUnavailable => "rate_limit_unavailable",
            Reason::NoIdentity => "no_identity",
            Reason::MissingScope => "missing_scope",
            Reason::RoleDenied => "role_denied",
            Reason::TenantMismatch => "tenant_mismatch",
            Reason::ConditionFailed => "condition_failed",
            Reason::NoMatchingRule => "no_matching_rule",
            Reason::DeniedByRule => "denied_by_rule",
            Reason::MethodOverride => "method_override",
            Reason::AmbiguousHeader => "ambiguous_header",
            Reason::SchemaViolation => "schema_violation",
            Reason::ParameterViolation => "parameter_violation",
            Reason::MissingBody => "missing_body",
            Reason::UnknownOperation => "unknown_operation",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::NoContract => "no_contract",
            Reason::ResponseViolation => "response_violation",
        }
    }

    /// The HTTP status a denial with this reason gets by default.
    pub fn status(self) -> u16 {
        match self {
            Reason::InternalError | Reason::FilterUnconfigured => 500,
            Reason::NonCanonicalPath
            | Reason::MultipleTokens
            | Reason::InvalidBody
            | Reason::MethodOverride
            | Reason::AmbiguousHeader
            | Reason::SchemaViolation
            | Reason::ParameterViolation
            | Reason::MissingBody
            | Reason::NoContract => 400,
            Reason::UnknownOperation => 404,
            Reason::MethodNotAllowed => 405,
            Reason::ResponseViolation => 502,
            Reason::UnsupportedMediaType => 415,
            Reason::BodyTooLarge => 413,
            Reason::QuotaExceeded => 429,
            Reason::RateLimitUnavailable => 503,
            Reason::NoRuleMatched
            | Reason::MissingScope
            | Reason::RoleDenied
            | Reason::TenantMismatch
            | Reason::ConditionFailed
            | Reason::NoMatchingRule
            | Reason::DeniedByRule => 403,
            Reason::MissingToken
            | Reason::TokenTooLarge
            | Reason::Malformed
            | Reason::AlgNotAllowed
            | Reason::TypMismatch
            | Reason::UnknownKid
            | Reason::KeyAlgMismatch
            | Reason::BadSignature
            | Reason::Expired
            | Reason::NotYetValid
            | Reason::MissingExp
            | Reason::LifetimeTooLong
            | Reason::IssuerMismatch
            | Reason::AudienceMismatch
            | Reason::JwksUnavailable
            | Reason::UnsafeClaimValue
            | Reason::NoIdentity => 401,
        }
    }

    /// One sentence for the problem `detail` (and `error_description`).
    /// Never includes anything taken from the request.
    pub fn description(self) -> &'static str {
        match self {
            Reason::InternalError => "The gateway could not process the request.",
            Reason::FilterUnconfigured => "The filter has no configuration.",
            Reason::NonCanonicalPath => {
                "The request path is not in canonical form (dot segments, encoded slashes, \
                 backslashes, ';' parameters, needlessly encoded characters, '//' or control \
                 bytes)."
            }
            Reason::UnsupportedMediaType => {
                "The request body's content type or encoding is not accepted here."
            }
            Reason::BodyTooLarge => "The request body is larger than allowed.",
            Reason::InvalidBody => {
                "The request body is not strict JSON (UTF-8, no duplicated keys, no trailing \
                 data, bounded nesting)."
            }
            Reason::MissingToken => "No bearer token was presented.",
            Reason::MultipleTokens => "More than one token was presented in one location.",
            Reason::TokenTooLarge => "The token is larger than allowed.",
            Reason::Malformed => "The token is not a well-formed JWT.",
            Reason::AlgNotAllowed => "The token's signing algorithm is not allowed.",
            Reason::TypMismatch => "The token's type (typ) is not the one required.",
            Reason::UnknownKid => "The token was signed with an unknown key.",
            Reason::KeyAlgMismatch => "No key fits the token's signing algorithm.",
            Reason::BadSignature => "The token's signature is invalid.",
            Reason::Expired => "The token has expired.",
            Reason::NotYetValid => "The token is not valid yet.",
            Reason::MissingExp => "The token has no expiry (exp).",
            Reason::LifetimeTooLong => "The token's lifetime is longer than allowed.",
            Reason::IssuerMismatch => "The token's issuer is not accepted here.",
            Reason::AudienceMismatch => "The token is not meant for this audience.",
            Reason::JwksUnavailable => "The keys needed to verify the token are unavailable.",
            Reason::NoRuleMatched => "No access rule covers this request.",
            Reason::UnsafeClaimValue => {
                "A claim of the token cannot be forwarded safely in a header."
            }
            Reason::QuotaExceeded => "The request exceeds a rate-limit quota.",
            Reason::RateLimitUnavailable => {
                "The rate-limit service could not be reached and this limit fails closed."
            }
            Reason::NoIdentity => "The request carries no verified identity.",
            Reason::MissingScope => "The token lacks a scope this request requires.",
            Reason::RoleDenied => "The caller holds no role allowed to make this request.",
            // The same words whether the named tenant exists or not.
            Reason::TenantMismatch => "The request is outside the caller's tenant.",
            Reason::ConditionFailed => "A condition of the access policy does not hold.",
            Reason::NoMatchingRule => "No authorization rule covers this request.",
            Reason::DeniedByRule => "The access policy denies this request.",
            Reason::MethodOverride => "Method-override headers are not accepted.",
            Reason::AmbiguousHeader => {
                "A header this request is authorized on is repeated or holds a list."
            }
            Reason::SchemaViolation => "The request body does not match the API contract.",
            Reason::ParameterViolation => {
                "A path, query or header parameter does not match the API contract."
            }
            Reason::MissingBody => "The operation requires a request body.",
            Reason::UnknownOperation => "The API contract has no such operation.",
            Reason::MethodNotAllowed => "The API contract does not allow this method here.",
            Reason::NoContract => "The request selects no API contract (unknown version or plan).",
            Reason::ResponseViolation => "The upstream's response does not match the API contract.",
        }
    }

    /// The RFC 9110 reason phrase of [`Reason::status`], the problem `title`.
    pub fn title(self) -> &'static str {
        status_title(self.status())
    }
}

/// RFC 9110 reason phrases for the statuses edgeward answers with.
pub fn status_title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_described() {
        let codes: HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        for r in Reason::ALL {
            let c = r.code();
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
            assert!(r.description().ends_with('.'), "{c}");
            assert_ne!(r.title(), "Error", "{c}");
        }
    }
}
