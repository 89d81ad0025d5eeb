//! The JWT filter's reason codes are the shared ones ([`crate::reason`]).
use crate::jose::TokenError;
pub use crate::reason::Reason;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_map_to_their_reasons() {
        assert_eq!(Reason::from(TokenError::TooLarge), Reason::TokenTooLarge);
        assert_eq!(Reason::from(TokenError::Malformed), Reason::Malformed);
        assert_eq!(
            Reason::from(TokenError::AlgNotAllowed),
            Reason::AlgNotAllowed
        );
    }
}
