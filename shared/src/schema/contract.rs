//! A compiled operation contract: what one method + path accepts (body,
//! parameters) and answers (responses), whether written by hand in the
//! plugin configuration or taken from an OpenAPI document.

use super::compile::{compile, CompileOptions, CompiledSchema, Violation};
use super::declared::Declared;
use super::fast::{FastProgram, NoFastPath};
use super::params::Param;
use crate::body::JsonBodyPolicy;
use crate::config::{ConfigError, Field};
use serde_json::Value;
use std::rc::Rc;

/// What happens to a response that violates its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Not validated.
    Off,
    /// Replaced by 502 problem+json.
    Enforce,
    /// Logged and counted, passed on.
    Log,
}

impl ResponseMode {
    pub fn parse(field: &Field, s: &str) -> Result<ResponseMode, ConfigError> {
        match s {
            "off" => Ok(ResponseMode::Off),
            "enforce" => Ok(ResponseMode::Enforce),
            "log" => Ok(ResponseMode::Log),
            _ => Err(field.error(format!("{s:?}: use \"enforce\", \"log\" or \"off\""))),
        }
    }
}

/// A schema with, when the contract needs it, its declaration graph
/// (strict mode on request bodies, stripping on responses).
#[derive(Debug)]
pub struct Checked {
    pub schema: CompiledSchema,
    pub declared: Option<Declared>,
    /// The fast path's program, when every keyword of the schema is one it
    /// implements exactly (`fast::compile`), else why not.
    pub fast: Result<FastProgram, NoFastPath>,
}

impl Checked {
    /// Compiles the schema at `pointer` in `root` (`""`: the root itself).
    pub fn build(
        field: &Field,
        root: &Value,
        pointer: &str,
        opts: CompileOptions,
        with_declared: bool,
    ) -> Result<Checked, ConfigError> {
        let schema = if pointer.is_empty() {
            compile(field, root, opts)?
        } else {
            compile(field, &in_document(root, pointer), opts)?
        };
        let declared = if with_declared {
            Some(Declared::build(field, root, pointer, opts)?)
        } else {
            None
        };
        let fast = super::fast::compile(root, pointer, opts);
        Ok(Checked {
            schema,
            declared,
            fast,
        })
    }

    /// Schema violations, then (strict) undeclared properties.
    pub fn check(&self, instance: &Value, strict: bool, max: usize) -> Vec<Violation> {
        // `is_valid` stops at the first failure and builds no error; the
        // error iterator (paths, messages) only runs on a body that fails,
        // which is then walked a second time.
        let mut out = if self.schema.is_valid(instance) {
            Vec::new()
        } else {
            self.schema.violations(instance, max)
        };
        if strict && out.len() < max {
            if let Some(d) = &self.declared {
                for u in d.undeclared(instance, max.saturating_sub(out.len())) {
                    out.push(Violation {
                        pointer: u.property.unwrap_or(u.object),
                        keyword: "strict".into(),
                        schema: String::new(),
                        message: "a property the schema does not declare (strict mode)".into(),
                    });
                }
            }
        }
        out
    }
}

/// The document `root` with a `$ref` to `pointer` at its top, so the
/// schema there resolves its own `#/...` references against the document
/// (OpenAPI `#/components/schemas/...`).
pub fn in_document(root: &Value, pointer: &str) -> Value {
    let mut doc = match root {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    doc.insert(
        "$ref".into(),
        Value::String(format!("#{}", fragment(pointer))),
    );
    // An OpenAPI document's top level holds no schema keywords; these two
    // would change how the references resolve.
    doc.remove("$schema");
    doc.remove("$id");
    Value::Object(doc)
}

/// A JSON pointer as a URI fragment (RFC 6901 section 6).
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A request body contract.
#[derive(Debug)]
pub struct BodySpec {
    pub policy: JsonBodyPolicy,
    pub required: bool,
    /// Per allowed media type (lower-case essence or `application/*+json`):
    /// its schema, or None (any strict JSON).
    pub schemas: Vec<(String, Option<Rc<Checked>>)>,
}

impl BodySpec {
    /// The schema for the request's media type essence.
    pub fn schema_for(&self, essence: &str) -> Option<&Checked> {
        let exact = self.schemas.iter().find(|(t, _)| t == essence);
        let found = exact.or_else(|| {
            self.schemas.iter().find(|(t, _)| {
                t.strip_suffix("*+json")
                    .is_some_and(|ty| essence.starts_with(ty) && essence.ends_with("+json"))
            })
        });
        found.and_then(|(_, s)| s.as_deref())
    }
}

/// Which statuses a response schema covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKey {
    Exact(u16),
    /// `2XX`: the hundreds digit.
    Range(u16),
    Default,
}

impl StatusKey {
    pub fn parse(field: &Field, s: &str) -> Result<StatusKey, ConfigError> {
        if s == "default" {
            return Ok(StatusKey::Default);
        }
        let b = s.as_bytes();
        if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) {
            if b[1..].eq_ignore_ascii_case(b"XX") {
                return Ok(StatusKey::Range(u16::from(b[0] - b'0')));
            }
            if let Ok(n) = s.parse::<u16>() {
                return Ok(StatusKey::Exact(n));
            }
        }
        Err(field.error(format!(
            "{s:?} is not a status: use \"200\", \"2XX\" or \"default\""
        )))
    }
}

/// A response contract for one status key.
#[derive(Debug)]
pub struct ResponseSpec {
    pub status: StatusKey,
    /// None: the status is declared without a JSON body.
    pub schema: Option<Checked>,
}

#[derive(Debug)]
pub struct Operation {
    /// `POST /orders/{id}` (logs and filter state).
    pub label: String,
    pub params: Vec<Param>,
    /// Template capture -> parameter name (OpenAPI names need not be valid
    /// capture names).
    pub captures: Vec<(String, String)>,
    /// None: the operation takes no body (one sent is refused, 415).
    pub body: Option<BodySpec>,
    pub strict: bool,
    pub responses: Vec<ResponseSpec>,
    pub response_mode: ResponseMode,
    pub strip: bool,
    pub max_response_bytes: usize,
}

impl Operation {
    /// The response contract for `status`: exact, then range, then default.
    pub fn response_for(&self, status: u16) -> Option<&ResponseSpec> {
        let by = |k: StatusKey| self.responses.iter().find(|r| r.status == k);
        by(StatusKey::Exact(status))
            .or_else(|| by(StatusKey::Range(status / 100)))
            .or_else(|| by(StatusKey::Default))
    }
}
