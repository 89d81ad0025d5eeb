//! PII detection and masking: the host-free engine of edgeward's log-masking
//! filter. Everything that reaches logs and the SIEM goes through a
//! [`Masker`] first.
//!
//! - [`PiiConfig`] (serde, unknown fields refused) is compiled once, at
//!   configure time, into a [`Masker`]; every error names its field.
//! - [`Masker::find`] returns non-overlapping [`Match`]es of the enabled
//!   detectors (see [`resolve`] for the precedence when detectors overlap).
//! - [`Masker::mask_text`], [`Masker::mask_json`], [`Masker::mask_header`],
//!   [`Masker::mask_query`] and [`Masker::mask_url`] replace what was found
//!   with the operator configured for its kind ([`Action`]).
//!
//! What counts as a true positive follows Microsoft Presidio's predefined
//! recognizers and their tests (each detector's tests cite the file they
//! follow); where edgeward deliberately differs, the detector's module says so.
//!
//! Never fail open: a value over `max_value_bytes` is cut (back to a token
//! boundary, so no half token survives) and marked, or dropped; input that is
//! not UTF-8 is never returned raw.

mod apikey;
pub mod audit_config;
mod card;
pub mod config;
mod custom;
mod email;
pub mod excerpt;
mod fields;
pub mod filter;
mod header;
mod iban;
mod ip;
mod json;
mod limits;
mod masker;
pub mod operator;
mod phone;
mod query;
pub mod record;
pub mod resolve;
mod scan;
mod ssn;
mod token;

pub use audit_config::AuditConfig;
pub use config::{ConfigError, PiiConfig};
pub use filter::PiiFilter;
pub use masker::Masker;
pub use operator::Action;

/// What a detector found. Built-in kinds have fixed names ([`Kind::name`]);
/// a user-defined pattern is `Custom(index)` into the configured patterns
/// (its name is [`Masker::kind_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Card,
    Iban,
    Ssn,
    Phone,
    Ipv4,
    Ipv6,
    Jwt,
    Bearer,
    BasicAuth,
    ApiKey,
    PrivateKey,
    UrlPassword,
    Custom(u16),
}

impl Kind {
    /// Every built-in kind, in the order of [`resolve`]'s tie-break rank.
    pub const BUILT_IN: [Kind; 13] = [
        Kind::PrivateKey,
        Kind::Jwt,
        Kind::ApiKey,
        Kind::UrlPassword,
        Kind::Bearer,
        Kind::BasicAuth,
        Kind::Iban,
        Kind::Card,
        Kind::Ssn,
        Kind::Email,
        Kind::Ipv6,
        Kind::Ipv4,
        Kind::Phone,
    ];

    /// The name used in config keys and in masks (`[REDACTED:<name>]`);
    /// `None` for a custom pattern, whose name lives in the [`Masker`].
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Kind::Email => "email",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Ssn => "ssn",
            Kind::Phone => "phone",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Jwt => "jwt",
            Kind::Bearer => "bearer",
            Kind::BasicAuth => "basic_auth",
            Kind::ApiKey => "api_key",
            Kind::PrivateKey => "private_key",
            Kind::UrlPassword => "url_password",
            Kind::Custom(_) => return None,
        })
    }
}

/// A detected value: byte offsets into the scanned text (always on `char`
/// boundaries), end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

impl Match {
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}
