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

use super::audit_config::{Audit, AuditConfig, CollectorConfig, SubjectAction};
use super::excerpt::Excerpt;
use super::record::{self, LOG_PREFIX, RECORD_PROPERTY};
use crate::client_ip::parse_addr;
use crate::config::ConfigError;
use crate::filter::{Filter, Origin, StreamId, Streams, Verdict};
use crate::host::{CalloutResponse, Host, HostError, HttpCallRequest, LogLevel};
use crate::http::RequestHead;
use crate::identity::Identity;
use crate::metrics::labeled;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};

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

pub struct PiiFilter {
    audit: Audit,
    /// Redaction metric names by label, built once per label.
    redaction_metrics: Vec<(String, String)>,
    captures: HashMap<StreamId, Capture>,
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

    /// The whole record of the current stream (the log phase).
    fn build<H: Host>(&mut self, host: &H, id: StreamId) -> (Value, Vec<(&'static str, String)>) {
        // (filter-state key, value): keys are `edgeward.log.<field>`.
        let a = &self.audit;
        let m = &a.masker;
        let mut rec = Map::new();
        let mut fields: Vec<(&'static str, String)> = Vec::new();
        let prop = |path: &[&str]| host.property(path).ok().flatten();
        let int = |path: &[&str]| prop(path).and_then(|b| record::int_property(&b));

        let duration_ns = int(&["request", "duration"]).filter(|d| *d >= 0);
        let now = host.now_ms();
        let start_ms = match duration_ns {
            Some(d) => now.saturating_sub(u64::try_from(d / 1_000_000).unwrap_or(0)),
            None => now,
        };
        rec.insert("time".into(), Value::String(record::rfc3339_ms(start_ms)));

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
        if let Some(rid) = head.first("x-request-id") {
            rec.insert("request_id".into(), Value::String(short(rid)));
        }
        if let Some(tp) = head.first("traceparent") {
            match record::trace_id(tp) {
                Some(t) => {
                    rec.insert("trace_id".into(), Value::String(t.to_string()));
                    rec.insert("traceparent".into(), Value::String(tp.to_string()));
                }
                None => {
                    rec.insert("traceparent".into(), Value::String("[INVALID]".into()));
                }
            }
        }
        let method = head.method();
        let method = record::method_token(method).map_or_else(|| short(method), |t| m.mask_text(t));
        fields.push(("edgeward.log.method", method.clone()));
        rec.insert("method".into(), Value::String(method));
        if let Some(authority) = head.first(":authority") {
            let masked = short(authority);
            fields.push(("edgeward.log.authority", masked.clone()));
            rec.insert("authority".into(), Value::String(masked));
        }
        let raw_path = head.raw_path();
        if !raw_path.is_empty() {
            let masked = m.mask_url(raw_path);
            fields.push(("edgeward.log.path", masked.clone()));
            rec.insert("path".into(), Value::String(masked));
        }

        let status = int(&["response", "code"]).filter(|c| *c > 0);
        rec.insert("status".into(), status.map_or(Value::Null, Value::from));
        if let Some(d) = duration_ns {
            rec.insert("duration_us".into(), Value::from(d / 1000));
        }
        if let Some(b) = int(&["request", "size"]) {
            rec.insert("bytes_in".into(), Value::from(b));
        }
        if let Some(b) = int(&["response", "size"]) {
            rec.insert("bytes_out".into(), Value::from(b));
        }
        // Details say who answered: only worth a host call off the happy path.
        if status.is_none_or(|s| s >= 400) {
            if let Some(details) = prop(&["response", "code_details"]) {
                let details = String::from_utf8_lossy(&details).into_owned();
                if let Some((filter, reason)) = record::denial(&details) {
                    let mut d = Map::new();
                    d.insert("filter".into(), Value::String(filter.to_string()));
                    d.insert("reason".into(), Value::String(reason.to_string()));
                    fields.push(("edgeward.log.denied", format!("{filter}.{reason}")));
                    rec.insert("denied".into(), Value::Object(d));
                }
                let details = short(&details);
                fields.push(("edgeward.log.details", details.clone()));
                rec.insert("details".into(), Value::String(details));
            }
        }

        let peer = prop(&["source", "address"]).map(|b| String::from_utf8_lossy(&b).into_owned());
        let ip = if a.trusted_hops == 0 {
            peer.as_deref().and_then(parse_addr)
        } else {
            crate::client_ip::client_ip(&head, peer.as_deref(), a.trusted_hops)
        };
        if let Some(ip) = ip {
            let s = record::client_ip(m, ip, a.ip);
            fields.push(("edgeward.log.client_ip", s.clone()));
            rec.insert("client_ip".into(), Value::String(s));
        }

        match Identity::read(host) {
            Ok(Some(identity)) => {
                let mut o = Map::new();
                o.insert("provider".into(), Value::String(short(&identity.provider)));
                if let Some(sub) = identity.sub.as_deref() {
                    let s = match a.subject {
                        SubjectAction::Keep => sub.to_string(),
                        SubjectAction::Scan => short(sub),
                        SubjectAction::Hash => m.pseudonym("subject", sub),
                        SubjectAction::Redact => "[REDACTED:subject]".to_string(),
                    };
                    fields.push(("edgeward.log.subject", s.clone()));
                    o.insert("subject".into(), Value::String(s));
                }
                if let Some(t) = identity.tenant.as_deref() {
                    let t = short(t);
                    fields.push(("edgeward.log.tenant", t.clone()));
                    o.insert("tenant".into(), Value::String(t));
                }
                if let Some(c) = identity.client_id.as_deref() {
                    o.insert("client_id".into(), Value::String(short(c)));
                }
                rec.insert("identity".into(), Value::Object(o));
            }
            Ok(None) => {
                rec.insert("identity".into(), Value::Null);
            }
            Err(_) => {
                rec.insert(
                    "identity".into(),
                    serde_json::json!({"omitted": "unreadable"}),
                );
            }
        }

        let mut decisions = Map::new();
        for (name, property) in &a.decisions {
            if let Some(bytes) = prop(&[property.as_str()]).filter(|b| !b.is_empty()) {
                let value = match serde_json::from_slice::<Value>(&bytes) {
                    Ok(mut v) => {
                        m.mask_json(&mut v);
                        v
                    }
                    Err(_) => Value::String(m.mask_bytes(&bytes)),
                };
                decisions.insert(name.clone(), value);
            }
        }
        if !decisions.is_empty() {
            rec.insert("decisions".into(), Value::Object(decisions));
        }

        if !a.request_headers.is_empty() {
            let mut o = Map::new();
            for name in &a.request_headers {
                {
                    if let Some(masked) = masked_header(m, name, head.all(name)) {
                        if name == "user-agent" {
                            fields.push(("edgeward.log.user_agent", masked.clone()));
                        } else if name == "referer" {
                            fields.push(("edgeward.log.referer", masked.clone()));
                        }
                        o.insert(name.clone(), Value::String(masked));
                    }
                }
            }
            if !o.is_empty() {
                rec.insert("request_headers".into(), Value::Object(o));
            }
        }
        if !a.response_headers.is_empty() {
            if let Ok(resp) = host.response_headers() {
                let mut o = Map::new();
                for name in &a.response_headers {
                    let values = resp
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str());
                    if let Some(masked) = masked_header(m, name, values) {
                        o.insert(name.clone(), Value::String(masked));
                    }
                }
                if !o.is_empty() {
                    rec.insert("response_headers".into(), Value::Object(o));
                }
            }
        }
        if let Some(c) = self.captures.get(&id) {
            if let Some(e) = &c.request {
                rec.insert("request_body".into(), e.render(m, a.excerpt_bytes));
            }
            if let Some(e) = &c.response {
                rec.insert("response_body".into(), e.render(m, a.excerpt_bytes));
            }
        }
        (Value::Object(rec), fields)
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
        let (record, fields) = self.build(host, id);
        self.captures.remove(&id);
        // Serialising a Value of strings and numbers cannot fail.
        let line = serde_json::to_string(&record).unwrap_or_default();
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
            let _ = host.set_property(&[RECORD_PROPERTY], line.as_bytes());
            for (key, value) in &fields {
                let _ = host.set_property(&[key], value.as_bytes());
            }
        }
        if let Some(level) = self.audit.log {
            if host.log_enabled(level) {
                host.log(level, &format!("{LOG_PREFIX}{line}"));
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
    }
}
