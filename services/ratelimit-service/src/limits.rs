//! The limits file: what it may contain, and its compiled form.
//!
//! A limit counts the descriptors it matches. Each descriptor of a request is a CEL
//! context whose variables are the descriptor's entries (`tenant`, `generic_key`, ...):
//! a limit matches a descriptor when all its `conditions` are true and all its
//! `variables` resolve there. One counter exists per distinct tuple of variable
//! values. See README.md for the format and examples.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use limitador::limit::{Expression, Limit, Predicate};
use serde::Deserialize;

/// Largest `max` accepted: Envoy reports limits as `uint32 requests_per_unit`.
pub const MAX_LIMIT_VALUE: u64 = u32::MAX as u64;

/// Longest window accepted (one year): Redis TTLs and Envoy's units stop making sense beyond.
pub const MAX_WINDOW_SECONDS: u64 = 366 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    /// `RateLimitRequest.domain`; `namespace` is accepted so a Limitador limits file reads as is.
    #[serde(alias = "namespace")]
    domain: String,
    #[serde(default)]
    name: Option<String>,
    /// Hits allowed per window; `max_value` is Limitador's spelling.
    #[serde(alias = "max_value")]
    max: u64,
    seconds: u64,
    #[serde(default)]
    conditions: Option<Vec<String>>,
    #[serde(default)]
    variables: Option<Vec<String>>,
}

/// One limit of the file, ready to evaluate against a descriptor.
#[derive(Debug)]
pub struct CompiledLimit {
    pub name: String,
    /// limitador's limit: namespace (the domain), max, window, conditions, variables.
    pub limit: Arc<Limit>,
    /// The same predicates as in `limit`, kept here because limitador's own
    /// `Limit::applies` unwraps evaluation errors: we report them instead.
    pub conditions: Vec<Predicate>,
    /// Descriptor entries the variables refer to: a limit matches only descriptors
    /// that have them all (an absent name is an evaluation error in CEL, not a miss).
    pub needs: Vec<String>,
}

/// Every limit of the file, grouped by domain, in file order.
#[derive(Debug, Default)]
pub struct Limits {
    by_domain: BTreeMap<String, Vec<CompiledLimit>>,
}

/// A limits file that cannot be used; the message names the limit and the field.
#[derive(Debug)]
pub struct LimitsError(pub String);

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitsError {}

impl Limits {
    pub fn load(path: &Path) -> Result<Self, LimitsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LimitsError(format!("cannot read limits file {}: {e}", path.display())))?;
        Self::parse(&text)
            .map_err(|LimitsError(msg)| LimitsError(format!("{}: {msg}", path.display())))
    }

    /// Parses YAML or JSON (JSON is YAML): a list of limits, or `{"limits": [...]}`.
    pub fn parse(text: &str) -> Result<Self, LimitsError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum File {
            List(Vec<serde_yaml_ng::Value>),
            Wrapped { limits: Vec<serde_yaml_ng::Value> },
        }
        let entries = match serde_yaml_ng::from_str::<File>(text) {
            Ok(File::List(v)) | Ok(File::Wrapped { limits: v }) => v,
            Err(_) => return Err(LimitsError(
                "expected a list of limits, or a mapping with one key `limits` holding that list"
                    .into(),
            )),
        };
        let mut limits = Limits::default();
        let mut names: HashSet<(String, String)> = HashSet::new();
        for (index, value) in entries.into_iter().enumerate() {
            let raw: RawLimit = serde_yaml_ng::from_value(value)
                .map_err(|e| LimitsError(format!("limits[{index}]: {e}")))?;
            let compiled = compile(index, raw)?;
            let domain = compiled.limit.namespace().as_ref().to_owned();
            if !names.insert((domain.clone(), compiled.name.clone())) {
                return Err(LimitsError(format!(
                    "limits[{index}].name: `{}` is used twice in domain `{domain}`; names must be unique per domain",
                    compiled.name
                )));
            }
            limits.by_domain.entry(domain).or_default().push(compiled);
        }
        Ok(limits)
    }

    pub fn for_domain(&self, domain: &str) -> &[CompiledLimit] {
        self.by_domain.get(domain).map_or(&[], Vec::as_slice)
    }

    pub fn all(&self) -> impl Iterator<Item = &CompiledLimit> {
        self.by_domain.values().flatten()
    }

    pub fn len(&self) -> usize {
        self.by_domain.values().map(Vec::len).sum()
    }

    /// One line for the start-up log: `domain/name=max/seconds s [vars]` per limit.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .all()
            .map(|l| {
                let mut vars: Vec<String> = l.limit.variables().into_iter().collect();
                vars.sort();
                let mut conds: Vec<String> = l.limit.conditions().into_iter().collect();
                conds.sort();
                format!(
                    "{}/{}={}/{}s vars=[{}] conditions=[{}]",
                    l.limit.namespace().as_ref(),
                    l.name,
                    l.limit.max_value(),
                    l.limit.seconds(),
                    vars.join(", "),
                    conds.join(" && "),
                )
            })
            .collect();
        parts.join("; ")
    }
}

fn compile(index: usize, raw: RawLimit) -> Result<CompiledLimit, LimitsError> {
    let field = |f: &str| format!("limits[{index}].{f}");
    if raw.domain.is_empty() {
        return Err(LimitsError(format!(
            "{}: must not be empty",
            field("domain")
        )));
    }
    if raw.max > MAX_LIMIT_VALUE {
        return Err(LimitsError(format!(
            "{}: {} is above {MAX_LIMIT_VALUE} (Envoy reports limits as 32-bit numbers)",
            field("max"),
            raw.max
        )));
    }
    if raw.seconds == 0 || raw.seconds > MAX_WINDOW_SECONDS {
        return Err(LimitsError(format!(
            "{}: {} must be between 1 and {MAX_WINDOW_SECONDS}",
            field("seconds"),
            raw.seconds
        )));
    }
    let name = match raw.name {
        Some(n) if n.is_empty() => {
            return Err(LimitsError(format!(
                "{}: must not be empty (or leave it out)",
                field("name")
            )))
        }
        Some(n) => n,
        None => format!("limit-{index}"),
    };
    let mut conditions = Vec::new();
    for (i, source) in raw.conditions.unwrap_or_default().into_iter().enumerate() {
        let predicate = Predicate::parse(&source).map_err(|e| {
            LimitsError(format!(
                "{}: `{source}` is not a CEL expression: {e}",
                field(&format!("conditions[{i}]"))
            ))
        })?;
        conditions.push(predicate);
    }
    let mut variables = Vec::new();
    let mut needs: Vec<String> = Vec::new();
    for (i, source) in raw.variables.unwrap_or_default().into_iter().enumerate() {
        let expression = Expression::parse(&source).map_err(|e| {
            LimitsError(format!(
                "{}: `{source}` is not a CEL expression: {e}",
                field(&format!("variables[{i}]"))
            ))
        })?;
        for name in expression.variables() {
            if !needs.contains(&name) {
                needs.push(name);
            }
        }
        variables.push(expression);
    }
    let mut limit = Limit::new(
        raw.domain.as_str(),
        raw.max,
        raw.seconds,
        conditions.clone(),
        variables,
    );
    limit.set_name(name.clone());
    Ok(CompiledLimit {
        name,
        limit: Arc::new(limit),
        conditions,
        needs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_list_with_limitador_spellings() {
        let limits = Limits::parse(
            "- namespace: api\n  max_value: 5\n  seconds: 60\n  variables: [tenant]\n\
             - domain: api\n  name: gets\n  max: 2\n  seconds: 1\n  conditions: [\"method == 'GET'\"]\n",
        )
        .unwrap();
        assert_eq!(limits.len(), 2);
        let api = limits.for_domain("api");
        assert_eq!(api[0].name, "limit-0");
        assert_eq!(api[0].limit.max_value(), 5);
        assert_eq!(api[1].name, "gets");
        assert_eq!(api[1].conditions.len(), 1);
        assert!(limits.for_domain("other").is_empty());
        assert!(limits.summary().contains("api/gets=2/1s"));
    }

    #[test]
    fn json_wrapped_form() {
        let limits =
            Limits::parse(r#"{"limits": [{"domain": "d", "max": 1, "seconds": 60}]}"#).unwrap();
        assert_eq!(limits.for_domain("d").len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let err = |text: &str| Limits::parse(text).unwrap_err().0;
        assert!(err("- {domain: d, max: 1, seconds: 0}").contains("limits[0].seconds"));
        assert!(err("- {domain: '', max: 1, seconds: 1}").contains("limits[0].domain"));
        assert!(err("- {domain: d, max: 5000000000, seconds: 1}").contains("limits[0].max"));
        assert!(
            err("- {domain: d, max: 1, seconds: 1, conditions: ['a ==']}")
                .contains("limits[0].conditions[0]")
        );
        assert!(err("- {domain: d, max: 1, seconds: 1, variables: ['(']}")
            .contains("limits[0].variables[0]"));
        assert!(err("- {domain: d, max: 1, seconds: 1, maxx: 3}").contains("unknown field"));
        assert!(err("- {domain: d, max: 1, seconds: 1, name: a}\n- {domain: d, max: 1, seconds: 1, name: a}")
            .contains("limits[1].name"));
        assert!(err("limits: 3").contains("expected a list"));
    }
}
