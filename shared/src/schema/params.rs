//! Parameter contracts: path captures, query parameters and headers, each
//! with a schema, checked after the usual string-to-type coercion.
//!
//! Coercion follows the schema's `type`: `integer` (optional `-`, digits,
//! within i64/u64), `number` (JSON number syntax), `boolean` (`true` /
//! `false`), `array` (repeated query parameters, or one comma-separated
//! value for headers, path segments and `explode: false` query
//! parameters), `null` (empty); anything else stays a string. A list of
//! types tries them in the schema's order. A query parameter given twice
//! whose schema is not an array is refused: two servers read it two ways.

use super::compile::{compile, CompileOptions, CompiledSchema, Violation};
use crate::config::{ConfigError, Field};
use crate::http::{percent_decode, RequestHead};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Path,
    Query,
    Header,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
        }
    }
}

/// One parameter as configured (also the shape of an OpenAPI Parameter
/// Object's relevant members).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    #[serde(rename = "in")]
    pub location: Location,
    pub name: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub explode: Option<bool>,
}

#[derive(Debug)]
pub struct Param {
    pub location: Location,
    /// Header names lower-case; for path parameters, the template capture.
    pub name: String,
    /// The name violations show (the OpenAPI parameter name of a capture).
    pub display: String,
    pub required: bool,
    /// Types to coerce to, in order (empty: string).
    types: Vec<&'static str>,
    /// Item types when the parameter is an array.
    item_types: Vec<&'static str>,
    explode: bool,
    schema: Option<CompiledSchema>,
}

/// Where a template capture's value comes from: the capture's name in the
/// route template and the parameter it fills.
#[derive(Debug, Clone)]
pub struct PathValue<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

fn types_of(schema: Option<&Value>) -> Vec<&'static str> {
    let known = |t: &str| -> Option<&'static str> {
        [
            "integer", "number", "boolean", "array", "null", "string", "object",
        ]
        .into_iter()
        .find(|k| *k == t)
    };
    match schema.and_then(|s| s.get("type")) {
        Some(Value::String(t)) => known(t).into_iter().collect(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter_map(known)
            .collect(),
        _ => Vec::new(),
    }
}

impl Param {
    /// `schema_root`: when the schema lives in a larger document (OpenAPI),
    /// the compiled form is `{"$ref": ...}` merged into it, given by the caller.
    pub fn compile(
        field: &Field,
        raw: &RawParam,
        compiled: Option<CompiledSchema>,
        resolved_schema: Option<&Value>,
        opts: CompileOptions,
    ) -> Result<Param, ConfigError> {
        if raw.name.is_empty() {
            return Err(field.child("name").error("a parameter needs a name"));
        }
        let name = match raw.location {
            Location::Header => {
                let lower = raw.name.to_ascii_lowercase();
                if !lower
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(field
                        .child("name")
                        .error(format!("{:?} is not a header name", raw.name)));
                }
                lower
            }
            _ => raw.name.clone(),
        };
        let schema = match (compiled, &raw.schema) {
            (Some(c), _) => Some(c),
            (None, Some(s)) => Some(compile(&field.child("schema"), s, opts)?),
            (None, None) => None,
        };
        let shape = resolved_schema.or(raw.schema.as_ref());
        let types = types_of(shape);
        let item_types = types_of(shape.and_then(|s| s.get("items")));
        Ok(Param {
            location: raw.location,
            required: raw.required || raw.location == Location::Path,
            explode: raw.explode.unwrap_or(raw.location == Location::Query),
            display: name.clone(),
            name,
            types,
            item_types,
            schema,
        })
    }

    /// Checks this parameter on the request; violations at most `max`.
    pub fn check(
        &self,
        head: &RequestHead,
        captures: &[PathValue<'_>],
        max: usize,
        out: &mut Vec<Violation>,
    ) {
        let values: Vec<String> = match self.location {
            Location::Path => captures
                .iter()
                .filter(|c| c.name == self.name)
                .map(|c| c.value.to_string())
                .collect(),
            Location::Query => head
                .query()
                .map(|q| query_values_raw(q, &self.name))
                .unwrap_or_default(),
            Location::Header => head.all(&self.name).map(str::to_string).collect(),
        };
        let pointer = format!(
            "/{}/{}",
            self.location.as_str(),
            super::declared::escape(&self.display)
        );
        let mut fail = |keyword: &str, message: &str| {
            if out.len() < max {
                out.push(Violation {
                    pointer: pointer.clone(),
                    keyword: keyword.to_string(),
                    schema: String::new(),
                    message: message.to_string(),
                });
            }
        };
        if values.is_empty() {
            if self.required {
                fail("required", "a required parameter is missing");
            }
            return;
        }
        let is_array = self.types.first() == Some(&"array");
        let value = if is_array {
            let items: Vec<String> =
                if values.len() == 1 && !(self.location == Location::Query && self.explode) {
                    values
                        .first()
                        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
                        .unwrap_or_default()
                } else {
                    values
                };
            Value::Array(items.iter().map(|s| coerce(s, &self.item_types)).collect())
        } else {
            if values.len() > 1 {
                fail("repeated", "the parameter is given more than once");
                return;
            }
            match values.first() {
                Some(v) => coerce(v, &self.types),
                None => return,
            }
        };
        if let Some(schema) = &self.schema {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                return;
            }
            for mut v in schema.violations(&value, room) {
                v.pointer = format!("{pointer}{}", v.pointer);
                out.push(v);
            }
        }
    }
}

/// Values of query parameter `name`, percent-decoded (`+` is a space).
fn query_values_raw(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
        .collect()
}

/// The typed value of `s` for the first type it parses as; else the string.
fn coerce(s: &str, types: &[&str]) -> Value {
    for t in types {
        let v = match *t {
            "integer" => parse_integer(s),
            "number" => parse_number(s),
            "boolean" => match s {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            "null" => s.is_empty().then_some(Value::Null),
            "string" => Some(Value::String(s.to_string())),
            _ => None,
        };
        if let Some(v) = v {
            return v;
        }
    }
    Value::String(s.to_string())
}

fn parse_integer(s: &str) -> Option<Value> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    s.parse::<u64>().ok().map(|u| Value::Number(u.into()))
}

fn parse_number(s: &str) -> Option<Value> {
    if let Some(i) = parse_integer(s) {
        return Some(i);
    }
    // JSON number grammar only: no "inf", "NaN", "+1", ".5" or "1.".
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => Some(Value::Number(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::compile::Dialect;
    use serde_json::json;

    const OPTS: CompileOptions = CompileOptions {
        dialect: Dialect::Draft202012,
        formats: false,
    };

    fn param(v: Value) -> Param {
        let raw: RawParam = serde_json::from_value(v).unwrap();
        Param::compile(&Field::root("p"), &raw, None, None, OPTS).unwrap()
    }

    fn check(
        p: &Param,
        path: &str,
        headers: &[(&str, &str)],
        caps: &[(&str, &str)],
    ) -> Vec<Violation> {
        let mut h = vec![(":path", path)];
        h.extend_from_slice(headers);
        let head = RequestHead::from_pairs(&h);
        let caps: Vec<PathValue> = caps
            .iter()
            .map(|(n, v)| PathValue { name: n, value: v })
            .collect();
        let mut out = Vec::new();
        p.check(&head, &caps, 10, &mut out);
        out
    }

    #[test]
    fn coercion_and_checks() {
        let limit = param(
            json!({"in": "query", "name": "limit", "schema": {"type": "integer", "maximum": 100}}),
        );
        assert!(check(&limit, "/x?limit=10", &[], &[]).is_empty());
        assert!(check(&limit, "/x", &[], &[]).is_empty());
        let v = check(&limit, "/x?limit=1000", &[], &[]);
        assert_eq!(
            (v[0].pointer.as_str(), v[0].keyword.as_str()),
            ("/query/limit", "maximum")
        );
        assert_eq!(check(&limit, "/x?limit=ten", &[], &[])[0].keyword, "type");
        assert_eq!(
            check(&limit, "/x?limit=1&limit=2", &[], &[])[0].keyword,
            "repeated"
        );
        let ids = param(json!({"in": "query", "name": "id", "required": true,
                              "schema": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}}));
        assert!(check(&ids, "/x?id=1&id=2", &[], &[]).is_empty());
        assert_eq!(
            check(&ids, "/x?id=1&id=2&id=3", &[], &[])[0].keyword,
            "maxItems"
        );
        assert_eq!(check(&ids, "/x", &[], &[])[0].keyword, "required");
        let h = param(
            json!({"in": "header", "name": "X-Request-Id", "required": true,
                            "schema": {"type": "string", "pattern": "^[a-f0-9]{8}$"}}),
        );
        assert!(check(&h, "/", &[("x-request-id", "deadbeef")], &[]).is_empty());
        let v = check(&h, "/", &[("x-request-id", "secret-value")], &[]);
        assert_eq!(v[0].keyword, "pattern");
        assert!(!format!("{v:?}").contains("secret-value"));
        let id =
            param(json!({"in": "path", "name": "id", "schema": {"type": "integer", "minimum": 1}}));
        assert!(check(&id, "/o/5", &[], &[("id", "5")]).is_empty());
        assert_eq!(
            check(&id, "/o/0", &[], &[("id", "0")])[0].keyword,
            "minimum"
        );
        let flag = param(json!({"in": "query", "name": "f", "schema": {"type": "boolean"}}));
        assert!(check(&flag, "/?f=true", &[], &[]).is_empty());
        assert_eq!(check(&flag, "/?f=yes", &[], &[])[0].keyword, "type");
        let n = param(json!({"in": "query", "name": "n", "schema": {"type": "number"}}));
        assert!(check(&n, "/?n=1.5e3", &[], &[]).is_empty());
        assert_eq!(check(&n, "/?n=NaN", &[], &[])[0].keyword, "type");
        assert_eq!(
            coerce("12345678901234567890", &["integer"]),
            json!(12345678901234567890u64)
        );
    }
}
