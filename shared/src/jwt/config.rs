//! The JWT filter's configuration: parsed with unknown fields refused, then
//! validated and compiled (keys parsed, algorithms resolved, rules checked)
//! once, in `on_configure`. Every error names the field at fault.

use super::matcher::{Requirement, Rule, RuleMatch};
use crate::http::is_settable_header_name;
use crate::jose::algorithm::{Algorithm, KeyFamily};
use crate::jose::jwk::KeySet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// A configuration error: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    matches: RawMatch,
    requires: RawRequirement,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    methods: Option<Vec<String>>,
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
    /// Every header edgeward sets upstream; client copies are always removed.
    pub output_headers: Vec<String>,
}

impl JwtConfig {
    /// Parses and validates the plugin configuration.
    pub fn from_json(bytes: &[u8]) -> Result<JwtConfig, ConfigError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            err(field, e.into_inner().to_string())
        })?;
        compile(raw)
    }
}

fn compile(raw: RawConfig) -> Result<JwtConfig, ConfigError> {
    if raw.providers.is_empty() {
        return Err(err("providers", "at least one provider is required"));
    }
    if raw.token_cache_size > 100_000 {
        return Err(err("token_cache_size", "must be at most 100000"));
    }
    let mut providers = Vec::new();
    for (name, p) in raw.providers {
        providers.push(compile_provider(&name, p)?);
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
    let realm = raw.realm.unwrap_or_else(|| "edgeward".to_string());
    if !crate::http::is_safe_header_value(&realm) {
        return Err(err("realm", "must be printable ASCII"));
    }
    Ok(JwtConfig {
        providers,
        rules,
        unmatched: raw.unmatched,
        realm,
        bypass_cors_preflight: raw.bypass_cors_preflight,
        token_cache_size: raw.token_cache_size,
        output_headers,
    })
}

fn compile_provider(name: &str, p: RawProvider) -> Result<Provider, ConfigError> {
    let at = |field: &str| format!("providers.{name}.{field}");
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
            if let Some(why) = set.skipped.first() {
                return Err(err(at("jwks.inline"), format!("unusable key: {why}")));
            }
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
            if r.authority.is_empty() {
                return Err(err(
                    at("jwks.remote.authority"),
                    "give the Host of the JWKS server",
                ));
            }
            if !r.path.starts_with('/') {
                return Err(err(at("jwks.remote.path"), "must start with '/'"));
            }
            if r.cache_duration_s == 0 {
                return Err(err(
                    at("jwks.remote.cache_duration_s"),
                    "must be at least 1",
                ));
            }
            if !(1..=60_000).contains(&r.timeout_ms) {
                return Err(err(at("jwks.remote.timeout_ms"), "must be 1..60000"));
            }
            if r.max_body_bytes == 0 || r.max_body_bytes > 4 * 1024 * 1024 {
                return Err(err(at("jwks.remote.max_body_bytes"), "must be 1..4194304"));
            }
            KeySource::Remote(RemoteJwksConfig {
                cluster: r.cluster,
                authority: r.authority,
                path: r.path,
                cache_duration_ms: r.cache_duration_s.saturating_mul(1000),
                timeout_ms: r.timeout_ms,
                max_wait_ms: r.max_wait_ms.unwrap_or(r.timeout_ms.saturating_add(500)),
                unknown_kid_refetch_interval_ms: r
                    .unknown_kid_refetch_interval_s
                    .saturating_mul(1000),
                failed_retry_ms: r.failed_retry_s.max(1).saturating_mul(1000),
                max_body_bytes: r.max_body_bytes,
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
    if p.max_token_bytes < 16 || p.max_token_bytes > 64 * 1024 {
        return Err(err(at("max_token_bytes"), "must be 16..65536"));
    }
    let mut claims_to_headers = Vec::new();
    for (i, c) in p.claims_to_headers.into_iter().enumerate() {
        let f = format!("{}[{i}]", at("claims_to_headers"));
        if c.claim.is_empty() {
            return Err(err(
                format!("{f}.claim"),
                "name a claim (nested with dots: a.b)",
            ));
        }
        check_output_header(&format!("{f}.header"), &c.header)?;
        claims_to_headers.push(ClaimToHeader {
            claim: c.claim,
            header: c.header,
        });
    }
    if let Some(h) = &p.forward_payload_header {
        check_output_header(&at("forward_payload_header"), h)?;
    }
    Ok(Provider {
        name: name.to_string(),
        issuer: p.issuer,
        audiences: p.audiences,
        algorithms,
        keys,
        sources,
        clock_skew_s: p.clock_skew_s.min(3600),
        require_exp: p.require_exp,
        max_lifetime_s: p.max_lifetime_s,
        typ: p.typ,
        max_token_bytes: p.max_token_bytes,
        claims_to_headers,
        forward: p.forward,
        forward_payload_header: p.forward_payload_header,
    })
}

fn check_output_header(field: &str, name: &str) -> Result<(), ConfigError> {
    if !is_settable_header_name(name) {
        return Err(err(
            field,
            format!("{name:?} is not a header edgeward may set: use a lower-case name such as \"x-tenant-id\""),
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
    let m = r.matches;
    let matcher = match (m.prefix, m.path) {
        (Some(p), None) if p.starts_with('/') => RuleMatch::Prefix(p),
        (None, Some(p)) if p.starts_with('/') => RuleMatch::Exact(p),
        _ => {
            return Err(err(
                at("match"),
                "give exactly one of \"prefix\" or \"path\", starting with '/'",
            ))
        }
    };
    let methods = match m.methods {
        None => Vec::new(),
        Some(ms) if ms.is_empty() => {
            return Err(err(at("match.methods"), "omit it or list methods"))
        }
        Some(ms) => ms.into_iter().map(|s| s.to_ascii_uppercase()).collect(),
    };
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
    Ok(Rule {
        index: i,
        matcher,
        methods,
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
                "rules[0].match",
                "starting with '/'",
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
                "16..65536",
            ),
            (
                Box::new(|c| c["realm"] = json!("a\nb")),
                "realm",
                "printable",
            ),
            (
                Box::new(|c| c["token_cache_size"] = json!(1_000_000)),
                "token_cache_size",
                "at most",
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
}
