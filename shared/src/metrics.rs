//! Metric naming shared by every filter.
//!
//! proxy-wasm counters are plain names; Envoy shows them as
//! `wasmcustom.<name>` in `/stats` and without that prefix in
//! `/stats/prometheus`. Labels are encoded in the name as `.<key>.<value>`
//! pairs after the metric, in the fixed order of [`LABEL_KEYS`]:
//!
//! `edgeward.jwt.denied.rule.orders.reason.expired`
//!
//! and the `stats_tags` rules of [`envoy_stats_tags`] (shipped in every
//! config in `envoy/`) make Envoy extract them, so Prometheus sees
//! `edgeward_jwt_denied{rule="orders",reason="expired"}`. Values are
//! restricted to `[A-Za-z0-9_-]` (rule and policy names are checked at
//! configure time; reason codes are snake case), so a value can never
//! contain the separator.

use serde_json::{json, Value};

/// Label keys, in the order they appear in a name.
pub const LABEL_KEYS: [&str; 7] = [
    "rule", "policy", "route", "provider", "detector", "outcome", "reason",
];

/// `base` followed by `.key.value` for each label (in the order given,
/// which callers keep as in [`LABEL_KEYS`]). A value with a character
/// outside `[A-Za-z0-9_-]` is replaced by `invalid` rather than
/// producing a name Envoy would split differently.
pub fn labeled(base: &str, labels: &[(&str, &str)]) -> String {
    let mut name = String::with_capacity(
        base.len()
            + labels
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>(),
    );
    name.push_str(base);
    for (k, v) in labels {
        name.push('.');
        name.push_str(k);
        name.push('.');
        if is_label_value(v) {
            name.push_str(v);
        } else {
            name.push_str("invalid");
        }
    }
    name
}

fn is_label_value(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The Envoy bootstrap `stats_config.stats_tags` entries that turn the
/// label pairs into tags. The first capture group is removed from the name,
/// the second is the tag value (Envoy's `TagSpecifier.regex`).
pub fn envoy_stats_tags() -> Value {
    Value::Array(
        LABEL_KEYS
            .iter()
            .map(|k| {
                json!({
                    "tag_name": k,
                    "regex": format!(r"^wasmcustom\.edgeward\..*?(\.{k}\.([A-Za-z0-9_-]+))(?:\.|$)")
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_labels_in_order() {
        assert_eq!(
            labeled(
                "edgeward.jwt.denied",
                &[("rule", "r1"), ("reason", "expired")]
            ),
            "edgeward.jwt.denied.rule.r1.reason.expired"
        );
        assert_eq!(
            labeled("edgeward.x", &[("rule", "a.b")]),
            "edgeward.x.rule.invalid"
        );
        assert_eq!(labeled("edgeward.x", &[]), "edgeward.x");
    }

    /// `envoy/stats_tags.json` is what every config in `envoy/` ships (the
    /// e2e suite checks the configs); it must be exactly these rules.
    #[test]
    fn the_shipped_stats_tags_are_these() {
        let shipped: Value =
            serde_json::from_str(include_str!("../../envoy/stats_tags.json")).unwrap();
        assert_eq!(shipped, envoy_stats_tags());
    }

    #[test]
    fn stats_tags_have_one_rule_per_label() {
        let tags = envoy_stats_tags();
        let arr = tags.as_array().unwrap();
        assert_eq!(arr.len(), LABEL_KEYS.len());
        assert!(arr[6]["regex"].as_str().unwrap().contains(r"\.reason\."));
    }
}
