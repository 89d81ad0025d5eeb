//! Per-route requirements: the first rule whose match (shared route
//! matcher, on the canonical path) fits decides which providers must accept
//! the request.

use crate::route::{RequestTarget, RouteMatch};

/// What a matching rule demands. Providers are indexes into
/// `JwtConfig::providers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// No token needed (health checks, public docs).
    None,
    /// One valid token from any of these providers (`{"provider": p}` is
    /// `Any([p])`).
    Any(Vec<usize>),
    /// A valid token from every one of these providers.
    All(Vec<usize>),
    /// Anonymous requests pass; a presented token must be valid for one of
    /// these providers.
    AllowMissing(Vec<usize>),
}

impl Requirement {
    /// The providers the requirement names (none for `None`).
    pub fn providers(&self) -> &[usize] {
        match self {
            Requirement::None => &[],
            Requirement::Any(ps) | Requirement::All(ps) | Requirement::AllowMissing(ps) => ps,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Position in the config, reported with every decision.
    pub index: usize,
    /// The configured name, if any.
    pub name: Option<String>,
    /// The name, or the index as text: the `rule` metric label.
    pub label: String,
    pub matcher: RouteMatch,
    pub requires: Requirement,
    /// Built at configure time for the hot path: the `allowed` counter's
    /// name with this rule's label, and the decision record of an allowed
    /// request per verifying provider (indexed like `JwtConfig::providers`,
    /// then one for "no token needed").
    pub allowed_metric: String,
    pub allow_records: Vec<String>,
}

impl Rule {
    /// The decision record of a request this rule allowed.
    pub fn allow_record(&self, provider: Option<usize>) -> &str {
        let i = provider.unwrap_or(self.allow_records.len().saturating_sub(1));
        self.allow_records.get(i).map_or("", String::as_str)
    }
}

/// The first rule matching the request, if any.
pub fn find_rule<'a>(rules: &'a [Rule], target: &RequestTarget) -> Option<&'a Rule> {
    rules.iter().find(|r| r.matcher.matches(target).is_some())
}
