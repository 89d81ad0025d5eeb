//! OpenAPI 3.0 / 3.1 documents (JSON, inline in the plugin configuration)
//! as the source of a route's contracts: every operation of `paths`, with
//! its parameters (path-item and operation level), `requestBody` and
//! `responses`, `$ref`s into `components` (and anywhere else in the
//! document, local only).
//!
//! 3.1 schemas are JSON Schema 2020-12. 3.0 schemas are the 3.0 Schema
//! Object: draft 4 keywords (boolean `exclusiveMinimum`), `nullable: true`
//! rewritten to allow `null` (added to `type` and to `enum`), before
//! compilation. JSON media types (`application/json`, `*/*+json`) are
//! validated; an operation whose body takes only other media types is
//! refused with 415 (logged at configure time).

use super::compile::{CompileOptions, Dialect};
use super::contract::{BodySpec, Checked, Operation, ResponseMode, ResponseSpec, StatusKey};
use super::declared::escape;
use super::params::{Param, RawParam};
use crate::body::{JsonBodyPolicy, RawJsonBody};
use crate::config::{in_range, ConfigError, Field};
use crate::route::{RawRouteMatch, RequestTarget, RouteMatch};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::rc::Rc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpenApi {
    /// The document: a JSON object, or JSON text.
    document: Value,
    #[serde(default)]
    unknown_operation: Option<String>,
    #[serde(default)]
    base_path: Option<String>,
    #[serde(default)]
    formats: bool,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    response_validation: Option<String>,
    #[serde(default)]
    strip_undeclared: bool,
    #[serde(default)]
    max_body_bytes: Option<usize>,
    #[serde(default)]
    max_depth: Option<usize>,
    #[serde(default)]
    max_response_bytes: Option<usize>,
}

/// One operation of the document.
#[derive(Debug)]
pub struct DocOperation {
    pub matcher: RouteMatch,
    /// The same path without the method (405 vs 404).
    pub path_matcher: RouteMatch,
    pub operation: Rc<Operation>,
}

#[derive(Debug)]
pub struct OpenApi {
    pub operations: Vec<DocOperation>,
    pub unknown_allow: bool,
    /// Warnings for the configure log.
    pub warnings: Vec<String>,
}

/// What a request finds in a document.
pub enum Found<'a> {
    Operation(&'a Rc<Operation>, crate::route::Captures),
    /// The path is in the document, the method is not.
    MethodNotAllowed,
    NotFound,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// `$ref` chains longer than this are a configuration error.
const MAX_REF_HOPS: usize = 32;

impl OpenApi {
    pub fn find(&self, t: &RequestTarget) -> Found<'_> {
        for op in &self.operations {
            if let Some(c) = op.matcher.matches(t) {
                return Found::Operation(&op.operation, c);
            }
        }
        if self
            .operations
            .iter()
            .any(|op| op.path_matcher.matches(t).is_some())
        {
            Found::MethodNotAllowed
        } else {
            Found::NotFound
        }
    }

    pub fn compile(field: &Field, raw: RawOpenApi) -> Result<OpenApi, ConfigError> {
        let doc_field = field.child("document");
        let mut doc = match raw.document {
            Value::String(text) => serde_json::from_str::<Value>(&text).map_err(|e| {
                doc_field.error(format!("the OpenAPI document does not parse: {e}"))
            })?,
            v @ Value::Object(_) => v,
            _ => return Err(doc_field.error("an OpenAPI document (a JSON object, or JSON text)")),
        };
        let version = doc
            .get("openapi")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                doc_field
                    .child("openapi")
                    .error("missing: an OpenAPI 3.0 or 3.1 document")
            })?
            .to_string();
        let dialect = if version.starts_with("3.0.") || version == "3.0" {
            Dialect::Draft4
        } else if version.starts_with("3.1.") || version == "3.1" {
            Dialect::Draft202012
        } else {
            return Err(doc_field.child("openapi").error(format!(
                "version {version:?} is not supported: use 3.0.x or 3.1.x"
            )));
        };
        if dialect == Dialect::Draft4 {
            rewrite_nullable(&mut doc);
        }
        let opts = CompileOptions {
            dialect,
            formats: raw.formats,
        };
        let unknown_allow = match raw.unknown_operation.as_deref() {
            None | Some("deny") => false,
            Some("allow") => true,
            Some(o) => {
                return Err(field
                    .child("unknown_operation")
                    .error(format!("{o:?}: use \"deny\" (the default) or \"allow\"")))
            }
        };
        let base: Vec<String> = match &raw.base_path {
            None => Vec::new(),
            Some(b) => {
                let canon = crate::path::PathPolicy::STRICT.check(b).map_err(|v| {
                    field
                        .child("base_path")
                        .error(format!("{b:?} is not a canonical path ({v})"))
                })?;
                if b.contains(['{', '}', '*']) {
                    return Err(field
                        .child("base_path")
                        .error("a base path is literal segments"));
                }
                canon
                    .segments()
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
        };
        let response_mode = match raw.response_validation.as_deref() {
            None => ResponseMode::Off,
            Some(m) => ResponseMode::parse(&field.child("response_validation"), m)?,
        };
        if raw.strip_undeclared && response_mode == ResponseMode::Off {
            return Err(field
                .child("strip_undeclared")
                .error("needs response_validation \"enforce\" or \"log\""));
        }
        let max_response_bytes = match raw.max_response_bytes {
            None => super::config::DEFAULT_MAX_RESPONSE,
            Some(n) => in_range(
                &field.child("max_response_bytes"),
                n,
                1,
                crate::body::MAX_BODY_LIMIT,
            )?,
        };
        let settings = Settings {
            opts,
            strict: raw.strict,
            strip: raw.strip_undeclared,
            response_mode,
            max_response_bytes,
            max_body_bytes: raw.max_body_bytes,
            max_depth: raw.max_depth,
        };
        let paths = match doc.get("paths") {
            Some(Value::Object(p)) => p.clone(),
            None => Map::new(),
            Some(_) => return Err(doc_field.child("paths").error("must be an object")),
        };
        let mut warnings = Vec::new();
        let mut ops: Vec<(Vec<u8>, DocOperation)> = Vec::new();
        for (path, item) in &paths {
            let at = doc_field.child("paths").child(path);
            let item_ptr = format!("/paths/{}", escape(path));
            let (item_ptr, item) = deref(&doc, &at, &item_ptr, item)?;
            let item = item
                .as_object()
                .ok_or_else(|| at.error("a Path Item is an object"))?;
            let (template, captures, rank) = template_of(&at, &base, path)?;
            let path_matcher = RouteMatch::compile(
                &at,
                &RawRouteMatch {
                    template: Some(template.clone()),
                    ..RawRouteMatch::default()
                },
            )?;
            let shared_params = item.get("parameters");
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let op_at = at.child(method);
                let op_ptr = format!("{item_ptr}/{method}");
                let label = format!("{} {path}", method.to_ascii_uppercase());
                let operation = compile_operation(
                    &doc,
                    &op_at,
                    &op_ptr,
                    op,
                    shared_params.map(|p| (format!("{item_ptr}/parameters"), p)),
                    &captures,
                    &settings,
                    label,
                    &mut warnings,
                )?;
                let matcher = RouteMatch::compile(
                    &op_at,
                    &RawRouteMatch {
                        template: Some(template.clone()),
                        methods: Some(vec![method.to_ascii_uppercase()]),
                        ..RawRouteMatch::default()
                    },
                )?;
                ops.push((
                    rank.clone(),
                    DocOperation {
                        matcher,
                        path_matcher: path_matcher.clone(),
                        operation: Rc::new(operation),
                    },
                ));
            }
        }
        // Concrete paths before templated ones (OpenAPI: /pets/mine over /pets/{id}).
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(OpenApi {
            operations: ops.into_iter().map(|(_, o)| o).collect(),
            unknown_allow,
            warnings,
        })
    }
}

struct Settings {
    opts: CompileOptions,
    strict: bool,
    strip: bool,
    response_mode: ResponseMode,
    max_response_bytes: usize,
    max_body_bytes: Option<usize>,
    max_depth: Option<usize>,
}

/// Follows `$ref`s (local JSON pointers) from `value` at `pointer`.
fn deref<'a>(
    doc: &'a Value,
    field: &Field,
    pointer: &str,
    value: &'a Value,
) -> Result<(String, &'a Value), ConfigError> {
    let mut ptr = pointer.to_string();
    let mut cur = value;
    for _ in 0..MAX_REF_HOPS {
        let Some(r) = cur.get("$ref") else {
            return Ok((ptr, cur));
        };
        let text = r.as_str().unwrap_or("");
        let target = text
            .strip_prefix('#')
            .map(|f| crate::http::percent_decode(&f.replace('+', "%2B")))
            .ok_or_else(|| {
                field.error(format!(
                    "$ref {text:?}: only references inside the document (#/...) are supported"
                ))
            })?;
        cur = doc.pointer(&target).ok_or_else(|| {
            field.error(format!("$ref {text:?} points at nothing in the document"))
        })?;
        ptr = target;
    }
    Err(field.error("a $ref chain is too long (or loops)"))
}

/// A route template, its capture -> parameter names, its precedence rank.
type Template = (String, Vec<(String, String)>, Vec<u8>);

/// The route template of an OpenAPI path, its capture -> parameter names,
/// and its precedence rank (literal segments sort first).
fn template_of(field: &Field, base: &[String], path: &str) -> Result<Template, ConfigError> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| field.error("an OpenAPI path starts with '/'"))?;
    let mut out = String::new();
    let mut captures = Vec::new();
    let mut rank = Vec::new();
    for b in base {
        out.push('/');
        out.push_str(b);
        rank.push(0);
    }
    for seg in rest.split('/') {
        out.push('/');
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if name.is_empty() || name.contains(['{', '}']) {
                return Err(field.error(format!("segment {seg:?} is not a path parameter")));
            }
            let capture = format!("p{}", captures.len());
            out.push('{');
            out.push_str(&capture);
            out.push('}');
            captures.push((capture, name.to_string()));
            rank.push(1);
        } else if seg.contains(['{', '}']) {
            return Err(field.error(format!(
                "segment {seg:?}: a path parameter must be a whole segment"
            )));
        } else {
            out.push_str(seg);
            rank.push(0);
        }
    }
    Ok((out, captures, rank))
}

#[allow(clippy::too_many_arguments)]
fn compile_operation(
    doc: &Value,
    field: &Field,
    op_ptr: &str,
    op: &Value,
    shared_params: Option<(String, &Value)>,
    captures: &[(String, String)],
    s: &Settings,
    label: String,
    warnings: &mut Vec<String>,
) -> Result<Operation, ConfigError> {
    let op = op
        .as_object()
        .ok_or_else(|| field.error("an Operation is an object"))?;
    // Parameters: the operation's override the path item's (same name and in).
    let mut raw_params: Vec<(String, Field, Value)> = Vec::new();
    let add = |list_ptr: String,
               list: &Value,
               at: Field,
               raw_params: &mut Vec<(String, Field, Value)>|
     -> Result<(), ConfigError> {
        let list = list
            .as_array()
            .ok_or_else(|| at.error("parameters is a list"))?;
        for (i, p) in list.iter().enumerate() {
            let pat = at.index(i);
            let (ptr, p) = deref(doc, &pat, &format!("{list_ptr}/{i}"), p)?;
            let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
            raw_params.retain(|(_, _, q)| key(q) != key(p));
            raw_params.push((ptr, pat, p.clone()));
        }
        Ok(())
    };
    if let Some((ptr, list)) = shared_params {
        add(ptr, list, field.child("parameters"), &mut raw_params)?;
    }
    if let Some(list) = op.get("parameters") {
        add(
            format!("{op_ptr}/parameters"),
            list,
            field.child("parameters"),
            &mut raw_params,
        )?;
    }
    let mut params = Vec::new();
    for (ptr, at, p) in raw_params {
        let location = p.get("in").and_then(Value::as_str).unwrap_or("");
        if location == "cookie" {
            warnings.push(format!("{at}: cookie parameters are not checked"));
            continue;
        }
        let raw = RawParam {
            location: serde_json::from_value(Value::String(location.to_string())).map_err(
                |_| {
                    at.child("in")
                        .error(format!("{location:?}: use path, query, header or cookie"))
                },
            )?,
            name: p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
            schema: None,
            explode: p.get("explode").and_then(Value::as_bool),
        };
        let (schema, resolved) = match p.get("schema") {
            Some(sv) => {
                let sptr = format!("{ptr}/schema");
                let (_, resolved) = deref(doc, &at.child("schema"), &sptr, sv)?;
                (
                    Some(Checked::build(&at.child("schema"), doc, &sptr, s.opts, false)?.schema),
                    Some(resolved),
                )
            }
            None => (None, None),
        };
        let mut raw = raw;
        let display = raw.name.clone();
        if raw.location == super::params::Location::Path {
            match captures.iter().find(|(_, n)| *n == raw.name) {
                // Path values are matched by capture name.
                Some((cap, _)) => raw.name = cap.clone(),
                None => {
                    return Err(at
                        .child("name")
                        .error(format!("path parameter {:?} is not in the path", raw.name)))
                }
            }
        }
        let mut param = Param::compile(&at, &raw, schema, resolved, s.opts)?;
        param.display = display;
        params.push(param);
    }
    // requestBody
    let body = match op.get("requestBody") {
        None => None,
        Some(rb) => {
            let at = field.child("requestBody");
            let (rb_ptr, rb) = deref(doc, &at, &format!("{op_ptr}/requestBody"), rb)?;
            let required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
            let mut types = Vec::new();
            let mut schemas = Vec::new();
            if let Some(Value::Object(content)) = rb.get("content") {
                for (media, mt) in content {
                    let essence = media.to_ascii_lowercase();
                    let essence = essence.split(';').next().unwrap_or("").trim().to_string();
                    let json = essence == "application/json"
                        || (essence.ends_with("+json") && essence.contains('/'));
                    if !json {
                        warnings.push(format!(
                            "{at}.content.{media}: not JSON, requests with it are refused (415)"
                        ));
                        continue;
                    }
                    let schema = match mt.get("schema") {
                        Some(_) => {
                            let sptr = format!("{rb_ptr}/content/{}/schema", escape(media));
                            Some(Rc::new(Checked::build(
                                &at.child("content").child(media),
                                doc,
                                &sptr,
                                s.opts,
                                s.strict,
                            )?))
                        }
                        None => None,
                    };
                    types.push(essence.clone());
                    schemas.push((essence, schema));
                }
            }
            if types.is_empty() {
                None
            } else {
                let policy = JsonBodyPolicy::compile(
                    &at,
                    Some(&RawJsonBody {
                        max_bytes: s.max_body_bytes,
                        max_depth: s.max_depth,
                        content_types: Some(types),
                    }),
                )?;
                Some(BodySpec {
                    policy,
                    required,
                    schemas,
                })
            }
        }
    };
    // responses
    let mut responses = Vec::new();
    if s.response_mode != ResponseMode::Off {
        if let Some(Value::Object(rs)) = op.get("responses") {
            for (code, r) in rs {
                let at = field.child("responses").child(code);
                let status = StatusKey::parse(&at, code)?;
                let (r_ptr, r) =
                    deref(doc, &at, &format!("{op_ptr}/responses/{}", escape(code)), r)?;
                let mut schema = None;
                if let Some(Value::Object(content)) = r.get("content") {
                    for (media, mt) in content {
                        let essence = media.to_ascii_lowercase();
                        let json =
                            essence.starts_with("application/json") || essence.contains("+json");
                        if json && mt.get("schema").is_some() {
                            let sptr = format!("{r_ptr}/content/{}/schema", escape(media));
                            schema = Some(Checked::build(
                                &at.child("content").child(media),
                                doc,
                                &sptr,
                                s.opts,
                                s.strip,
                            )?);
                            break;
                        }
                    }
                }
                responses.push(ResponseSpec { status, schema });
            }
        }
    }
    Ok(Operation {
        label,
        params,
        captures: captures.to_vec(),
        body,
        strict: s.strict,
        responses,
        response_mode: s.response_mode,
        strip: s.strip,
        max_response_bytes: s.max_response_bytes,
    })
}

/// OpenAPI 3.0 `nullable: true` -> JSON Schema: `null` added to `type`
/// (and to `enum`), `nullable` removed. Applied to the whole document (a
/// Schema Object can sit anywhere a `$ref` reaches).
fn rewrite_nullable(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("nullable") == Some(&Value::Bool(true)) {
                m.remove("nullable");
                match m.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = std::mem::take(t);
                        m.insert(
                            "type".into(),
                            Value::Array(vec![Value::String(t), Value::String("null".into())]),
                        );
                    }
                    Some(Value::Array(ts)) if !ts.iter().any(|t| t == "null") => {
                        ts.push(Value::String("null".into()))
                    }
                    _ => {}
                }
                if let Some(Value::Array(e)) = m.get_mut("enum") {
                    if !e.contains(&Value::Null) {
                        e.push(Value::Null);
                    }
                }
                // `allOf`/`oneOf`/`$ref` with nullable: null passes as an alternative.
                if !m.contains_key("type")
                    && m.keys()
                        .any(|k| matches!(k.as_str(), "allOf" | "anyOf" | "oneOf" | "$ref"))
                {
                    let inner = Value::Object(std::mem::take(m));
                    m.insert(
                        "anyOf".into(),
                        Value::Array(vec![inner, serde_json::json!({"type": "null"})]),
                    );
                }
            } else if m.get("nullable") == Some(&Value::Bool(false)) {
                m.remove("nullable");
            }
            for child in m.values_mut() {
                rewrite_nullable(child);
            }
        }
        Value::Array(list) => {
            for child in list {
                rewrite_nullable(child);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_is_rewritten() {
        let mut v = json!({"type": "string", "nullable": true, "enum": ["a"]});
        rewrite_nullable(&mut v);
        assert_eq!(v, json!({"type": ["string", "null"], "enum": ["a", null]}));
        let mut r = json!({"nullable": true, "$ref": "#/x"});
        rewrite_nullable(&mut r);
        assert_eq!(r, json!({"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}));
    }

    #[test]
    fn templates_and_ranks() {
        let f = Field::root("x");
        let (t, c, r) = template_of(&f, &["v1".into()], "/orders/{orderId}/items").unwrap();
        assert_eq!(t, "/v1/orders/{p0}/items");
        assert_eq!(c, vec![("p0".to_string(), "orderId".to_string())]);
        assert_eq!(r, vec![0, 0, 1, 0]);
        assert!(template_of(&f, &[], "/files/{name}.json").is_err());
    }
}
