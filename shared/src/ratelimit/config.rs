//! The rate-limit filter's configuration: raw JSON (unknown fields
//! refused) compiled once into [`RateLimitConfig`], every error naming its
//! field (`policies[2].limit.token_bucket.rate`).

use super::algorithm::Limit;
use crate::config::{check_name, in_range, parse_json, ConfigError, Field};
use crate::path::{PathPolicy, RawPathPolicy};
use crate::route::{RawRouteMatch, RouteMatch};
use serde::Deserialize;

pub const DEFAULT_MAX_KEYS: u32 = 65_536;
pub const DEFAULT_TIMEOUT_MS: u64 = 100;
pub const MAX_POLICIES: usize = 64;
pub const MAX_DIMENSIONS: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    service: Option<RawService>,
    #[serde(default)]
    trusted_hops: Option<u64>,
    #[serde(default)]
    max_keys: Option<u64>,
    #[serde(default)]
    path_policy: Option<RawPathPolicy>,
    #[serde(default)]
    response_headers: Option<HeaderMode>,
    #[serde(default)]
    legacy_headers: bool,
    policies: Vec<RawPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    cluster: String,
    #[serde(default)]
    max_reply_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    #[serde(default, rename = "match")]
    match_: Option<RawRouteMatch>,
    #[serde(default)]
    applies_to: Option<AppliesTo>,
    #[serde(default)]
    key: Vec<RawDimension>,
    limit: RawLimit,
    #[serde(default)]
    cost: Option<u64>,
    #[serde(default)]
    shadow: bool,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    failure_mode: Option<FailureMode>,
    #[serde(default)]
    local_first: Option<RawLocalFirst>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalFirst {
    lease: u64,
    #[serde(default)]
    max_lease_ms: Option<u64>,
}

/// Local-first global mode: units of the global quota taken from the
/// service `lease` at a time and spent locally until used up or expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalFirst {
    pub lease: u64,
    pub max_lease_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimension {
    dimension: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    descriptor_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    #[serde(default)]
    token_bucket: Option<RawTokenBucket>,
    #[serde(default)]
    fixed_window: Option<RawWindow>,
    #[serde(default)]
    sliding_window: Option<RawWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokenBucket {
    rate: u64,
    #[serde(default)]
    period_s: Option<u64>,
    burst: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    requests: u64,
    window_s: u64,
}

/// Which rate-limit headers responses carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HeaderMode {
    /// None (429 still carries `Retry-After`).
    None,
    /// Only limited (429) responses.
    #[default]
    Limited,
    /// Limited and allowed responses.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    #[default]
    Any,
    /// Only requests with a verified identity (`edgeward.identity`).
    Authenticated,
    /// Only requests without one.
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Local,
    Global,
}

/// What a global policy does while the Rate Limit Service cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Apply the policy's limit locally, per gateway.
    #[default]
    Local,
    Allow,
    Deny,
}

impl FailureMode {
    pub fn label(self) -> &'static str {
        match self {
            FailureMode::Local => "local",
            FailureMode::Allow => "allow",
            FailureMode::Deny => "deny",
        }
    }
}

/// One part of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    Tenant,
    Subject,
    ClientId,
    /// A claim by dotted path; strings, numbers and booleans.
    Claim(String),
    ClientIp,
    /// Envoy's route name (`route_name`).
    Route,
    /// The canonical request path.
    Path,
    /// A request header (lower-case name; all values joined by ',').
    Header(String),
    Method,
}

impl Dimension {
    pub fn needs_identity(&self) -> bool {
        matches!(
            self,
            Dimension::Tenant | Dimension::Subject | Dimension::ClientId | Dimension::Claim(_)
        )
    }
}

#[derive(Debug, Clone)]
pub struct KeyPart {
    pub dimension: Dimension,
    /// The entry key in Rate Limit Service descriptors.
    pub descriptor_key: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub route: RouteMatch,
    pub applies_to: AppliesTo,
    pub key: Vec<KeyPart>,
    pub limit: Limit,
    pub cost: u64,
    pub shadow: bool,
    pub mode: Mode,
    pub timeout_ms: u64,
    pub failure_mode: FailureMode,
    pub local_first: Option<LocalFirst>,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub domain: String,
    pub cluster: Option<String>,
    pub max_reply_bytes: usize,
    pub trusted_hops: usize,
    pub max_keys: u32,
    pub buckets: u32,
    pub path_policy: PathPolicy,
    pub response_headers: HeaderMode,
    pub legacy_headers: bool,
    pub policies: Vec<Policy>,
}

impl RateLimitConfig {
    pub fn from_json(bytes: &[u8]) -> Result<RateLimitConfig, ConfigError> {
        let raw: RawConfig = parse_json(bytes)?;
        compile(raw)
    }

    pub fn needs_identity(&self) -> bool {
        self.policies.iter().any(|p| {
            p.applies_to != AppliesTo::Any || p.key.iter().any(|k| k.dimension.needs_identity())
        })
    }

    pub fn has_global(&self) -> bool {
        self.policies.iter().any(|p| p.mode == Mode::Global)
    }
}

fn is_descriptor_key(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && s.len() <= 64
}

fn identifier_of(prefix: &str, name: &str) -> String {
    let mut out = String::from(prefix);
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    }));
    out
}

fn compile_dimension(f: &Field, raw: &RawDimension) -> Result<KeyPart, ConfigError> {
    let name = |what: &str| -> Result<String, ConfigError> {
        match &raw.name {
            Some(n) if !n.is_empty() && n.len() <= 256 => Ok(n.clone()),
            Some(_) => Err(f.child("name").error("must be 1 to 256 bytes")),
            None => Err(f
                .child("name")
                .error(format!("a {what} dimension needs \"name\""))),
        }
    };
    let no_name = || -> Result<(), ConfigError> {
        match raw.name {
            None => Ok(()),
            Some(_) => Err(f
                .child("name")
                .error(format!("the {} dimension takes no \"name\"", raw.dimension))),
        }
    };
    let (dimension, default_key) = match raw.dimension.as_str() {
        "tenant" => (no_name().map(|_| Dimension::Tenant)?, "tenant".to_string()),
        "subject" => (no_name().map(|_| Dimension::Subject)?, "subject".into()),
        "client_id" => (no_name().map(|_| Dimension::ClientId)?, "client_id".into()),
        "client_ip" => (
            no_name().map(|_| Dimension::ClientIp)?,
            "remote_address".into(),
        ),
        "route" => (no_name().map(|_| Dimension::Route)?, "route".into()),
        "path" => (no_name().map(|_| Dimension::Path)?, "path".into()),
        "method" => (no_name().map(|_| Dimension::Method)?, "method".into()),
        "claim" => {
            let n = name("claim")?;
            let k = identifier_of("claim_", &n);
            (Dimension::Claim(n), k)
        }
        "header" => {
            let n = name("header")?.to_ascii_lowercase();
            if !crate::http::is_settable_header_name(&n) {
                return Err(f.child("name").error(format!("{n:?} is not a header name")));
            }
            let k = identifier_of("header_", &n);
            (Dimension::Header(n), k)
        }
        other => {
            return Err(f.child("dimension").error(format!(
                "{other:?} is not a dimension: use tenant, subject, client_id, claim, \
                 client_ip, route, path, header or method"
            )))
        }
    };
    let descriptor_key = match &raw.descriptor_key {
        Some(k) if is_descriptor_key(k) => k.clone(),
        Some(k) => {
            return Err(f.child("descriptor_key").error(format!(
                "{k:?} is not an identifier (letters, digits, '_', not starting with a digit)"
            )))
        }
        None => default_key,
    };
    Ok(KeyPart {
        dimension,
        descriptor_key,
    })
}

fn compile_limit(f: &Field, raw: &RawLimit) -> Result<Limit, ConfigError> {
    const MAX_COUNT: u64 = 1_000_000_000;
    let forms = [
        raw.token_bucket.is_some(),
        raw.fixed_window.is_some(),
        raw.sliding_window.is_some(),
    ];
    if forms.iter().filter(|x| **x).count() != 1 {
        return Err(f.error(
            "give exactly one of \"token_bucket\", \"fixed_window\" or \"sliding_window\"",
        ));
    }
    if let Some(tb) = &raw.token_bucket {
        let f = f.child("token_bucket");
        let rate = in_range(&f.child("rate"), tb.rate, 1, MAX_COUNT)?;
        let period_s = in_range(&f.child("period_s"), tb.period_s.unwrap_or(1), 1, 86_400)?;
        let burst = in_range(&f.child("burst"), tb.burst, 1, MAX_COUNT)?;
        return Ok(Limit::TokenBucket {
            rate,
            period_ms: period_s * 1000,
            burst,
        });
    }
    let (w, name) = match (&raw.fixed_window, &raw.sliding_window) {
        (Some(w), _) => (w, "fixed_window"),
        (_, Some(w)) => (w, "sliding_window"),
        _ => return Err(f.error("no limit given")),
    };
    let f = f.child(name);
    let requests = in_range(&f.child("requests"), w.requests, 1, MAX_COUNT)?;
    let window_ms = in_range(&f.child("window_s"), w.window_s, 1, 31_622_400)? * 1000;
    Ok(if name == "fixed_window" {
        Limit::FixedWindow {
            requests,
            window_ms,
        }
    } else {
        Limit::SlidingWindow {
            requests,
            window_ms,
        }
    })
}

fn compile(raw: RawConfig) -> Result<RateLimitConfig, ConfigError> {
    let root = Field::default();
    let pf = root.child("policies");
    if raw.policies.is_empty() {
        return Err(pf.error("list at least one policy"));
    }
    if raw.policies.len() > MAX_POLICIES {
        return Err(pf.error(format!("at most {MAX_POLICIES} policies")));
    }
    let mut policies: Vec<Policy> = Vec::new();
    for (i, p) in raw.policies.iter().enumerate() {
        let f = pf.index(i);
        check_name(&f.child("name"), &p.name)?;
        if policies.iter().any(|q| q.name == p.name) {
            return Err(f
                .child("name")
                .error(format!("{:?} names two policies", p.name)));
        }
        let route = match &p.match_ {
            Some(m) => RouteMatch::compile(&f.child("match"), m)?,
            None => RouteMatch::any(),
        };
        if p.key.len() > MAX_DIMENSIONS {
            return Err(f
                .child("key")
                .error(format!("at most {MAX_DIMENSIONS} dimensions")));
        }
        let mut key = Vec::new();
        for (j, d) in p.key.iter().enumerate() {
            let part = compile_dimension(&f.child("key").index(j), d)?;
            if key.iter().any(|k: &KeyPart| k.dimension == part.dimension) {
                return Err(f
                    .child("key")
                    .index(j)
                    .error("this dimension is listed twice"));
            }
            if part.descriptor_key == "policy"
                || key
                    .iter()
                    .any(|k: &KeyPart| k.descriptor_key == part.descriptor_key)
            {
                return Err(f
                    .child("key")
                    .index(j)
                    .child("descriptor_key")
                    .error(format!(
                        "{:?} is already used in this policy's descriptor (\"policy\" is reserved)",
                        part.descriptor_key
                    )));
            }
            key.push(part);
        }
        let limit = compile_limit(&f.child("limit"), &p.limit)?;
        let cost = in_range(&f.child("cost"), p.cost.unwrap_or(1), 1, 1_000_000)?;
        if cost > limit.quota() {
            return Err(f.child("cost").error(format!(
                "{cost} is more than the limit's quota {}: no request could ever pass",
                limit.quota()
            )));
        }
        let mode = p.mode.unwrap_or_default();
        if mode == Mode::Local && (p.timeout_ms.is_some() || p.failure_mode.is_some()) {
            return Err(f.error(
                "\"timeout_ms\" and \"failure_mode\" are for \"mode\": \"global\" policies",
            ));
        }
        let timeout_ms = in_range(
            &f.child("timeout_ms"),
            p.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            1,
            60_000,
        )?;
        let local_first = match &p.local_first {
            None => None,
            Some(lf) => {
                let lf_f = f.child("local_first");
                if mode != Mode::Global || p.shadow {
                    return Err(lf_f.error("only for enforcing \"mode\": \"global\" policies"));
                }
                let lease = in_range(&lf_f.child("lease"), lf.lease, 2, 1_000_000)?;
                if lease < cost {
                    return Err(lf_f
                        .child("lease")
                        .error(format!("{lease} is less than the policy's cost {cost}")));
                }
                let max_lease_ms = in_range(
                    &lf_f.child("max_lease_ms"),
                    lf.max_lease_ms.unwrap_or(1000),
                    10,
                    600_000,
                )?;
                Some(LocalFirst {
                    lease,
                    max_lease_ms,
                })
            }
        };
        policies.push(Policy {
            name: p.name.clone(),
            route,
            applies_to: p.applies_to.unwrap_or_default(),
            key,
            limit,
            cost,
            shadow: p.shadow,
            mode,
            timeout_ms,
            failure_mode: p.failure_mode.unwrap_or_default(),
            local_first,
        });
    }
    let has_global = policies.iter().any(|p| p.mode == Mode::Global);
    let (cluster, max_reply_bytes) = match &raw.service {
        Some(s) => {
            let f = root.child("service");
            if s.cluster.is_empty() {
                return Err(f
                    .child("cluster")
                    .error("name the Envoy cluster of the Rate Limit Service"));
            }
            let max = in_range(
                &f.child("max_reply_bytes"),
                s.max_reply_bytes.unwrap_or(65_536),
                64,
                1 << 20,
            )?;
            (Some(s.cluster.clone()), max as usize)
        }
        None => (None, 65_536),
    };
    if has_global && cluster.is_none() {
        return Err(root
            .child("service")
            .error("global policies need \"service\": {\"cluster\": ...}"));
    }
    let domain = raw.domain.unwrap_or_else(|| "edgeward".to_string());
    if domain.is_empty() || domain.len() > 256 {
        return Err(root.child("domain").error("must be 1 to 256 bytes"));
    }
    let trusted_hops = in_range(
        &root.child("trusted_hops"),
        raw.trusted_hops.unwrap_or(0),
        0,
        16,
    )? as usize;
    let max_keys = in_range(
        &root.child("max_keys"),
        raw.max_keys.unwrap_or(u64::from(DEFAULT_MAX_KEYS)),
        64,
        4_194_304,
    )? as u32;
    Ok(RateLimitConfig {
        domain,
        cluster,
        max_reply_bytes,
        trusted_hops,
        max_keys,
        buckets: max_keys.div_ceil(super::store::WAYS as u32),
        path_policy: PathPolicy::compile(raw.path_policy),
        response_headers: raw.response_headers.unwrap_or_default(),
        legacy_headers: raw.legacy_headers,
        policies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<RateLimitConfig, ConfigError> {
        RateLimitConfig::from_json(v.to_string().as_bytes())
    }

    fn policy() -> serde_json::Value {
        json!({"name": "p", "key": [{"dimension": "tenant"}],
               "limit": {"fixed_window": {"requests": 10, "window_s": 60}}})
    }

    #[test]
    fn a_full_config_compiles() {
        let c = parse(json!({
            "domain": "api", "service": {"cluster": "rls"}, "trusted_hops": 1,
            "max_keys": 1000, "response_headers": "all", "legacy_headers": true,
            "policies": [
                {"name": "tenant", "match": {"prefix": "/api"}, "applies_to": "authenticated",
                 "key": [{"dimension": "tenant"}, {"dimension": "claim", "name": "org.id"},
                         {"dimension": "header", "name": "X-Api-Key", "descriptor_key": "api_key"}],
                 "limit": {"token_bucket": {"rate": 5, "period_s": 1, "burst": 10}},
                 "cost": 2, "mode": "global", "timeout_ms": 20, "failure_mode": "deny"},
                {"name": "anon", "applies_to": "anonymous", "key": [{"dimension": "client_ip"}],
                 "limit": {"sliding_window": {"requests": 3, "window_s": 10}}, "shadow": true}
            ]
        }))
        .unwrap();
        assert_eq!(c.buckets, 250);
        assert!(c.needs_identity() && c.has_global());
        let p = &c.policies[0];
        assert_eq!(p.key[1].descriptor_key, "claim_org_id");
        assert_eq!(p.key[2].dimension, Dimension::Header("x-api-key".into()));
        assert_eq!(p.key[2].descriptor_key, "api_key");
        assert_eq!(p.failure_mode, FailureMode::Deny);
        assert_eq!(c.policies[1].key[0].descriptor_key, "remote_address");
        assert_eq!(c.policies[1].failure_mode, FailureMode::Local);
    }

    #[test]
    fn errors_name_their_field() {
        let cases = [
            (json!({"policies": []}), "policies"),
            (json!({"policies": [policy()], "extra": 1}), "extra"),
            (
                json!({"policies": [policy(), policy()]}),
                "policies[1].name",
            ),
            (
                json!({"policies": [{"name": "p", "limit": {}}]}),
                "policies[0].limit",
            ),
            (
                json!({"policies": [{"name": "p", "limit": {"token_bucket": {"rate": 0, "burst": 1}}}]}),
                "policies[0].limit.token_bucket.rate",
            ),
            (
                json!({"policies": [{"name": "p", "cost": 11,
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "policies[0].cost",
            ),
            (
                json!({"policies": [{"name": "p", "key": [{"dimension": "nope"}],
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "policies[0].key[0].dimension",
            ),
            (
                json!({"policies": [{"name": "p", "key": [{"dimension": "claim"}],
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "policies[0].key[0].name",
            ),
            (
                json!({"policies": [{"name": "p", "mode": "global",
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "service",
            ),
            (
                json!({"policies": [{"name": "p", "failure_mode": "deny",
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "policies[0]",
            ),
            (json!({"max_keys": 10, "policies": [policy()]}), "max_keys"),
            (
                json!({"policies": [{"name": "p", "local_first": {"lease": 5},
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "policies[0].local_first",
            ),
            (
                json!({"service": {"cluster": "r"}, "policies": [{"name": "p", "mode": "global",
                    "cost": 3, "local_first": {"lease": 2},
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "policies[0].local_first.lease",
            ),
            (
                json!({"policies": [{"name": "p", "key": [{"dimension": "tenant"}, {"dimension": "tenant"}],
                    "limit": {"fixed_window": {"requests": 10, "window_s": 1}}}]}),
                "policies[0].key[1]",
            ),
        ];
        for (cfg, field) in cases {
            let e = parse(cfg.clone()).unwrap_err();
            assert_eq!(e.field, field, "{cfg}: {e}");
        }
    }
}
