//! Per-route requirements: the first rule whose path and method match
//! decides which providers must accept the request.

use crate::http::{normalize_path_for_matching, RequestHead};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleMatch {
    Prefix(String),
    Exact(String),
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Position in the config, reported with every decision.
    pub index: usize,
    pub matcher: RuleMatch,
    /// Upper-case; empty means any method.
    pub methods: Vec<String>,
    pub requires: Requirement,
}

impl Rule {
    pub fn matches(&self, method: &str, normalized_path: &str) -> bool {
        let path_ok = match &self.matcher {
            RuleMatch::Prefix(p) => normalized_path.starts_with(p.as_str()),
            RuleMatch::Exact(p) => normalized_path == p,
        };
        path_ok && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
    }
}

/// The first rule matching the request, if any.
pub fn find_rule<'a>(rules: &'a [Rule], head: &RequestHead) -> Option<&'a Rule> {
    let path = normalize_path_for_matching(head.path_only());
    let method = head.method();
    rules.iter().find(|r| r.matches(method, &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(i: usize, m: RuleMatch, methods: &[&str], requires: Requirement) -> Rule {
        Rule {
            index: i,
            matcher: m,
            methods: methods.iter().map(|s| s.to_string()).collect(),
            requires,
        }
    }

    fn head(method: &str, path: &str) -> RequestHead {
        RequestHead::from_pairs(&[(":method", method), (":path", path)])
    }

    #[test]
    fn first_match_wins_and_paths_are_normalised() {
        let rules = vec![
            rule(
                0,
                RuleMatch::Prefix("/health".into()),
                &[],
                Requirement::None,
            ),
            rule(
                1,
                RuleMatch::Prefix("/partners".into()),
                &["GET"],
                Requirement::Any(vec![0, 1]),
            ),
            rule(
                2,
                RuleMatch::Exact("/exact".into()),
                &[],
                Requirement::All(vec![0]),
            ),
            rule(
                3,
                RuleMatch::Prefix("/".into()),
                &[],
                Requirement::Any(vec![0]),
            ),
        ];
        let idx = |m: &str, p: &str| find_rule(&rules, &head(m, p)).map(|r| r.index);
        assert_eq!(idx("GET", "/health"), Some(0));
        assert_eq!(idx("GET", "/health?x=1"), Some(0));
        assert_eq!(idx("GET", "/health/../orders"), Some(3));
        assert_eq!(idx("GET", "/health/%2e%2e/orders"), Some(3));
        assert_eq!(idx("GET", "/partners/x"), Some(1));
        assert_eq!(idx("POST", "/partners/x"), Some(3));
        assert_eq!(idx("GET", "/exact"), Some(2));
        assert_eq!(idx("GET", "/exact/more"), Some(3));
        assert_eq!(idx("GET", "//exact"), Some(2));
    }

    #[test]
    fn no_rule_is_none() {
        let rules = vec![rule(
            0,
            RuleMatch::Prefix("/api".into()),
            &[],
            Requirement::None,
        )];
        assert!(find_rule(&rules, &head("GET", "/other")).is_none());
    }
}
