//! Stable reason codes for every JWT decision. They appear in the
//! problem+json body, in filter state, in logs and in metric names, so they
//! never change once released.

use crate::jose::TokenError;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// No token in any location the provider reads.
    MissingToken,
    /// More than one token where only one may be (repeated header, two
    /// prefixes in one value).
    MultipleTokens,
    /// Longer than the provider's `max_token_bytes`.
    TokenTooLarge,
    /// Not three base64url parts, bad base64url, header/payload not JSON
    /// objects, claims of the wrong type, unknown `crit`.
    Malformed,
    /// `alg` is `none`, unknown, or not in the provider's allowlist.
    AlgNotAllowed,
    /// `typ` header absent or different from the required one.
    TypMismatch,
    /// `kid` names no key in the JWKS (after a refetch, if one was allowed).
    UnknownKid,
    /// No key in the JWKS fits the token's `alg` (e.g. an RSA key for HS256).
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
    /// The provider's keys are not known yet (first fetch pending past the
    /// wait bound, or every fetch failed).
    JwksUnavailable,
    /// The request matched no rule and the config denies unmatched requests.
    NoRuleMatched,
}

impl Reason {
    pub const ALL: [Reason; 17] = [
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
    ];

    pub fn code(self) -> &'static str {
        match self {
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
        }
    }

    /// One sentence for `error_description` and the problem `detail`. Never
    /// includes anything taken from the request.
    pub fn description(self) -> &'static str {
        match self {
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
        }
    }

    /// Precedence when several providers fail: the most specific reason
    /// (one that says the token was examined) wins over "missing".
    pub fn specificity(self) -> u8 {
        match self {
            Reason::NoRuleMatched => 0,
            Reason::MissingToken => 1,
            Reason::IssuerMismatch => 2,
            Reason::JwksUnavailable => 3,
            _ => 4,
        }
    }
}

/// A token refused by the parser gets the reason code of the same name.
impl From<TokenError> for Reason {
    fn from(err: TokenError) -> Reason {
        match err {
            TokenError::TooLarge => Reason::TokenTooLarge,
            TokenError::Malformed => Reason::Malformed,
            TokenError::AlgNotAllowed => Reason::AlgNotAllowed,
        }
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
    fn token_errors_map_to_their_reasons() {
        assert_eq!(Reason::from(TokenError::TooLarge), Reason::TokenTooLarge);
        assert_eq!(Reason::from(TokenError::Malformed), Reason::Malformed);
        assert_eq!(
            Reason::from(TokenError::AlgNotAllowed),
            Reason::AlgNotAllowed
        );
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let codes: HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        for c in codes {
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
        }
    }
}
