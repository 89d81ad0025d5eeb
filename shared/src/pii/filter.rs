//! The audit-record filter (`edgeward_pii`): one masked JSON record per
//! request, built in the log phase, so requests answered by an earlier
//! filter or by Envoy itself (401, 403, 413, 415, 429, 503) leave one too.
//!
//! The request is never paused or changed: headers and properties are read
//! in `on_log` (Envoy hands the request headers to the access-log phase),
//! bodies are copied chunk by chunk only up to the excerpt cap and only
//! when excerpts are on. Every value that could carry PII goes through the
//! [`Masker`]; what cannot be scanned is replaced by a marker.
//!
//! Outputs, each optional: the record as one line `edgeward-audit {json}` in
//! Envoy's log; the masked record and fields in filter state for Envoy's own
//! access log; batches of records (newline-delimited JSON) POSTed to a
//! collector cluster from the timer, with a bounded queue per worker: a full
//! queue or a failed batch drops records and counts them, never the request.

use super::audit_config::{Audit, AuditConfig, CollectorConfig, Published, SubjectAction};
use super::excerpt::Excerpt;
use super::record::{self, LOG_PREFIX, RECORD_PROPERTY};
use crate::client_ip::parse_addr;
use crate::config::ConfigError;
use crate::filter::{Filter, Origin, StreamId, Streams, Verdict};
use crate::host::{CalloutResponse, Host, HostError, HttpCallRequest, LogLevel};
use crate::http::RequestHead;
use crate::identity::Identity;
use crate::json_writer::Obj;
use crate::metrics::labeled;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};

/// Metric names (Envoy: `wasmcustom.<name>`).
pub const RECORDS: &str = "edgeward.pii.records";
pub const REDACTIONS: &str = "edgeward.pii.redactions";
pub const DROPPED: &str = "edgeward.pii.dropped";
pub const BATCHES: &str = "edgeward.pii.collector";

/// Longest request id or other short client-supplied field kept, after
/// masking (longer ones are cut and marked `[TRUNCATED]`).
const SHORT_FIELD_BYTES: usize = 256;

/// Per-stream capture: only when body excerpts are on.
#[derive(Default)]
struct Capture {
    request: Option<Excerpt>,
    response: Option<Excerpt>,
}

/// Records waiting for the collector, one worker's.
#[derive(Default)]
struct Queue {
    records: VecDeque<String>,
    bytes: usize,
    /// The batch in flight: (token, records in it).
    in_flight: Option<(u32, usize)>,
}

/// The identity part of a record.
#[derive(Default)]
enum IdentityPart {
    /// No `edgeward.identity` (no JWT filter, or not authenticated): `null`.
    #[default]
    Absent,
    /// Filter state there but not an identity: `{"omitted": "unreadable"}`.
    Unreadable,
    Present {
        provider: String,
        subject: Option<String>,
        tenant: Option<String>,
        client_id: Option<String>,
    },
}

/// One record's masked values, before they are written out (as one JSON
/// object, keys sorted) and published for the access log.
#[derive(Default)]
struct Parts {
    authority: Option<String>,
    bytes_in: Option<i64>,
    bytes_out: Option<i64>,
    client_ip: Option<String>,
    /// Sorted by name.
    decisions: Vec<(String, Value)>,
    /// (filter, reason).
    denied: Option<(String, String)>,
    details: Option<String>,
    duration_us: Option<i64>,
    identity: IdentityPart,
    method: String,
    path: Option<String>,
    request_body: Option<Value>,
    /// Sorted by name.
    request_headers: Vec<(String, String)>,
    request_id: Option<String>,
    response_body: Option<Value>,
    response_headers: Vec<(String, String)>,
    status: Option<i64>,
    time: String,
    trace_id: Option<String>,
    traceparent: Option<String>,
}

impl Parts {
    /// The record as one JSON object, keys in sorted order (members of
    /// nested objects too), into one buffer sized for a typical record.
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(512);
        let mut o = Obj::open(&mut out);
        o.opt_str("authority", self.authority.as_deref());
        o.opt_int("bytes_in", self.bytes_in);
        o.opt_int("bytes_out", self.bytes_out);
        o.opt_str("client_ip", self.client_ip.as_deref());
        if !self.decisions.is_empty() {
            o.obj("decisions", |d| {
                for (name, v) in &self.decisions {
                    d.value(name, v);
                }
            });
        }
        if let Some((filter, reason)) = &self.denied {
            o.obj("denied", |d| {
                d.str("filter", filter);
                d.str("reason", reason);
            });
        }
        o.opt_str("details", self.details.as_deref());
        o.opt_int("duration_us", self.duration_us);
        match &self.identity {
            IdentityPart::Absent => o.null("identity"),
            IdentityPart::Unreadable => o.obj("identity", |i| i.str("omitted", "unreadable")),
            IdentityPart::Present {
                provider,
                subject,
                tenant,
                client_id,
            } => o.obj("identity", |i| {
                i.opt_str("client_id", client_id.as_deref());
                i.str("provider", provider);
                i.opt_str("subject", subject.as_deref());
                i.opt_str("tenant", tenant.as_deref());
            }),
        }
        o.str("method", &self.method);
        o.opt_str("path", self.path.as_deref());
        if let Some(b) = &self.request_body {
            o.value("request_body", b);
        }
        let headers = |o: &mut Obj<'_>, key: &str, list: &[(String, String)]| {
            if !list.is_empty() {
                o.obj(key, |h| {
                    for (name, v) in list {
                        h.str(name, v);
                    }
                });
            }
        };
        headers(&mut o, "request_headers", &self.request_headers);
        o.opt_str("request_id", self.request_id.as_deref());
        if let Some(b) = &self.response_body {
            o.value("response_body", b);
        }
        headers(&mut o, "response_headers", &self.response_headers);
        match self.status {
            Some(s) => o.int("status", s),
            None => o.null("status"),
        }
        o.str("time", &self.time);
        o.opt_str("trace_id", self.trace_id.as_deref());
        o.opt_str("traceparent", self.traceparent.as_deref());
        o.close();
        out
    }

    /// The single fields published for the access log
    /// (`edgeward.log.<field>`), each only when the record has it and the
    /// config publishes it.
    fn for_each_field(&self, published: Published, mut f: impl FnMut(&str, &str)) {
        let mut f = |name: &str, key: &str, value: &str| {
            if published.has(name) {
                f(key, value);
            }
        };
        f("method", "edgeward.log.method", &self.method);
        for (name, key, v) in [
            ("authority", "edgeward.log.authority", &self.authority),
            ("path", "edgeward.log.path", &self.path),
            ("details", "edgeward.log.details", &self.details),
            ("client_ip", "edgeward.log.client_ip", &self.client_ip),
        ] {
            if let Some(v) = v {
                f(name, key, v);
            }
        }
        if let Some((filter, reason)) = self.denied.as_ref().filter(|_| published.has("denied")) {
            let mut d = String::with_capacity(filter.len() + reason.len() + 1);
            d.push_str(filter);
            d.push('.');
            d.push_str(reason);
            f("denied", "edgeward.log.denied", &d);
        }
        if let IdentityPart::Present {
            subject, tenant, ..
        } = &self.identity
        {
            if let Some(s) = subject {
                f("subject", "edgeward.log.subject", s);
            }
            if let Some(t) = tenant {
                f("tenant", "edgeward.log.tenant", t);
            }
        }
        for (name, v) in &self.request_headers {
            match name.as_str() {
                "user-agent" => f("user_agent", "edgeward.log.user_agent", v),
                "referer" => f("referer", "edgeward.log.referer", v),
                _ => {}
            }
        }
    }
}

pub struct PiiFilter {
    audit: Audit,
    /// Redaction metric names by label, built once per label.
    redaction_metrics: Vec<(String, String)>,
    captures: HashMap<StreamId, Capture>,
    /// Streams whose request ended with its headers (no body): their
    /// `request.size` is known without asking the host (see `bytes_in`).
    headers_only: HashSet<StreamId>,
    queue: Queue,
}

impl PiiFilter {
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    fn wants_excerpt(&self, content_type: Option<&str>, encoding: Option<&str>) -> bool {
        if encoding.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
            return false;
        }
        let Some(ct) = content_type else { return false };
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.audit.content_types.contains(&media)
    }

    /// The parts of the current stream's record (the log phase), masked.
    fn build<H: Host>(&mut self, host: &H, id: StreamId) -> Parts {
        let a = &self.audit;
        let m = &a.masker;
        let mut r = Parts::default();
        let prop = |path: &[&str]| host.property(path).ok().flatten();
        let int = |path: &[&str]| prop(path).and_then(|b| record::int_property(&b));

        let duration_ns = int(&["request", "duration"]).filter(|d| *d >= 0);
        let now = host.now_ms();
        let start_ms = match duration_ns {
            Some(d) => now.saturating_sub(u64::try_from(d / 1_000_000).unwrap_or(0)),
            None => now,
        };
        r.time = record::rfc3339_ms(start_ms);

        let head = host
            .request_head()
            .unwrap_or_else(|_| RequestHead::new(Vec::new()));
        // Masked first, then cut: cutting the raw value could leave half a
        // token the detectors no longer recognise (the masker's own cap,
        // `max_value_bytes`, cuts at token boundaries for the same reason).
        let short = |v: &str| {
            let mut s = m.mask_text(v);
            if s.len() > SHORT_FIELD_BYTES {
                let mut c = SHORT_FIELD_BYTES;
                while !s.is_char_boundary(c) {
                    c -= 1;
                }
                s.truncate(c);
                s.push_str("[TRUNCATED]");
            }
            s
        };
        r.request_id = head.first("x-request-id").map(short);
        if let Some(tp) = head.first("traceparent") {
            match record::trace_id(tp) {
                Some(t) => {
                    r.trace_id = Some(t.to_string());
                    r.traceparent = Some(tp.to_string());
                }
                None => r.traceparent = Some("[INVALID]".into()),
            }
        }
        let method = head.method();
        r.method = record::method_token(method).map_or_else(|| short(method), |t| m.mask_text(t));
        r.authority = head.first(":authority").map(short);
        let raw_path = head.raw_path();
        if !raw_path.is_empty() {
            r.path = Some(m.mask_url(raw_path));
        }

        // The response header map is read anyway when headers are recorded,
        // and its `:status` is the code sent downstream: one property read
        // fewer. Without it (no response was sent, or no headers recorded)
        // the property says.
        let response = if a.response_headers.is_empty() {
            None
        } else {
            host.response_headers().ok()
        };
        let from_headers = response.as_ref().and_then(|h| {
            h.iter()
                .find(|(k, _)| k == ":status")
                .and_then(|(_, v)| v.parse::<i64>().ok())
        });
        let status = from_headers
            .or_else(|| int(&["response", "code"]))
            .filter(|c| *c > 0);
        r.status = status;
        r.duration_us = duration_ns.map(|d| d / 1000);
        r.bytes_in = self
            .bytes_in(&head, id)
            .or_else(|| int(&["request", "size"]));
        r.bytes_out = int(&["response", "size"]);
        // Details say who answered: only worth a host call off the happy path.
        if status.is_none_or(|s| s >= 400) {
            if let Some(details) = prop(&["response", "code_details"]) {
                let details = String::from_utf8_lossy(&details);
                r.denied = record::denial(&details)
                    .map(|(filter, reason)| (filter.to_string(), reason.to_string()));
                r.details = Some(short(&details));
            }
        }

        let peer = prop(&["source", "address"]).map(|b| String::from_utf8_lossy(&b).into_owned());
        let ip = if a.trusted_hops == 0 {
            peer.as_deref().and_then(parse_addr)
        } else {
            crate::client_ip::client_ip(&head, peer.as_deref(), a.trusted_hops)
        };
        r.client_ip = ip.map(|ip| record::client_ip(m, ip, a.ip));

        r.identity = match Identity::read(host) {
            Ok(Some(identity)) => IdentityPart::Present {
                provider: short(&identity.provider),
                subject: identity.sub.as_deref().map(|sub| match a.subject {
                    SubjectAction::Keep => sub.to_string(),
                    SubjectAction::Scan => short(sub),
                    SubjectAction::Hash => m.pseudonym("subject", sub),
                    SubjectAction::Redact => "[REDACTED:subject]".to_string(),
                }),
                tenant: identity.tenant.as_deref().map(short),
                client_id: identity.client_id.as_deref().map(short),
            },
            Ok(None) => IdentityPart::Absent,
            Err(_) => IdentityPart::Unreadable,
        };

        for (name, property) in &a.decisions {
            if let Some(bytes) = prop(&[property.as_str()]).filter(|b| !b.is_empty()) {
                let value = match serde_json::from_slice::<Value>(&bytes) {
                    Ok(mut v) => {
                        m.mask_json(&mut v);
                        v
                    }
                    Err(_) => Value::String(m.mask_bytes(&bytes)),
                };
                r.decisions.push((name.clone(), value));
            }
        }
        r.decisions.sort_by(|x, y| x.0.cmp(&y.0));

        for name in &a.request_headers {
            if let Some(masked) = masked_header(m, name, head.all(name)) {
                r.request_headers.push((name.clone(), masked));
            }
        }
        r.request_headers.sort_by(|x, y| x.0.cmp(&y.0));
        if let Some(resp) = &response {
            for name in &a.response_headers {
                let values = resp
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str());
                if let Some(masked) = masked_header(m, name, values) {
                    r.response_headers.push((name.clone(), masked));
                }
            }
            r.response_headers.sort_by(|x, y| x.0.cmp(&y.0));
        }
        if let Some(c) = self.captures.get(&id) {
            r.request_body = c.request.as_ref().map(|e| e.render(m, a.excerpt_bytes));
            r.response_body = c.response.as_ref().map(|e| e.render(m, a.excerpt_bytes));
        }
        r
    }

    /// `request.size` without a host call when it is certain: Envoy's
    /// value is the `content-length` header when there is one, else the body
    /// bytes received, and a request that ended with its headers received
    /// none. Any other request (a body, a `content-length`, or headers this
    /// filter never saw because an earlier filter answered) asks the host.
    fn bytes_in(&self, head: &RequestHead, id: StreamId) -> Option<i64> {
        (self.headers_only.contains(&id) && head.first("content-length").is_none()).then_some(0)
    }

    fn enqueue<H: Host>(&mut self, host: &H, line: String, c: &CollectorConfig) {
        let q = &mut self.queue;
        if q.records.len() >= c.queue_records || q.bytes.saturating_add(line.len()) > c.queue_bytes
        {
            host.increment(&labeled(DROPPED, &[("reason", "queue_full")]), 1);
            return;
        }
        q.bytes = q.bytes.saturating_add(line.len());
        q.records.push_back(line);
    }

    fn flush<H: Host>(&mut self, host: &H) {
        let Some(c) = self.audit.collector.as_ref() else {
            return;
        };
        let q = &mut self.queue;
        if q.in_flight.is_some() || q.records.is_empty() {
            return;
        }
        let n = c.batch_records.min(q.records.len());
        let mut body = Vec::new();
        for line in q.records.drain(..n) {
            q.bytes = q.bytes.saturating_sub(line.len());
            body.extend_from_slice(line.as_bytes());
            body.push(b'\n');
        }
        let request = HttpCallRequest {
            cluster: c.cluster.clone(),
            headers: vec![
                (":method".into(), "POST".into()),
                (":path".into(), c.path.clone()),
                (":authority".into(), c.authority.clone()),
                ("content-type".into(), "application/x-ndjson".into()),
            ],
            body: Some(body),
            timeout_ms: c.timeout_ms,
        };
        match host.dispatch_http_call(&request) {
            Ok(token) => q.in_flight = Some((token, n)),
            Err(e) => {
                host.increment(&labeled(BATCHES, &[("outcome", "failed")]), 1);
                host.increment(&labeled(DROPPED, &[("reason", "sink_failed")]), n as u64);
                log_sink_failure(host, &e.to_string());
            }
        }
    }
}

fn log_sink_failure<H: Host>(host: &H, why: &str) {
    crate::host::log_lazy(host, LogLevel::Warn, || {
        format!("edgeward-pii: collector batch failed: {why}")
    });
}

/// Every value of a header, masked, as one string (`; ` between cookies,
/// a newline between `Set-Cookie`s, masked one by one so that one cookie's
/// value can never pass for another's attribute, `, ` else); `None` when
/// absent or dropped.
fn masked_header<'a>(
    masker: &super::Masker,
    name: &str,
    mut values: impl Iterator<Item = &'a str>,
) -> Option<String> {
    if name == "set-cookie" {
        let masked: Vec<String> = values
            .filter_map(|v| masker.mask_header(name, v.as_bytes()))
            .collect();
        return (!masked.is_empty()).then(|| masked.join("\n"));
    }
    let sep = if name == "cookie" { "; " } else { ", " };
    let mut joined = values.next()?.to_string();
    for v in values {
        joined.push_str(sep);
        joined.push_str(v);
    }
    masker.mask_header(name, joined.as_bytes())
}

impl Filter for PiiFilter {
    const NAME: &'static str = "pii";

    fn configure<H: Host>(_host: &H, config: &[u8]) -> Result<Self, ConfigError> {
        Ok(PiiFilter {
            audit: AuditConfig::from_json(config)?,
            captures: HashMap::new(),
            headers_only: HashSet::new(),
            queue: Queue::default(),
            redaction_metrics: Vec::new(),
        })
    }

    fn tick_period_ms(&self) -> u64 {
        self.audit
            .collector
            .as_ref()
            .map_or(0, |c| c.flush_interval_ms)
    }

    fn on_tick<H: Host>(&mut self, host: &H, _streams: &mut Streams) {
        self.flush(host);
    }

    fn on_request_headers<H: Host>(&mut self, host: &H, id: StreamId, eos: bool) -> Verdict {
        if eos {
            self.headers_only.insert(id);
        }
        if self.audit.excerpt_request && !eos {
            let ct = host.request_header("content-type").ok().flatten();
            let enc = host.request_header("content-encoding").ok().flatten();
            if self.wants_excerpt(ct.as_deref(), enc.as_deref()) {
                self.captures.entry(id).or_default().request = Some(Excerpt::default());
            }
        }
        Verdict::Continue
    }

    fn on_request_body<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        body_size: usize,
        _eos: bool,
    ) -> Verdict {
        let cap = self.audit.excerpt_bytes;
        if let Some(e) = self.captures.get_mut(&id).and_then(|c| c.request.as_mut()) {
            e.push(cap, body_size, |n| host.request_body(0, n));
        }
        Verdict::Continue
    }

    fn on_response_headers<H: Host>(&mut self, host: &H, id: StreamId, eos: bool) -> Verdict {
        if self.audit.excerpt_response && !eos {
            if let Ok(h) = host.response_headers() {
                let find = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
                if self.wants_excerpt(find("content-type"), find("content-encoding")) {
                    self.captures.entry(id).or_default().response = Some(Excerpt::default());
                }
            }
        }
        Verdict::Continue
    }

    fn on_response_body<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        body_size: usize,
        _eos: bool,
    ) -> Verdict {
        let cap = self.audit.excerpt_bytes;
        if let Some(e) = self.captures.get_mut(&id).and_then(|c| c.response.as_mut()) {
            e.push(cap, body_size, |n| host.response_body(0, n));
        }
        Verdict::Continue
    }

    fn on_log<H: Host>(&mut self, host: &H, id: StreamId) {
        let parts = self.build(host, id);
        self.captures.remove(&id);
        self.headers_only.remove(&id);
        let line = parts.to_json();
        host.increment(RECORDS, 1);
        for (label, n) in self.audit.masker.take_tally() {
            let metrics = &mut self.redaction_metrics;
            let name = match metrics.iter().position(|(l, _)| *l == label) {
                Some(i) => i,
                None => {
                    let name = labeled(REDACTIONS, &[("detector", &label)]);
                    metrics.push((label, name));
                    metrics.len() - 1
                }
            };
            if let Some((_, name)) = metrics.get(name) {
                host.increment(name, n);
            }
        }
        if self.audit.filter_state {
            let published = self.audit.published;
            if published.has("record") {
                let _ = host.set_property(&[RECORD_PROPERTY], line.as_bytes());
            }
            parts.for_each_field(published, |key, value| {
                let _ = host.set_property(&[key], value.as_bytes());
            });
        }
        if let Some(level) = self.audit.log {
            if host.log_enabled(level) {
                let mut out = String::with_capacity(LOG_PREFIX.len() + line.len());
                out.push_str(LOG_PREFIX);
                out.push_str(&line);
                host.log(level, &out);
            }
        }
        if let Some(c) = self.audit.collector.clone() {
            self.enqueue(host, line, &c);
        }
    }

    fn on_http_call_response<H: Host>(
        &mut self,
        host: &H,
        _streams: &mut Streams,
        _origin: Origin,
        token: u32,
        response: &dyn CalloutResponse,
    ) {
        let Some((t, n)) = self.queue.in_flight else {
            return;
        };
        if t != token {
            return;
        }
        self.queue.in_flight = None;
        match response.status() {
            Some(s) if (200..300).contains(&s) => {
                host.increment(&labeled(BATCHES, &[("outcome", "sent")]), 1);
            }
            other => {
                host.increment(&labeled(BATCHES, &[("outcome", "failed")]), 1);
                host.increment(&labeled(DROPPED, &[("reason", "sink_failed")]), n as u64);
                let why = match other {
                    Some(s) => format!("status {s}"),
                    None => HostError::NotAvailable.to_string(),
                };
                log_sink_failure(host, &why);
            }
        }
    }

    fn on_stream_done(&mut self, id: StreamId) {
        self.captures.remove(&id);
        self.headers_only.remove(&id);
    }
}
