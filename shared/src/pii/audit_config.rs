//! The audit filter's configuration (`edgeward_pii`): what goes into the
//! record, how identity and client address are kept, the body excerpts, and
//! where the record is sent. Unknown fields are refused; every error names
//! its field; out-of-range values are errors.
//!
//! ```json
//! {
//!   "masking": {"hash": {"key": "a secret of at least 16 bytes"}},
//!   "subject": "hash",
//!   "client_ip": {"action": "truncate", "trusted_hops": 0},
//!   "request_headers": ["user-agent", "referer", "authorization", "cookie"],
//!   "response_headers": ["content-type", "set-cookie"],
//!   "body": {"request": true, "response": false, "max_bytes": 4096},
//!   "decisions": ["authz", "schema", "ratelimit"],
//!   "log": {"enabled": true},
//!   "filter_state": true,
//!   "collector": {"cluster": "audit", "authority": "audit.internal", "path": "/v1/records"}
//! }
//! ```

use super::masker::Masker;
use super::PiiConfig;
use crate::config::{check_name, err, in_range, parse_json, ConfigError, Field};
use crate::host::LogLevel;
use serde::Deserialize;

/// How the identity's subject is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectAction {
    /// As the JWT filter verified it.
    Keep,
    /// Through the detectors (an email subject is masked as an email).
    #[default]
    Scan,
    /// `[HASH:subject:<hex>]` under `masking.hash.key`: correlatable, not revealed.
    Hash,
    /// `[REDACTED:subject]`.
    Redact,
}

/// How the client address is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpAction {
    Keep,
    /// IPv4 to its /24, IPv6 to its /48 (`203.0.113.0`, `2001:db8:1::`).
    #[default]
    Truncate,
    Hash,
    Redact,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientIpConfig {
    pub action: IpAction,
    /// Proxies in front of Envoy that append to `x-forwarded-for` (0: the
    /// connection's peer is the client).
    pub trusted_hops: usize,
}

impl Default for ClientIpConfig {
    fn default() -> Self {
        ClientIpConfig {
            action: IpAction::Truncate,
            trusted_hops: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BodyConfig {
    /// Record an excerpt of JSON request bodies.
    pub request: bool,
    /// Record an excerpt of JSON response bodies.
    pub response: bool,
    /// The most bytes of a body kept; a longer body is cut back to its last
    /// complete JSON value and marked truncated.
    pub max_bytes: usize,
    /// Media types (without parameters) excerpted.
    pub content_types: Vec<String>,
}

pub const DEFAULT_EXCERPT_BYTES: usize = 4096;
pub const MAX_EXCERPT_BYTES: usize = 64 * 1024;

impl Default for BodyConfig {
    fn default() -> Self {
        BodyConfig {
            request: false,
            response: false,
            max_bytes: DEFAULT_EXCERPT_BYTES,
            content_types: vec!["application/json".to_string()],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelConfig {
    Debug,
    #[default]
    Info,
    Warn,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Write each record to Envoy's log as `edgeward-audit <json>`.
    pub enabled: bool,
    pub level: LevelConfig,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            enabled: true,
            level: LevelConfig::Info,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// The Envoy cluster of the collector.
    pub cluster: String,
    /// `:authority` of the batch requests.
    pub authority: String,
    #[serde(default = "default_collector_path")]
    pub path: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Records per batch (one POST, newline-delimited JSON).
    #[serde(default = "default_batch_records")]
    pub batch_records: usize,
    /// How often queued records are sent.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Records kept waiting per worker; more are dropped (and counted).
    #[serde(default = "default_queue_records")]
    pub queue_records: usize,
    /// Bytes kept waiting per worker; more are dropped (and counted).
    #[serde(default = "default_queue_bytes")]
    pub queue_bytes: usize,
}

fn default_collector_path() -> String {
    "/".to_string()
}
fn default_timeout_ms() -> u64 {
    1000
}
fn default_batch_records() -> usize {
    100
}
fn default_flush_interval_ms() -> u64 {
    1000
}
fn default_queue_records() -> usize {
    1000
}
fn default_queue_bytes() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub masking: PiiConfig,
    pub subject: SubjectAction,
    pub client_ip: ClientIpConfig,
    /// Request headers recorded (masked by the header rules).
    pub request_headers: Vec<String>,
    /// Response headers recorded (masked by the header rules).
    pub response_headers: Vec<String>,
    pub body: BodyConfig,
    /// Other filters' decisions recorded: filter state `edgeward.<name>`.
    pub decisions: Vec<String>,
    pub log: LogConfig,
    /// Publish the masked record and fields in filter state for Envoy's
    /// access log (`%FILTER_STATE(wasm.edgeward.log:PLAIN)%` ...): `true`
    /// (all), `false` (none) or the names of what to publish.
    pub filter_state: FilterStateConfig,
    pub collector: Option<CollectorConfig>,
}

/// `filter_state`: everything, nothing, or a list of names (`record` and
/// the single fields of [`PUBLISHED_FIELDS`]). Each published value is one
/// `set_property` per request (~0.5 us in Envoy), so a config whose access
/// log prints only the record, or a few fields, names them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FilterStateConfig {
    All(bool),
    Only(Vec<String>),
}

/// What can be published in filter state: `record` is `edgeward.log`, the
/// others `edgeward.log.<name>`. The bit of each is its index.
pub const PUBLISHED_FIELDS: [&str; 11] = [
    "record",
    "method",
    "authority",
    "path",
    "client_ip",
    "subject",
    "tenant",
    "user_agent",
    "referer",
    "details",
    "denied",
];

/// The set of [`PUBLISHED_FIELDS`] a config publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published(u16);

impl Published {
    pub const ALL: Published = Published((1 << PUBLISHED_FIELDS.len()) - 1);
    pub const NONE: Published = Published(0);

    /// Whether `name` (one of [`PUBLISHED_FIELDS`]) is published.
    pub fn has(self, name: &str) -> bool {
        PUBLISHED_FIELDS
            .iter()
            .position(|f| *f == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn compile(config: &FilterStateConfig) -> Result<Published, ConfigError> {
        let names = match config {
            FilterStateConfig::All(true) => return Ok(Published::ALL),
            FilterStateConfig::All(false) => return Ok(Published::NONE),
            FilterStateConfig::Only(names) => names,
        };
        let field = Field::root("filter_state");
        let mut bits = 0u16;
        for (i, name) in names.iter().enumerate() {
            let Some(bit) = PUBLISHED_FIELDS.iter().position(|f| f == name) else {
                return Err(field.index(i).error(format!(
                    "{name:?} is not one of {}",
                    PUBLISHED_FIELDS.join(", ")
                )));
            };
            if bits & (1 << bit) != 0 {
                return Err(field.index(i).error(format!("{name:?} is listed twice")));
            }
            bits |= 1 << bit;
        }
        Ok(Published(bits))
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            masking: PiiConfig::default(),
            subject: SubjectAction::Scan,
            client_ip: ClientIpConfig::default(),
            request_headers: ["user-agent", "referer", "content-type", "content-length"]
                .map(String::from)
                .to_vec(),
            // None by default: reading the response headers is one more
            // host call per request.
            response_headers: Vec::new(),
            body: BodyConfig::default(),
            decisions: ["authz", "schema", "ratelimit"].map(String::from).to_vec(),
            log: LogConfig::default(),
            // Everything: access logs written against earlier versions print
            // the single fields, and an access log naming a field that is
            // not published prints `-` without any error.
            filter_state: FilterStateConfig::All(true),
            collector: None,
        }
    }
}

/// The validated configuration.
pub struct Audit {
    pub masker: Masker,
    pub subject: SubjectAction,
    pub ip: IpAction,
    pub trusted_hops: usize,
    pub request_headers: Vec<String>,
    pub response_headers: Vec<String>,
    pub excerpt_request: bool,
    pub excerpt_response: bool,
    pub excerpt_bytes: usize,
    pub content_types: Vec<String>,
    /// (name, filter-state property `edgeward.<name>`).
    pub decisions: Vec<(String, String)>,
    pub log: Option<LogLevel>,
    /// Anything published in filter state.
    pub filter_state: bool,
    /// What is published there.
    pub published: Published,
    pub collector: Option<CollectorConfig>,
}

fn header_names(field: &Field, names: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let lower = n.to_ascii_lowercase();
        let ok = !lower.is_empty()
            && lower.len() <= 128
            && lower.bytes().enumerate().all(|(j, b)| {
                b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (j == 0 && b == b':')
            });
        if !ok {
            return Err(field.index(i).error(format!("{n:?} is not a header name")));
        }
        if out.contains(&lower) {
            return Err(field.index(i).error(format!("{n:?} is listed twice")));
        }
        out.push(lower);
    }
    Ok(out)
}

impl AuditConfig {
    pub fn from_json(bytes: &[u8]) -> Result<Audit, ConfigError> {
        let raw: AuditConfig = if bytes.iter().all(u8::is_ascii_whitespace) {
            AuditConfig::default()
        } else {
            parse_json(bytes)?
        };
        raw.compile()
    }

    pub fn compile(self) -> Result<Audit, ConfigError> {
        let masker = self.masking.compile().map_err(|e| e.under("masking"))?;
        if self.subject == SubjectAction::Hash && !masker.can_hash() {
            return Err(err(
                "subject",
                "`hash` needs a key: add \"masking\": {\"hash\": {\"key\": \"...\"}}",
            ));
        }
        if self.client_ip.action == IpAction::Hash && !masker.can_hash() {
            return Err(err(
                "client_ip.action",
                "`hash` needs a key: add \"masking\": {\"hash\": {\"key\": \"...\"}}",
            ));
        }
        let trusted_hops = in_range(
            &Field::root("client_ip").child("trusted_hops"),
            self.client_ip.trusted_hops,
            0,
            16,
        )?;
        let request_headers = header_names(&Field::root("request_headers"), &self.request_headers)?;
        let response_headers =
            header_names(&Field::root("response_headers"), &self.response_headers)?;
        let body = Field::root("body");
        let excerpt_bytes = in_range(
            &body.child("max_bytes"),
            self.body.max_bytes,
            1,
            MAX_EXCERPT_BYTES,
        )?;
        let mut content_types = Vec::new();
        for (i, ct) in self.body.content_types.iter().enumerate() {
            let lower = ct.trim().to_ascii_lowercase();
            let ok = lower.split_once('/').is_some_and(|(t, s)| {
                !t.is_empty()
                    && !s.is_empty()
                    && lower.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'-' | b'.')
                    })
            });
            if !ok {
                return Err(body.child("content_types").index(i).error(format!(
                    "{ct:?} is not a media type such as application/json"
                )));
            }
            content_types.push(lower);
        }
        if (self.body.request || self.body.response) && content_types.is_empty() {
            return Err(body
                .child("content_types")
                .error("is empty: no body would ever be excerpted"));
        }
        let mut decisions = Vec::new();
        let field = Field::root("decisions");
        for (i, name) in self.decisions.iter().enumerate() {
            check_name(&field.index(i), name)?;
            if name == "identity" || name == "log" {
                return Err(field.index(i).error(format!(
                    "{name:?} is not a decision (the identity is always recorded)"
                )));
            }
            if decisions.iter().any(|(n, _)| n == name) {
                return Err(field.index(i).error(format!("{name:?} is listed twice")));
            }
            decisions.push((name.clone(), format!("edgeward.{name}")));
        }
        let published = Published::compile(&self.filter_state)?;
        if let Some(c) = &self.collector {
            let f = Field::root("collector");
            if c.cluster.trim().is_empty() {
                return Err(f.child("cluster").error("must name an Envoy cluster"));
            }
            if c.authority.trim().is_empty() || !crate::http::is_safe_header_value(&c.authority) {
                return Err(f.child("authority").error("must be a host name"));
            }
            if !c.path.starts_with('/') || !crate::http::is_safe_header_value(&c.path) {
                return Err(f.child("path").error("must start with '/'"));
            }
            in_range(&f.child("timeout_ms"), c.timeout_ms, 1, 60_000)?;
            in_range(&f.child("batch_records"), c.batch_records, 1, 10_000)?;
            in_range(
                &f.child("flush_interval_ms"),
                c.flush_interval_ms,
                10,
                60_000,
            )?;
            in_range(&f.child("queue_records"), c.queue_records, 1, 1_000_000)?;
            in_range(
                &f.child("queue_bytes"),
                c.queue_bytes,
                1024,
                256 * 1024 * 1024,
            )?;
        }
        Ok(Audit {
            masker,
            subject: self.subject,
            ip: self.client_ip.action,
            trusted_hops,
            request_headers,
            response_headers,
            excerpt_request: self.body.request,
            excerpt_response: self.body.response,
            excerpt_bytes,
            content_types,
            decisions,
            log: self.log.enabled.then_some(match self.log.level {
                LevelConfig::Debug => LogLevel::Debug,
                LevelConfig::Info => LogLevel::Info,
                LevelConfig::Warn => LogLevel::Warn,
            }),
            filter_state: !published.is_empty(),
            published,
            collector: self.collector,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(json: &str) -> ConfigError {
        match AuditConfig::from_json(json.as_bytes()) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_is_complete_and_excerpts_are_off() {
        let a = AuditConfig::from_json(b"").unwrap();
        assert!(!a.excerpt_request && !a.excerpt_response);
        assert_eq!(a.subject, SubjectAction::Scan);
        assert_eq!(a.ip, IpAction::Truncate);
        assert!(a.log.is_some() && a.filter_state && a.collector.is_none());
        let a = AuditConfig::from_json(b"{}").unwrap();
        assert_eq!(a.decisions.len(), 3);
    }

    #[test]
    fn filter_state_is_all_none_or_a_list() {
        let a = AuditConfig::from_json(b"{}").unwrap();
        assert_eq!(a.published, Published::ALL);
        assert!(PUBLISHED_FIELDS.iter().all(|f| a.published.has(f)));
        let a = AuditConfig::from_json(br#"{"filter_state": false}"#).unwrap();
        assert!(!a.filter_state && a.published.is_empty());
        let a = AuditConfig::from_json(br#"{"filter_state": []}"#).unwrap();
        assert!(!a.filter_state);
        let a = AuditConfig::from_json(br#"{"filter_state": ["record", "path"]}"#).unwrap();
        assert!(a.filter_state && a.published.has("record") && a.published.has("path"));
        assert!(!a.published.has("method") && !a.published.has("nonsense"));
    }

    #[test]
    fn errors_name_their_field() {
        for (json, field) in [
            (r#"{"subjekt": "keep"}"#, "subjekt"),
            (r#"{"subject": "hash"}"#, "subject"),
            (r#"{"client_ip": {"action": "hash"}}"#, "client_ip.action"),
            (
                r#"{"client_ip": {"trusted_hops": 17}}"#,
                "client_ip.trusted_hops",
            ),
            (
                r#"{"masking": {"detectors": {"emial": {}}}}"#,
                "masking.detectors.emial",
            ),
            (
                r#"{"masking": {"hash": {"key": "short"}}}"#,
                "masking.hash.key",
            ),
            (
                r#"{"request_headers": ["user agent"]}"#,
                "request_headers[0]",
            ),
            (r#"{"response_headers": ["a", "A"]}"#, "response_headers[1]"),
            (r#"{"body": {"max_bytes": 0}}"#, "body.max_bytes"),
            (r#"{"body": {"max_bytes": 65537}}"#, "body.max_bytes"),
            (
                r#"{"body": {"content_types": ["json"]}}"#,
                "body.content_types[0]",
            ),
            (
                r#"{"body": {"request": true, "content_types": []}}"#,
                "body.content_types",
            ),
            (r#"{"decisions": ["a.b"]}"#, "decisions[0]"),
            (r#"{"decisions": ["identity"]}"#, "decisions[0]"),
            (r#"{"collector": {"cluster": "c"}}"#, "collector"),
            (
                r#"{"collector": {"cluster": "", "authority": "a"}}"#,
                "collector.cluster",
            ),
            (
                r#"{"collector": {"cluster": "c", "authority": "a", "path": "x"}}"#,
                "collector.path",
            ),
            (
                r#"{"collector": {"cluster": "c", "authority": "a", "batch_records": 0}}"#,
                "collector.batch_records",
            ),
            (
                r#"{"collector": {"cluster": "c", "authority": "a", "queue_bytes": 10}}"#,
                "collector.queue_bytes",
            ),
            (r#"{"log": {"level": "trace"}}"#, "log.level"),
            (r#"{"filter_state": ["record", "pth"]}"#, "filter_state[1]"),
            (r#"{"filter_state": ["path", "path"]}"#, "filter_state[1]"),
            (r#"{"filter_state": "yes"}"#, "filter_state"),
        ] {
            let e = error_of(json);
            assert_eq!(e.field, field, "{json}: {e}");
        }
    }
}
