//! The JWT filter's configuration: parsed with unknown fields refused, then
//! validated and compiled (keys parsed, algorithms resolved, rules checked)
//! once, in `on_configure`. Every error names the field at fault; a value
//! out of range is an error, never silently clamped.

use super::matcher::{Requirement, Rule};
use super::metrics::ALLOWED;
use super::response::decision_record;
pub use crate::config::ConfigError;
use crate::config::{check_name, err, in_range, parse_json, secs_to_ms, Field};
use crate::http::{is_safe_header_value, is_settable_header_name, same_header_name};
use crate::jose::algorithm::{Algorithm, KeyFamily};
use crate::jose::jwk::{KeySet, SkipClass};
use crate::metrics::labeled;
use crate::path::{PathPolicy, RawPathPolicy};
use crate::route::{RawRouteMatch, RouteMatch};
use serde::Deserialize;
use std::collections::BTreeMap;

// ---------- the JSON shape ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    providers: BTreeMap<String, RawProvider>,
    rules: Vec<RawRule>,
    #[serde(default)]
    unmatched: Unmatched,
    #[serde(default)]
    realm: Option<String>,
    #[serde(default)]
    bypass_cors_preflight: bool,
    #[serde(default = "default_cache_size")]
    token_cache_size: usize,
    #[serde(default)]
    path_policy: Option<RawPathPolicy>,
}

fn default_cache_size() -> usize {
    1000
}

/// What happens to a request no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    #[default]
    Deny,
    Allow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    audiences: Option<Vec<String>>,
    algorithms: Vec<String>,
    jwks: RawJwks,
    #[serde(default)]
    from: Option<Vec<RawFrom>>,
    #[serde(default = "default_skew")]
    clock_skew_s: u64,
    #[serde(default = "default_true")]
    require_exp: bool,
    #[serde(default)]
    max_lifetime_s: Option<u64>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default = "default_max_token_bytes")]
    max_token_bytes: usize,
    #[serde(default)]
    claims_to_headers: Vec<RawClaimToHeader>,
    #[serde(default)]
    forward: bool,
    #[serde(default)]
    forward_payload_header: Option<String>,
    #[serde(default)]
    tenant_claim: Option<String>,
}

fn default_skew() -> u64 {
    60
}
fn default_true() -> bool {
    true
}
fn default_max_token_bytes() -> usize {
    8 * 1024
}

/// Longest clock skew accepted: beyond it a token's time claims mean little.
pub const MAX_CLOCK_SKEW_S: u64 = 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawJwks {
    Inline(serde_json::Value),
    Remote(RawRemote),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    cluster: String,
    authority: String,
    path: String,
    #[serde(default = "default_cache_duration")]
    cache_duration_s: u64,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    max_wait_ms: Option<u64>,
    #[serde(default = "default_kid_refetch")]
    unknown_kid_refetch_interval_s: u64,
    #[serde(default = "default_retry")]
    failed_retry_s: u64,
    #[serde(default = "default_max_body")]
    max_body_bytes: usize,
}

fn default_cache_duration() -> u64 {
    600
}
fn default_timeout() -> u64 {
    2000
}
fn default_kid_refetch() -> u64 {
    30
}
fn default_retry() -> u64 {
    1
}
fn default_max_body() -> usize {
    256 * 1024
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrom {
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    cookie: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaimToHeader {
    claim: String,
    header: String,
    #[serde(default)]
    on_invalid: OnInvalidClaim,
}

/// What happens when a claim mapped to a header cannot be carried in one
/// (CR, LF, NUL, non-ASCII, an object, a list with commas in its items).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalidClaim {
    /// Refuse the request (`401 unsafe_claim_value`).
    #[default]
    Deny,
    /// Percent-encode every value of this mapping (always, so the upstream
    /// can decode without guessing): bytes outside `!`..`~` and `%` itself.
    Encode,
    /// Leave the header out (counted and logged).
    Skip,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "match")]
    matches: RawRouteMatch,
    requires: RawRequirement,
}

/// Kept as raw JSON so a mistake gets a precise message rather than serde's
/// "did not match any variant".
type RawRequirement = serde_json::Value;

// ---------- the compiled form ----------

/// Where a provider looks for its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Header { name: String, prefix: String },
    Query { name: String },
    Cookie { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwksConfig {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub cache_duration_ms: u64,
    pub timeout_ms: u64,
    /// How long a request may wait for keys before failing closed.
    pub max_wait_ms: u64,
    pub unknown_kid_refetch_interval_ms: u64,
    pub failed_retry_ms: u64,
    pub max_body_bytes: usize,
}

impl RemoteJwksConfig {
    /// The shared-data identity of this key source: providers (even in other
    /// filter configs of the same VM) fetching the same URL share one copy.
    pub fn source_id(&self) -> String {
        format!("{}|{}|{}", self.cluster, self.authority, self.path)
    }
}

#[derive(Debug, Clone)]
pub enum KeySource {
    Inline(std::rc::Rc<KeySet>),
    Remote(RemoteJwksConfig),
}

#[derive(Debug, Clone)]
pub struct ClaimToHeader {
    pub claim: String,
    pub header: String,
    pub on_invalid: OnInvalidClaim,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub issuer: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub algorithms: Vec<Algorithm>,
    pub keys: KeySource,
    pub sources: Vec<TokenSource>,
    pub clock_skew_s: u64,
    pub require_exp: bool,
    pub max_lifetime_s: Option<u64>,
    pub typ: Option<String>,
    pub max_token_bytes: usize,
    pub claims_to_headers: Vec<ClaimToHeader>,
    pub forward: bool,
    pub forward_payload_header: Option<String>,
    pub tenant_claim: Option<String>,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// Providers in name order; rules refer to them by index.
    pub providers: Vec<Provider>,
    pub rules: Vec<Rule>,
    pub unmatched: Unmatched,
    pub realm: String,
    pub bypass_cors_preflight: bool,
    pub token_cache_size: usize,
    /// Every header edgeward sets upstream; client copies (in every spelling
    /// a server may read as the same name) are always removed.
    pub output_headers: Vec<String>,
    pub path_policy: PathPolicy,
    /// Warnings found while compiling (logged at configure time).
    pub warnings: Vec<String>,
}

impl JwtConfig {
    /// The header name of provider `p`'s source `s`, when it is a header.
    pub fn header_source(&self, p: usize, s: usize) -> Option<&str> {
        match self.providers.get(p)?.sources.get(s)? {
            TokenSource::Header { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Parses and validates the plugin configuration.
    pub fn from_json(bytes: &[u8]) -> Result<JwtConfig, ConfigError> {
        compile(parse_json::<RawConfig>(bytes)?)
    }
}

fn compile(raw: RawConfig) -> Result<JwtConfig, ConfigError> {
    if raw.providers.is_empty() {
        return Err(err("providers", "at least one provider is required"));
    }
    let token_cache_size = in_range(
        &Field::root("token_cache_size"),
        raw.token_cache_size,
        0,
        100_000,
    )?;
    let mut providers = Vec::new();
    let mut warnings = Vec::new();
    for (name, p) in raw.providers {
        providers.push(compile_provider(&name, p, &mut warnings)?);
    }
    let names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    let mut rules = Vec::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        rules.push(compile_rule(i, r, &names)?);
    }
    if rules.is_empty() && raw.unmatched == Unmatched::Deny {
        return Err(err(
            "rules",
            "no rules and unmatched requests denied: every request would be refused; add a rule",
        ));
    }
    let mut output_headers: Vec<String> = Vec::new();
    for p in &providers {
        let hs = p.claims_to_headers.iter().map(|c| c.header.clone());
        for h in hs.chain(p.forward_payload_header.clone()) {
            if !output_headers.contains(&h) {
                output_headers.push(h);
            }
        }
    }
    // A header edgeward sets must never be where a token is read from.
    for (pi, p) in providers.iter().enumerate() {
        for (si, s) in p.sources.iter().enumerate() {
            if let TokenSource::Header { name, .. } = s {
                if output_headers.iter().any(|h| same_header_name(h, name)) {
                    return Err(err(
                        format!("providers.{}.from[{si}].header", names[pi]),
                        format!("{name:?} is also a header edgeward sets (claims_to_headers or forward_payload_header)"),
                    ));
                }
            }
        }
    }
    let realm = raw.realm.unwrap_or_else(|| "edgeward".to_string());
    if !is_safe_header_value(&realm) {
        return Err(err("realm", "must be printable ASCII"));
    }
    Ok(JwtConfig {
        providers,
        rules,
        unmatched: raw.unmatched,
        realm,
        bypass_cors_preflight: raw.bypass_cors_preflight,
        token_cache_size,
        output_headers,
        path_policy: PathPolicy::compile(raw.path_policy),
        warnings,
    })
}

fn compile_provider(
    name: &str,
    p: RawProvider,
    warnings: &mut Vec<String>,
) -> Result<Provider, ConfigError> {
    let at = |field: &str| format!("providers.{name}.{field}");
    let field = |f: &str| Field::root("providers").child(name).child(f);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(err(
            format!("providers.{name:?}"),
            "provider names use letters, digits, '-', '_' and '.' only",
        ));
    }
    if p.algorithms.is_empty() {
        return Err(err(
            at("algorithms"),
            "list at least one algorithm, e.g. [\"RS256\"]",
        ));
    }
    let mut algorithms = Vec::new();
    for (i, a) in p.algorithms.iter().enumerate() {
        let alg = Algorithm::from_name(a).ok_or_else(|| {
            let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            err(
                format!("{}[{i}]", at("algorithms")),
                format!(
                    "{a:?} is not a supported algorithm; use one of {}",
                    known.join(", ")
                ),
            )
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    let has_hmac = algorithms.iter().any(|a| a.key_family() == KeyFamily::Hmac);
    let keys = match p.jwks {
        RawJwks::Inline(doc) => {
            let bytes =
                serde_json::to_vec(&doc).map_err(|e| err(at("jwks.inline"), e.to_string()))?;
            let set = KeySet::from_json(&bytes).map_err(|e| err(at("jwks.inline"), e.0))?;
            inline_key_policy(&at("jwks.inline"), &set, warnings)?;
            if !algorithms
                .iter()
                .any(|a| !set.candidates(*a, None).is_empty())
            {
                return Err(err(
                    at("jwks.inline"),
                    "no key fits any of the provider's algorithms",
                ));
            }
            KeySource::Inline(std::rc::Rc::new(set))
        }
        RawJwks::Remote(r) => {
            if has_hmac {
                return Err(err(
                    at("algorithms"),
                    "HS* algorithms need a shared secret: give it in jwks.inline, never fetch secrets over HTTP",
                ));
            }
            if r.cluster.is_empty() {
                return Err(err(
                    at("jwks.remote.cluster"),
                    "name the Envoy cluster that serves the JWKS",
                ));
            }
            if r.authority.is_empty() || !is_safe_header_value(&r.authority) {
                return Err(err(
                    at("jwks.remote.authority"),
                    "give the Host of the JWKS server",
                ));
            }
            if !r.path.starts_with('/') || !is_safe_header_value(&r.path) {
                return Err(err(at("jwks.remote.path"), "must start with '/'"));
            }
            let remote = field("jwks").child("remote");
            let cache_s = in_range(
                &remote.child("cache_duration_s"),
                r.cache_duration_s,
                1,
                7 * 86_400,
            )?;
            let timeout_ms = in_range(&remote.child("timeout_ms"), r.timeout_ms, 1, 60_000)?;
            let max_wait_ms = match r.max_wait_ms {
                Some(ms) => in_range(&remote.child("max_wait_ms"), ms, 0, 60_000)?,
                None => timeout_ms.saturating_add(500).min(60_000),
            };
            let kid_s = in_range(
                &remote.child("unknown_kid_refetch_interval_s"),
                r.unknown_kid_refetch_interval_s,
                1,
                86_400,
            )?;
            let retry_s = in_range(&remote.child("failed_retry_s"), r.failed_retry_s, 1, 3600)?;
            let max_body = in_range(
                &remote.child("max_body_bytes"),
                r.max_body_bytes,
                1,
                4 * 1024 * 1024,
            )?;
            KeySource::Remote(RemoteJwksConfig {
                cluster: r.cluster,
                authority: r.authority,
                path: r.path,
                cache_duration_ms: secs_to_ms(cache_s),
                timeout_ms,
                max_wait_ms,
                unknown_kid_refetch_interval_ms: secs_to_ms(kid_s),
                failed_retry_ms: secs_to_ms(retry_s),
                max_body_bytes: max_body,
            })
        }
    };
    let sources = match p.from {
        None => vec![TokenSource::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
        }],
        Some(list) if list.is_empty() => {
            return Err(err(
                at("from"),
                "list at least one place to read the token from",
            ))
        }
        Some(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, f)| compile_source(&format!("{}[{i}]", at("from")), f))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if let Some(aud) = &p.audiences {
        if aud.is_empty() || aud.iter().any(String::is_empty) {
            return Err(err(
                at("audiences"),
                "omit it to skip the check, or list non-empty audiences",
            ));
        }
    }
    let clock_skew_s = in_range(&field("clock_skew_s"), p.clock_skew_s, 0, MAX_CLOCK_SKEW_S)?;
    let max_token_bytes = in_range(&field("max_token_bytes"), p.max_token_bytes, 16, 64 * 1024)?;
    if let Some(max) = p.max_lifetime_s {
        in_range(&field("max_lifetime_s"), max, 1, 366 * 86_400)?;
    }
    let mut claims_to_headers = Vec::new();
    for (i, c) in p.claims_to_headers.into_iter().enumerate() {
        let f = format!("{}[{i}]", at("claims_to_headers"));
        if c.claim.is_empty() || c.claim.split('.').any(str::is_empty) {
            return Err(err(
                format!("{f}.claim"),
                "name a claim (nested with dots: a.b)",
            ));
        }
        check_output_header(&format!("{f}.header"), &c.header)?;
        if claims_to_headers
            .iter()
            .any(|x: &ClaimToHeader| same_header_name(&x.header, &c.header))
        {
            return Err(err(
                format!("{f}.header"),
                format!("{:?} is already set by another mapping", c.header),
            ));
        }
        claims_to_headers.push(ClaimToHeader {
            claim: c.claim,
            header: c.header,
            on_invalid: c.on_invalid,
        });
    }
    if let Some(h) = &p.forward_payload_header {
        check_output_header(&at("forward_payload_header"), h)?;
    }
    if let Some(t) = &p.tenant_claim {
        if t.is_empty() || t.split('.').any(str::is_empty) {
            return Err(err(
                at("tenant_claim"),
                "name a claim (nested with dots: a.b)",
            ));
        }
    }
    Ok(Provider {
        name: name.to_string(),
        issuer: p.issuer,
        audiences: p.audiences,
        algorithms,
        keys,
        sources,
        clock_skew_s,
        require_exp: p.require_exp,
        max_lifetime_s: p.max_lifetime_s,
        typ: p.typ,
        max_token_bytes,
        claims_to_headers,
        forward: p.forward,
        forward_payload_header: p.forward_payload_header,
        tenant_claim: p.tenant_claim,
    })
}

/// Inline keys are the operator's own. A broken or unsafe key is a mistake
/// worth refusing the config for; a well-formed key that is not for
/// signatures (an `enc` key copied along with an IdP's JWKS) is skipped
/// with a warning, the way a remote JWKS treats it.
fn inline_key_policy(
    field: &str,
    set: &KeySet,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let Some(bad) = set.skipped.of_class(SkipClass::Invalid).next() {
        return Err(err(field, format!("unusable key: {bad}")));
    }
    for k in set.skipped.of_class(SkipClass::NotForSignatures) {
        warnings.push(format!("{field}: ignored {k}"));
    }
    Ok(())
}

/// Headers that change routing, framing or credentials, or that Envoy
/// reserves for itself: never set from a claim.
const RESERVED_HEADERS: [&str; 14] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "authorization",
    "proxy-authorization",
    "cookie",
    "expect",
];

fn check_output_header(field: &str, name: &str) -> Result<(), ConfigError> {
    let lower_token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !lower_token || !is_settable_header_name(name) {
        return Err(err(
            field,
            format!("{name:?} is not a header edgeward may set: use a lower-case name such as \"x-tenant-id\""),
        ));
    }
    if RESERVED_HEADERS.contains(&name) || name.starts_with("x-envoy-") {
        return Err(err(
            field,
            format!("{name:?} is not a header edgeward may set: it is a hop-by-hop, framing, credential or Envoy-reserved header"),
        ));
    }
    Ok(())
}

fn compile_source(field: &str, f: RawFrom) -> Result<TokenSource, ConfigError> {
    match (f.header, f.query, f.cookie) {
        (Some(h), None, None) => {
            let name = h.to_ascii_lowercase();
            if name.is_empty() || name.starts_with(':') {
                return Err(err(format!("{field}.header"), "name a regular request header"));
            }
            Ok(TokenSource::Header {
                name,
                prefix: f.prefix.unwrap_or_default(),
            })
        }
        (None, Some(q), None) if f.prefix.is_none() && !q.is_empty() => Ok(TokenSource::Query { name: q }),
        (None, None, Some(c)) if f.prefix.is_none() && !c.is_empty() => Ok(TokenSource::Cookie { name: c }),
        _ => Err(err(
            field,
            "give exactly one of {\"header\": name, \"prefix\": p}, {\"query\": name}, {\"cookie\": name}",
        )),
    }
}

fn compile_rule(i: usize, r: RawRule, providers: &[String]) -> Result<Rule, ConfigError> {
    let at = |f: &str| format!("rules[{i}].{f}");
    let rule_field = Field::root("rules").index(i);
    if let Some(n) = &r.name {
        check_name(&rule_field.child("name"), n)?;
    }
    let matcher = RouteMatch::compile(&rule_field.child("match"), &r.matches)?;
    let lookup = |field: String, name: &str| -> Result<usize, ConfigError> {
        providers.iter().position(|p| p == name).ok_or_else(|| {
            err(
                field,
                format!(
                    "unknown provider {name:?}; defined: {}",
                    providers.join(", ")
                ),
            )
        })
    };
    let list = |field: &str, names: Vec<String>| -> Result<Vec<usize>, ConfigError> {
        if names.is_empty() {
            return Err(err(at(field), "list at least one provider"));
        }
        names
            .iter()
            .enumerate()
            .map(|(j, n)| lookup(format!("{}[{j}]", at(field)), n))
            .collect()
    };
    const SHAPES: &str =
        "use \"none\", {\"provider\": p}, {\"any\": [p, ...]}, {\"all\": [p, ...]} or {\"allow_missing\": [p, ...]}";
    let strings = |field: &str, v: &serde_json::Value| -> Result<Vec<String>, ConfigError> {
        v.as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| err(at(field), "must be a list of provider names"))
    };
    let requires = match &r.requires {
        serde_json::Value::String(k) if k == "none" => Requirement::None,
        serde_json::Value::Object(o) if o.len() == 1 => {
            let (kind, v) = o.iter().next().ok_or_else(|| err(at("requires"), SHAPES))?;
            match kind.as_str() {
                "provider" => {
                    let p = v
                        .as_str()
                        .ok_or_else(|| err(at("requires.provider"), "must be a provider name"))?;
                    Requirement::Any(vec![lookup(at("requires.provider"), p)?])
                }
                "any" => Requirement::Any(list("requires.any", strings("requires.any", v)?)?),
                "all" => Requirement::All(list("requires.all", strings("requires.all", v)?)?),
                "allow_missing" => Requirement::AllowMissing(list(
                    "requires.allow_missing",
                    strings("requires.allow_missing", v)?,
                )?),
                other => {
                    return Err(err(
                        at("requires"),
                        format!("unknown requirement {other:?}; {SHAPES}"),
                    ))
                }
            }
        }
        other => {
            return Err(err(
                at("requires"),
                format!("{other} is not a requirement; {SHAPES}"),
            ))
        }
    };
    let label = r.name.clone().unwrap_or_else(|| i.to_string());
    let allow_records = providers
        .iter()
        .map(|p| Some(p.as_str()))
        .chain([None])
        .map(|p| decision_record(true, Some(i), r.name.as_deref(), None, p))
        .collect();
    Ok(Rule {
        index: i,
        allowed_metric: labeled(ALLOWED, &[("rule", &label)]),
        allow_records,
        label,
        name: r.name,
        matcher,
        requires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const SECRET_K: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";

    fn base() -> Value {
        json!({
            "providers": {"idp": {
                "issuer": "https://idp", "algorithms": ["HS256"],
                "jwks": {"inline": {"keys": [{"kty": "oct", "k": SECRET_K}]}}
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}]
        })
    }

    fn error_of(cfg: Value) -> ConfigError {
        JwtConfig::from_json(cfg.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn a_good_config_compiles_with_defaults() {
        let c = JwtConfig::from_json(base().to_string().as_bytes()).unwrap();
        let p = &c.providers[0];
        assert_eq!(p.clock_skew_s, 60);
        assert!(p.require_exp);
        assert_eq!(p.max_token_bytes, 8192);
        assert!(!p.forward);
        assert_eq!(
            p.sources,
            vec![TokenSource::Header {
                name: "authorization".into(),
                prefix: "Bearer ".into()
            }]
        );
        assert_eq!(c.unmatched, Unmatched::Deny);
        assert_eq!(c.realm, "edgeward");
        assert_eq!(c.rules[0].requires, Requirement::Any(vec![0]));
    }

    #[test]
    fn every_error_names_its_field() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                Box::new(|c| c["extra"] = json!(1)),
                "extra",
                "unknown field `extra`",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["isuer"] = json!("x")),
                "providers.idp.isuer",
                "unknown field `isuer`",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["algorithms"] = json!(["HS256", "none"])),
                "providers.idp.algorithms[1]",
                "\"none\" is not a supported algorithm",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["algorithms"] = json!([])),
                "providers.idp.algorithms",
                "at least one",
            ),
            (
                Box::new(|c| c["rules"][0]["requires"] = json!({"provider": "nope"})),
                "rules[0].requires.provider",
                "unknown provider \"nope\"",
            ),
            (
                Box::new(|c| c["rules"][0]["requires"] = json!({"any": ["idp", "x"]})),
                "rules[0].requires.any[1]",
                "unknown provider",
            ),
            (
                Box::new(|c| c["rules"][0]["requires"] = json!({"provder": "idp"})),
                "rules[0].requires",
                "unknown requirement \"provder\"",
            ),
            (
                Box::new(|c| c["rules"][0]["requires"] = json!("always")),
                "rules[0].requires",
                "is not a requirement",
            ),
            (
                Box::new(|c| c["rules"][0]["requires"] = json!({"all": "idp"})),
                "rules[0].requires.all",
                "list of provider names",
            ),
            (
                Box::new(|c| c["rules"][0]["match"] = json!({"prefix": "x"})),
                "rules[0].match.prefix",
                "not a canonical path",
            ),
            (
                Box::new(|c| c["rules"][0]["match"] = json!({"prefix": "/a/../b"})),
                "rules[0].match.prefix",
                "not a canonical path",
            ),
            (
                Box::new(|c| c["rules"][0]["name"] = json!("has space")),
                "rules[0].name",
                "not a valid name",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["clock_skew_s"] = json!(3601)),
                "providers.idp.clock_skew_s",
                "0..=3600",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] =
                        json!([{"claim": "t", "header": "cookie"}])
                }),
                "providers.idp.claims_to_headers[0].header",
                "hop-by-hop, framing, credential",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] =
                        json!([{"claim": "t", "header": "x-envoy-original-path"}])
                }),
                "providers.idp.claims_to_headers[0].header",
                "Envoy-reserved",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] =
                        json!([{"claim": "t", "header": "x_tenant"}])
                }),
                "providers.idp.claims_to_headers[0].header",
                "lower-case name",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] = json!([
                        {"claim": "t", "header": "x-tenant"},
                        {"claim": "u", "header": "x-tenant"}])
                }),
                "providers.idp.claims_to_headers[1].header",
                "already set",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] =
                        json!([{"claim": "t", "header": "x-t", "on_invalid": "drop"}])
                }),
                "providers.idp.claims_to_headers[0].on_invalid",
                "unknown variant",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] =
                        json!([{"claim": "t", "header": "x-device-token"}]);
                    c["providers"]["idp"]["from"] = json!([{"header": "X-Device_Token"}]);
                }),
                "providers.idp.from[0].header",
                "also a header edgeward sets",
            ),
            (
                Box::new(|c| c["path_policy"] = json!({"allow": ["dot_segments"]})),
                "path_policy.allow[0]",
                "unknown variant",
            ),
            (
                Box::new(|c| c["rules"][0]["match"] = json!({"prefix": "/", "path": "/a"})),
                "rules[0].match",
                "exactly one",
            ),
            (
                Box::new(|c| c["rules"] = json!([])),
                "rules",
                "every request would be refused",
            ),
            (
                Box::new(|c| c["providers"] = json!({})),
                "providers",
                "at least one provider",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["jwks"] =
                        json!({"remote": {"cluster": "c", "authority": "a", "path": "/j"}})
                }),
                "providers.idp.algorithms",
                "never fetch secrets",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["jwks"] =
                        json!({"inline": {"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}})
                }),
                "providers.idp.jwks.inline",
                "unusable key",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["jwks"] = json!({"inline": {"nokeys": []}})),
                "providers.idp.jwks.inline",
                "",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] =
                        json!([{"claim": "t", "header": "Host"}])
                }),
                "providers.idp.claims_to_headers[0].header",
                "not a header edgeward may set",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["claims_to_headers"] =
                        json!([{"claim": "t", "header": "authorization"}])
                }),
                "providers.idp.claims_to_headers[0].header",
                "not a header",
            ),
            (
                Box::new(|c| {
                    c["providers"]["idp"]["from"] = json!([{"header": "a", "query": "b"}])
                }),
                "providers.idp.from[0]",
                "exactly one",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["from"] = json!([])),
                "providers.idp.from",
                "at least one",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["audiences"] = json!([])),
                "providers.idp.audiences",
                "omit it",
            ),
            (
                Box::new(|c| c["providers"]["idp"]["max_token_bytes"] = json!(1)),
                "providers.idp.max_token_bytes",
                "16..=65536",
            ),
            (
                Box::new(|c| c["realm"] = json!("a\nb")),
                "realm",
                "printable",
            ),
            (
                Box::new(|c| c["token_cache_size"] = json!(1_000_000)),
                "token_cache_size",
                "0..=100000",
            ),
        ];
        for (edit, field, message) in cases {
            let mut c = base();
            edit(&mut c);
            let e = error_of(c);
            assert_eq!(e.field, field, "{e}");
            assert!(e.message.contains(message), "{e}");
        }
    }

    #[test]
    fn remote_jwks_defaults() {
        let mut c = base();
        c["providers"]["idp"]["algorithms"] = json!(["RS256"]);
        c["providers"]["idp"]["jwks"] =
            json!({"remote": {"cluster": "idp", "authority": "idp.local", "path": "/jwks"}});
        let cfg = JwtConfig::from_json(c.to_string().as_bytes()).unwrap();
        let KeySource::Remote(r) = &cfg.providers[0].keys else {
            panic!("remote expected")
        };
        assert_eq!(r.cache_duration_ms, 600_000);
        assert_eq!(r.timeout_ms, 2000);
        assert_eq!(r.max_wait_ms, 2500);
        assert_eq!(r.unknown_kid_refetch_interval_ms, 30_000);
        assert_eq!(r.source_id(), "idp|idp.local|/jwks");
    }

    #[test]
    fn inline_enc_keys_are_skipped_with_a_warning_broken_keys_refused() {
        let mut c = base();
        c["providers"]["idp"]["jwks"] = json!({"inline": {"keys": [
            {"kty": "oct", "k": SECRET_K},
            {"kty": "oct", "use": "enc", "kid": "e", "k": SECRET_K}
        ]}});
        let cfg = JwtConfig::from_json(c.to_string().as_bytes()).unwrap();
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert!(cfg.warnings[0].starts_with("providers.idp.jwks.inline: ignored key 1"));
        c["providers"]["idp"]["jwks"]["inline"]["keys"][1] = json!({"kty": "oct", "k": "!!"});
        let e = error_of(c);
        assert_eq!(e.field, "providers.idp.jwks.inline");
        assert!(e.message.contains("unusable key: key 1"), "{e}");
    }

    #[test]
    fn remote_timing_fields_are_range_checked_not_clamped() {
        for (field, value, range) in [
            ("unknown_kid_refetch_interval_s", 0u64, "1..=86400"),
            ("max_wait_ms", 60_001, "0..=60000"),
            ("timeout_ms", 0, "1..=60000"),
            ("cache_duration_s", 0, "1..=604800"),
            ("failed_retry_s", 0, "1..=3600"),
            ("max_body_bytes", 5_000_000, "1..=4194304"),
        ] {
            let mut c = base();
            c["providers"]["idp"]["algorithms"] = json!(["RS256"]);
            c["providers"]["idp"]["jwks"] = json!({"remote": {
                "cluster": "idp", "authority": "idp.local", "path": "/jwks", field: value}});
            let e = error_of(c);
            assert_eq!(e.field, format!("providers.idp.jwks.remote.{field}"), "{e}");
            assert!(e.message.contains(range), "{e}");
        }
    }
}
