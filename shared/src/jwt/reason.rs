//! The JWT filter's reason codes are the shared ones ([`crate::reason`]).
pub use crate::reason::Reason;
