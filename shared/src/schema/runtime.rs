//! The schema filter on the shared filter layer: per request, the canonical
//! path, the route, the contract (selected by header, path prefix or
//! identity claim), the operation, its parameters, then the body as it
//! arrives (size checked per chunk, parsed strictly and validated once
//! complete), and optionally the response.

use super::compile::Violation;
use super::config::{Route, SchemaConfig, Selection, Selector, Source};
use super::contract::{Operation, ResponseMode};
use super::fast::{Fast, ANY_JSON};
use super::metrics as m;
use super::openapi::Found;
use super::params::PathValue;
use crate::body::{parse_media_type, BodyRefusal};
use crate::config::ConfigError;
use crate::filter::{request_head_or_log, Filter, StreamId, Verdict};
use crate::host::{log_lazy, Host, LogLevel};
use crate::http::RequestHead;
use crate::identity::{claim_at, Identity};
use crate::json::{parse_strict, DEFAULT_MAX_DEPTH};
use crate::json_writer::Obj;
use crate::metrics::labeled;
use crate::problem::Problem;
use crate::reason::Reason;
use crate::route::RequestTarget;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Filter-state key of the decision record (`wasm.edgeward.schema`).
pub const SCHEMA_PROPERTY: &str = "edgeward.schema";

/// What the filter keeps of a stream between callbacks.
#[derive(Debug, Default)]
struct StreamCtx {
    route: Option<usize>,
    contract: Option<String>,
    operation: Option<Rc<Operation>>,
    dry_run: bool,
    /// Waiting for the body: the media type essence it was sent with.
    body_essence: Option<String>,
    /// The request's decision record (kept for the response phase).
    record: Option<Value>,
    /// Waiting for the response body: the status it came with.
    response_status: Option<u16>,
}

impl StreamCtx {
    /// Whether the response is validated: the response phase then needs
    /// this context (and the record as a value).
    fn checks_response(&self) -> bool {
        self.operation
            .as_ref()
            .is_some_and(|o| o.response_mode != ResponseMode::Off)
    }
}

#[derive(Debug)]
pub struct SchemaFilter {
    cfg: SchemaConfig,
    streams: BTreeMap<StreamId, StreamCtx>,
    /// `requests{route, outcome="allowed"}` per route, named once.
    allowed_metrics: Vec<String>,
    /// `requests{outcome="unmatched"}`.
    unmatched_metric: String,
}

/// The names every decision record carries (absent: `null`).
struct RecordNames<'a> {
    route: Option<&'a str>,
    contract: Option<&'a str>,
    operation: Option<&'a str>,
}

/// A denial being decided.
struct Denial {
    reason: Reason,
    violations: Vec<Violation>,
}

impl Denial {
    fn of(reason: Reason) -> Denial {
        Denial {
            reason,
            violations: Vec::new(),
        }
    }
}

impl Filter for SchemaFilter {
    const NAME: &'static str = "schema";

    fn configure<H: Host>(host: &H, config: &[u8]) -> Result<Self, ConfigError> {
        let cfg = SchemaConfig::from_json(config)?;
        for r in &cfg.routes {
            for w in warnings_of(r) {
                host.log(
                    LogLevel::Warn,
                    &format!("edgeward-schema: route {}: {w}", r.name),
                );
            }
        }
        let allowed_metrics = cfg
            .routes
            .iter()
            .map(|r| labeled(m::REQUESTS, &[("route", &r.name), ("outcome", "allowed")]))
            .collect();
        Ok(SchemaFilter {
            cfg,
            streams: BTreeMap::new(),
            allowed_metrics,
            unmatched_metric: labeled(m::REQUESTS, &[("outcome", "unmatched")]),
        })
    }

    fn on_request_headers<H: Host>(&mut self, host: &H, stream: StreamId, eos: bool) -> Verdict {
        let Some(head) = request_head_or_log(host, Self::NAME) else {
            // Never dry-run: the filter cannot tell what it would decide.
            return self.deny(host, stream, Denial::of(Reason::InternalError), false);
        };
        let mut ctx = StreamCtx {
            dry_run: self.cfg.dry_run,
            ..StreamCtx::default()
        };
        match self.decide_headers(host, &head, eos, &mut ctx) {
            Ok(true) => {
                // The body decides.
                self.streams.insert(stream, ctx);
                Verdict::Pause
            }
            Ok(false) => {
                self.allow_stream(host, stream, ctx);
                Verdict::Continue
            }
            Err(d) => {
                let dry = ctx.dry_run;
                self.streams.insert(stream, ctx);
                self.deny(host, stream, d, dry)
            }
        }
    }

    fn on_request_body<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        size: usize,
        eos: bool,
    ) -> Verdict {
        let Some(ctx) = self.streams.get_mut(&stream) else {
            return Verdict::Continue;
        };
        let Some(op) = ctx.operation.clone() else {
            return Verdict::Continue;
        };
        let Some(spec) = op.body.as_ref() else {
            return Verdict::Continue;
        };
        if ctx.body_essence.is_none() {
            return Verdict::Continue;
        }
        let dry = ctx.dry_run;
        if let Err(r) = spec.policy.check_size(size) {
            return self.deny(host, stream, Denial::of(r.reason()), dry);
        }
        if !eos {
            return Verdict::Pause;
        }
        // The whole body is here: the stream no longer waits for it (and a
        // refusal below is recorded as before: `deny` reads only the names).
        let Some(essence) = ctx.body_essence.take() else {
            return Verdict::Continue;
        };
        let bytes = match host.request_body(0, size) {
            Ok(b) => b,
            Err(e) => {
                host.log(
                    LogLevel::Error,
                    &format!("schema: cannot read the request body: {e}"),
                );
                return self.deny(host, stream, Denial::of(Reason::InternalError), false);
            }
        };
        let checked = spec.schema_for(&essence);
        // The fast path only accepts: anything else goes to the slow path
        // below, which decides (and words every refusal) as before. Strict
        // mode needs the tree (undeclared properties).
        let program = match checked {
            None => Some(&ANY_JSON),
            Some(c) if !op.strict => c.fast.as_ref().ok(),
            Some(_) => None,
        };
        if program.is_some_and(|p| p.check(&bytes, spec.policy.max_depth) == Fast::Valid) {
            return self.body_accepted(host, stream);
        }
        let value = match parse_strict(&bytes, spec.policy.max_depth) {
            Ok(v) => v,
            Err(e) => {
                log_lazy(host, LogLevel::Debug, || {
                    format!("schema: body refused: {e}")
                });
                return self.deny(host, stream, Denial::of(Reason::InvalidBody), dry);
            }
        };
        if let Some(checked) = checked {
            let violations = checked.check(&value, op.strict, self.cfg.max_violations);
            if !violations.is_empty() {
                return self.deny(
                    host,
                    stream,
                    Denial {
                        reason: Reason::SchemaViolation,
                        violations,
                    },
                    dry,
                );
            }
        }
        self.body_accepted(host, stream)
    }

    fn on_request_trailers<H: Host>(&mut self, host: &H, stream: StreamId) -> Verdict {
        // A body still being read ends in trailers: its last chunk was never
        // flagged as the end. Such requests are refused rather than
        // validated on a body the filter may not see whole.
        let waiting = self
            .streams
            .get(&stream)
            .map(|c| (c.body_essence.is_some(), c.dry_run));
        match waiting {
            Some((true, dry)) => self.deny(host, stream, Denial::of(Reason::InvalidBody), dry),
            _ => Verdict::Continue,
        }
    }

    fn on_response_headers<H: Host>(&mut self, host: &H, stream: StreamId, eos: bool) -> Verdict {
        let Some(ctx) = self.streams.get_mut(&stream) else {
            return Verdict::Continue;
        };
        let Some(op) = ctx.operation.clone() else {
            return Verdict::Continue;
        };
        if op.response_mode == ResponseMode::Off {
            return Verdict::Continue;
        }
        let headers = match host.response_headers() {
            Ok(h) => h,
            Err(e) => {
                host.log(
                    LogLevel::Error,
                    &format!("schema: cannot read response headers: {e}"),
                );
                return Verdict::Continue;
            }
        };
        let head = RequestHead::new(headers);
        let Some(status) = head.first(":status").and_then(|s| s.parse::<u16>().ok()) else {
            return Verdict::Continue;
        };
        let Some(spec) = op.response_for(status) else {
            return Verdict::Continue;
        };
        if spec.schema.is_none() {
            return Verdict::Continue;
        }
        let json = head
            .first("content-type")
            .and_then(parse_media_type)
            .is_some_and(|mt| mt.essence == "application/json" || mt.essence.ends_with("+json"));
        if !json || eos || head.first("content-encoding").is_some() {
            let why = if !json {
                "not a JSON content type"
            } else if eos {
                "no body"
            } else {
                "a content encoding"
            };
            return self.response_failed(host, stream, &op, why, Vec::new());
        }
        if op.strip {
            // The body may shrink: its length is set again once it is known
            // (chunked framing meanwhile).
            let _ = host.set_response_header("content-length", None);
        }
        ctx.response_status = Some(status);
        Verdict::Pause
    }

    fn on_response_body<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        size: usize,
        eos: bool,
    ) -> Verdict {
        let Some(ctx) = self.streams.get(&stream) else {
            return Verdict::Continue;
        };
        let (Some(status), Some(op)) = (ctx.response_status, ctx.operation.clone()) else {
            return Verdict::Continue;
        };
        if size > op.max_response_bytes {
            return self.response_failed(
                host,
                stream,
                &op,
                "larger than max_response_bytes",
                Vec::new(),
            );
        }
        if !eos {
            return Verdict::Pause;
        }
        let Some(checked) = op.response_for(status).and_then(|r| r.schema.as_ref()) else {
            return Verdict::Continue;
        };
        let bytes = match host.response_body(0, size) {
            Ok(b) => b,
            Err(e) => {
                host.log(
                    LogLevel::Error,
                    &format!("schema: cannot read the response body: {e}"),
                );
                return self.response_failed(host, stream, &op, "unreadable", Vec::new());
            }
        };
        let mut value = match parse_strict(&bytes, DEFAULT_MAX_DEPTH) {
            Ok(v) => v,
            Err(_) => {
                return self.response_failed(host, stream, &op, "not strict JSON", Vec::new())
            }
        };
        let violations = if checked.schema.is_valid(&value) {
            Vec::new()
        } else {
            checked.schema.violations(&value, self.cfg.max_violations)
        };
        let route = self.route_name(stream);
        let mut verdict = Verdict::Continue;
        if !violations.is_empty() {
            verdict = self.response_failed(host, stream, &op, "schema violation", violations);
            if verdict == Verdict::Answered {
                return verdict;
            }
        } else {
            host.increment(
                &labeled(m::RESPONSES, &[("route", &route), ("outcome", "valid")]),
                1,
            );
            self.record_response(host, stream, json!({"decision": "valid"}));
        }
        if op.strip {
            if let Some(d) = &checked.declared {
                let removed = d.strip(&mut value);
                if removed > 0 {
                    let out = value.to_string().into_bytes();
                    if host.replace_response_body(&out).is_ok() {
                        let _ = host
                            .set_response_header("content-length", Some(&out.len().to_string()));
                        host.increment(
                            &labeled(m::STRIPPED_FIELDS, &[("route", &route)]),
                            removed as u64,
                        );
                        self.record_response(
                            host,
                            stream,
                            json!({"decision": "stripped", "stripped": removed}),
                        );
                    }
                }
            }
        }
        verdict
    }

    fn on_stream_done(&mut self, stream: StreamId) {
        self.streams.remove(&stream);
    }
}

fn warnings_of(r: &Route) -> Vec<String> {
    let mut out = Vec::new();
    let mut of = |s: &Source| {
        if let Source::OpenApi(o) = s {
            out.extend(o.warnings.iter().cloned());
        }
    };
    match &r.selection {
        Selection::One(s) => of(s),
        Selection::By { cases, .. } => cases.iter().for_each(|(_, _, s)| of(s)),
    }
    out
}

impl SchemaFilter {
    pub fn config(&self) -> &SchemaConfig {
        &self.cfg
    }

    /// `Ok(true)`: wait for the body; `Ok(false)`: allowed now.
    fn decide_headers<H: Host>(
        &self,
        host: &H,
        head: &RequestHead,
        eos: bool,
        ctx: &mut StreamCtx,
    ) -> Result<bool, Denial> {
        let path = self
            .cfg
            .path_policy
            .check(head.raw_path())
            .map_err(|_| Denial::of(Reason::NonCanonicalPath))?;
        let target = RequestTarget {
            method: head.method(),
            authority: head.first(":authority").unwrap_or(""),
            path: &path,
        };
        let mut found = None;
        for (i, r) in self.cfg.routes.iter().enumerate() {
            if let Some(c) = r.matcher.matches(&target) {
                found = Some((i, r, c));
                break;
            }
        }
        let Some((index, route, captures)) = found else {
            return if self.cfg.unmatched_allow {
                Ok(false)
            } else {
                Err(Denial::of(Reason::NoRuleMatched))
            };
        };
        ctx.route = Some(index);
        ctx.dry_run |= route.dry_run;
        let source = match &route.selection {
            Selection::One(s) => s,
            Selection::By { by, cases, default } => {
                let key: Option<String> = match by {
                    Selector::Header(h) => {
                        let mut vals = head.all(h);
                        match (vals.next(), vals.next()) {
                            (Some(v), None) => Some(v.trim().to_string()),
                            // Two values: which one would the upstream read?
                            (Some(_), Some(_)) => return Err(Denial::of(Reason::NoContract)),
                            _ => None,
                        }
                    }
                    Selector::Claim(c) => match Identity::read(host) {
                        Ok(Some(id)) => claim_at(&id.claims, c).and_then(|v| match v {
                            Value::String(s) => Some(s.clone()),
                            Value::Number(n) => Some(n.to_string()),
                            Value::Bool(b) => Some(b.to_string()),
                            _ => None,
                        }),
                        Ok(None) => None,
                        Err(e) => {
                            host.log(LogLevel::Error, &format!("schema: {e}"));
                            return Err(Denial::of(Reason::InternalError));
                        }
                    },
                    Selector::PathPrefix => {
                        let segs = path.segments();
                        cases
                            .iter()
                            .find(|(_, p, _)| {
                                segs.len() >= p.len() && p.iter().zip(segs).all(|(a, b)| a == b)
                            })
                            .map(|(k, _, _)| k.clone())
                    }
                };
                let pos = key
                    .as_ref()
                    .and_then(|k| cases.iter().position(|(ck, _, _)| ck == k))
                    .or(*default)
                    .ok_or_else(|| Denial::of(Reason::NoContract))?;
                let Some((k, _, s)) = cases.get(pos) else {
                    return Err(Denial::of(Reason::NoContract));
                };
                ctx.contract = Some(k.clone());
                s
            }
        };
        let (op, captures) = match source {
            Source::Contract(op) => (op.clone(), captures),
            Source::OpenApi(doc) => match doc.find(&target) {
                Found::Operation(op, c) => (op.clone(), c),
                Found::MethodNotAllowed if !doc.unknown_allow => {
                    return Err(Denial::of(Reason::MethodNotAllowed))
                }
                Found::NotFound if !doc.unknown_allow => {
                    return Err(Denial::of(Reason::UnknownOperation))
                }
                _ => return Ok(false),
            },
        };
        ctx.operation = Some(op.clone());
        let caps: Vec<PathValue> = captures
            .0
            .iter()
            .map(|(n, v)| PathValue { name: n, value: v })
            .collect();
        let mut violations = Vec::new();
        for p in &op.params {
            p.check(head, &caps, self.cfg.max_violations, &mut violations);
        }
        if !violations.is_empty() {
            return Err(Denial {
                reason: Reason::ParameterViolation,
                violations,
            });
        }
        let Some(spec) = &op.body else {
            let has_body = !eos && head.first("content-length").is_none_or(|l| l.trim() != "0");
            return if has_body {
                Err(Denial::of(Reason::UnsupportedMediaType))
            } else {
                Ok(false)
            };
        };
        match spec.policy.check_head(head, eos) {
            Err(r) => Err(Denial::of(refusal_reason(&r))),
            Ok(None) if spec.required => Err(Denial::of(Reason::MissingBody)),
            Ok(None) => Ok(false),
            Ok(Some(essence)) => {
                ctx.body_essence = Some(essence);
                Ok(true)
            }
        }
    }

    fn body_accepted<H: Host>(&mut self, host: &H, stream: StreamId) -> Verdict {
        if let Some(ctx) = self.streams.remove(&stream) {
            self.allow_stream(host, stream, ctx);
        }
        Verdict::Continue
    }

    /// Allows the request, keeping the stream's context only when the
    /// response phase needs it.
    fn allow_stream<H: Host>(&mut self, host: &H, stream: StreamId, mut ctx: StreamCtx) {
        self.allow(host, &mut ctx);
        if ctx.checks_response() {
            self.streams.insert(stream, ctx);
        }
    }

    fn route_name(&self, stream: StreamId) -> String {
        self.streams
            .get(&stream)
            .and_then(|c| c.route)
            .and_then(|i| self.cfg.routes.get(i))
            .map(|r| r.name.clone())
            .unwrap_or_default()
    }

    /// The record's common fields: route, contract and operation names.
    fn record_names<'a>(&'a self, ctx: &'a StreamCtx) -> RecordNames<'a> {
        RecordNames {
            route: ctx
                .route
                .and_then(|i| self.cfg.routes.get(i))
                .map(|r| r.name.as_str()),
            contract: ctx.contract.as_deref(),
            operation: ctx
                .operation
                .as_ref()
                .map(|o| o.label.as_str())
                .filter(|l| !l.is_empty()),
        }
    }

    fn base_record(&self, ctx: &StreamCtx) -> serde_json::Map<String, Value> {
        let names = self.record_names(ctx);
        let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_string()));
        let mut rec = serde_json::Map::new();
        rec.insert("route".into(), text(names.route));
        rec.insert("contract".into(), text(names.contract));
        rec.insert("operation".into(), text(names.operation));
        rec
    }

    fn allow<H: Host>(&self, host: &H, ctx: &mut StreamCtx) {
        if ctx.checks_response() {
            // The response phase adds to the record: keep it as a value.
            let mut rec = self.base_record(ctx);
            rec.insert("decision".into(), json!("allow"));
            rec.insert("reason".into(), Value::Null);
            let rec = Value::Object(rec);
            let _ = host.set_property(&[SCHEMA_PROPERTY], rec.to_string().as_bytes());
            ctx.record = Some(rec);
        } else {
            // The same bytes as `base_record` + serde_json (keys sorted),
            // written directly: no map, no value tree, per request.
            let names = self.record_names(ctx);
            let mut out = String::with_capacity(96);
            let mut o = Obj::open(&mut out);
            o.str_or_null("contract", names.contract);
            o.str("decision", "allow");
            o.str_or_null("operation", names.operation);
            o.null("reason");
            o.str_or_null("route", names.route);
            o.close();
            let _ = host.set_property(&[SCHEMA_PROPERTY], out.as_bytes());
        }
        let metric = ctx
            .route
            .and_then(|i| self.allowed_metrics.get(i))
            .unwrap_or(&self.unmatched_metric);
        host.increment(metric, 1);
    }

    /// Refuses (or, dry-run, records and lets through) a request.
    fn deny<H: Host>(&mut self, host: &H, stream: StreamId, d: Denial, dry: bool) -> Verdict {
        let (rec, route) = match self.streams.get(&stream) {
            Some(ctx) => (
                self.base_record(ctx),
                ctx.route
                    .and_then(|i| self.cfg.routes.get(i))
                    .map(|r| r.name.clone()),
            ),
            None => (serde_json::Map::new(), None),
        };
        let mut rec = rec;
        let code = d.reason.code();
        rec.insert(
            "decision".into(),
            json!(if dry { "dry_run_deny" } else { "deny" }),
        );
        rec.insert("reason".into(), json!(code));
        if !d.violations.is_empty() {
            rec.insert(
                "violations".into(),
                Value::Array(
                    d.violations
                        .iter()
                        .map(|v| json!({"pointer": v.pointer, "keyword": v.keyword}))
                        .collect(),
                ),
            );
        }
        let rec = Value::Object(rec);
        let _ = host.set_property(&[SCHEMA_PROPERTY], rec.to_string().as_bytes());
        let outcome = if dry { "dry_run" } else { "denied" };
        let mut labels: Vec<(&str, &str)> = Vec::new();
        if let Some(r) = &route {
            labels.push(("route", r));
        }
        labels.push(("outcome", outcome));
        labels.push(("reason", code));
        host.increment(&labeled(m::REQUESTS, &labels), 1);
        if dry {
            host.log(
                LogLevel::Info,
                &format!(
                    "edgeward-schema: dry run: would deny ({code}) on route {}: {} violation(s)",
                    route.as_deref().unwrap_or("-"),
                    d.violations.len()
                ),
            );
            if let Some(ctx) = self.streams.get_mut(&stream) {
                ctx.body_essence = None;
                ctx.record = Some(rec);
            }
            return Verdict::Continue;
        }
        self.streams.remove(&stream);
        let mut p = Problem::new(d.reason);
        if !d.violations.is_empty() {
            p = p.extension(
                "violations",
                Value::Array(d.violations.iter().map(Violation::to_json).collect()),
            );
        }
        let _ = host.send_local_reply(&p.into_reply(Self::NAME));
        Verdict::Answered
    }

    fn record_response<H: Host>(&mut self, host: &H, stream: StreamId, response: Value) {
        if let Some(ctx) = self.streams.get_mut(&stream) {
            let mut rec = ctx.record.clone().unwrap_or_else(|| json!({}));
            if let Value::Object(m) = &mut rec {
                m.insert("response".into(), response);
            }
            let _ = host.set_property(&[SCHEMA_PROPERTY], rec.to_string().as_bytes());
            ctx.record = Some(rec);
        }
    }

    /// A response that breaks its contract: replaced by 502 (enforce), or
    /// logged and counted (log mode, dry run).
    fn response_failed<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        op: &Operation,
        why: &str,
        violations: Vec<Violation>,
    ) -> Verdict {
        let route = self.route_name(stream);
        let dry = self.streams.get(&stream).is_some_and(|c| c.dry_run);
        let enforce = op.response_mode == ResponseMode::Enforce && !dry;
        let outcome = if enforce { "replaced" } else { "logged" };
        host.increment(
            &labeled(m::RESPONSES, &[("route", &route), ("outcome", outcome)]),
            1,
        );
        let list: Vec<Value> = violations
            .iter()
            .map(|v| json!({"pointer": v.pointer, "keyword": v.keyword}))
            .collect();
        host.log(
            LogLevel::Warn,
            &format!(
                "edgeward-schema: response on route {route} violates its contract ({why}; {} violation(s): {}){}",
                violations.len(),
                Value::Array(list.clone()),
                if enforce { ": replaced by 502" } else { ": passed on (log only)" }
            ),
        );
        self.record_response(
            host,
            stream,
            json!({"decision": outcome, "reason": Reason::ResponseViolation.code(), "violations": list}),
        );
        if let Some(ctx) = self.streams.get_mut(&stream) {
            ctx.response_status = None;
        }
        if !enforce {
            return Verdict::Continue;
        }
        let reply = Problem::new(Reason::ResponseViolation).into_reply(Self::NAME);
        let _ = host.send_local_reply(&reply);
        Verdict::Answered
    }
}

fn refusal_reason(r: &BodyRefusal) -> Reason {
    r.reason()
}
