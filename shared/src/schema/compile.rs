//! JSON Schema compilation (by the `jsonschema` crate, once, at configure
//! time) and the violations a validation reports.
//!
//! What edgeward adds around the validator: the draft is chosen explicitly
//! (`2020-12`, the default, or `7`; OpenAPI 3.0 documents use draft 4, the
//! dialect their Schema Object is built on) and a `$schema` that names
//! another draft is a configuration error, references are local only (no
//! retrieval, ever: a `$ref` that does not resolve inside the document is a
//! configuration error), `format` is an assertion only when asked for, and a
//! violation never carries the offending value (messages are built from the
//! schema, never from the instance).

use crate::config::{ConfigError, Field};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Validator};
use serde_json::{json, Value};

/// The JSON Schema dialects a contract may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Draft202012,
    Draft7,
    /// OpenAPI 3.0's Schema Object (draft 4 keywords, `nullable` rewritten).
    Draft4,
}

impl Dialect {
    /// `"2020-12"` or `"7"` (also `"draft-07"`, `"draft7"`).
    pub fn parse(field: &Field, name: &str) -> Result<Dialect, ConfigError> {
        match name {
            "2020-12" | "draft-2020-12" | "draft2020-12" => Ok(Dialect::Draft202012),
            "7" | "draft-07" | "draft7" | "draft-7" => Ok(Dialect::Draft7),
            other => Err(field.error(format!(
                "unknown JSON Schema draft {other:?}: use \"2020-12\" (the default) or \"7\""
            ))),
        }
    }

    fn draft(self) -> Draft {
        match self {
            Dialect::Draft202012 => Draft::Draft202012,
            Dialect::Draft7 => Draft::Draft7,
            Dialect::Draft4 => Draft::Draft4,
        }
    }

    /// Whether a `$schema` URI names this dialect.
    fn is_named_by(self, uri: &str) -> bool {
        let uri = uri.trim_end_matches('#');
        match self {
            Dialect::Draft202012 => uri == "https://json-schema.org/draft/2020-12/schema",
            Dialect::Draft7 => uri == "http://json-schema.org/draft-07/schema",
            Dialect::Draft4 => uri == "http://json-schema.org/draft-04/schema",
        }
    }
}

/// Validation switches shared by every schema of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    pub dialect: Dialect,
    /// Assert `format` (off by default, as the specification says).
    pub formats: bool,
}

/// A compiled schema.
pub struct CompiledSchema {
    validator: Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema")
    }
}

/// One violation, safe to show to the client: where in the instance, which
/// keyword at which schema location, and a message built from the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// RFC 6901 pointer into the instance (the body, or a parameter).
    pub pointer: String,
    pub keyword: String,
    /// Pointer into the schema (`/properties/qty/minimum`).
    pub schema: String,
    pub message: String,
}

impl Violation {
    pub fn to_json(&self) -> Value {
        json!({"pointer": self.pointer, "keyword": self.keyword,
               "schema": self.schema, "message": self.message})
    }
}

/// Compiles `schema` (a whole document; `root` overrides it when the schema
/// lives inside a larger document such as an OpenAPI description, `schema`
/// then being `{"$ref": "#/pointer"}` merged into it).
pub fn compile(
    field: &Field,
    schema: &Value,
    opts: CompileOptions,
) -> Result<CompiledSchema, ConfigError> {
    if let Some(declared) = schema.get("$schema") {
        let ok = declared
            .as_str()
            .is_some_and(|u| opts.dialect.is_named_by(u));
        if !ok {
            return Err(field.child("$schema").error(format!(
                "{declared} is not the dialect this contract uses ({:?}): set \"draft\" to match or remove \"$schema\"",
                opts.dialect
            )));
        }
    }
    let validator = jsonschema::options()
        .with_draft(opts.dialect.draft())
        .should_validate_formats(opts.formats)
        .offline()
        .build(schema)
        .map_err(|e| field.error(format!("the schema does not compile: {}", e.masked())))?;
    Ok(CompiledSchema { validator })
}

/// Longest message kept per violation.
const MAX_MESSAGE: usize = 200;

impl CompiledSchema {
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// At most `max` violations (`max` >= 1), none echoing the instance.
    pub fn violations(&self, instance: &Value, max: usize) -> Vec<Violation> {
        self.validator
            .iter_errors(instance)
            .take(max)
            .map(|e| {
                let keyword = e.kind().keyword().to_string();
                Violation {
                    pointer: e.instance_path().as_str().to_string(),
                    schema: e.schema_path().as_str().to_string(),
                    message: safe_message(e.kind(), &e.masked().to_string()),
                    keyword,
                }
            })
            .collect()
    }
}

/// The message for a violation: the crate's masked message (the instance
/// replaced by "value"), except where the crate would still name what the
/// client sent (unexpected property names), and bounded in length.
fn safe_message(kind: &ValidationErrorKind, masked: &str) -> String {
    let text = match kind {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => format!(
            "{} propert{} not allowed by the schema",
            unexpected.len(),
            if unexpected.len() == 1 {
                "y is"
            } else {
                "ies are"
            }
        ),
        ValidationErrorKind::UnevaluatedItems { .. }
        | ValidationErrorKind::AdditionalItems { .. } => {
            "more items than the schema allows".to_string()
        }
        ValidationErrorKind::PropertyNames { .. } => "a property name is not allowed".to_string(),
        ValidationErrorKind::Referencing(_) => "a reference could not be resolved".to_string(),
        _ => masked.to_string(),
    };
    truncate(text, MAX_MESSAGE)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dialect: Dialect) -> CompileOptions {
        CompileOptions {
            dialect,
            formats: false,
        }
    }

    #[test]
    fn compiles_reports_and_never_echoes() {
        let f = Field::root("routes").index(0).child("body");
        let s = compile(
            &f,
            &json!({"type": "object", "required": ["qty"],
                    "properties": {"qty": {"type": "integer", "minimum": 1},
                                   "card": {"type": "string", "maxLength": 4}},
                    "additionalProperties": false}),
            opts(Dialect::Draft202012),
        )
        .unwrap();
        assert!(s.is_valid(&json!({"qty": 2})));
        let v = s.violations(
            &json!({"qty": 0, "card": "4111111111111111", "s3cr3t-name": 1}),
            10,
        );
        assert_eq!(v.len(), 3, "{v:?}");
        let text = format!("{v:?}");
        assert!(!text.contains("4111"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        let min = v.iter().find(|x| x.keyword == "minimum").unwrap();
        assert_eq!(min.pointer, "/qty");
        assert_eq!(min.schema, "/properties/qty/minimum");
        assert_eq!(
            s.violations(&json!({"qty": 0, "card": "12345"}), 1).len(),
            1
        );
    }

    #[test]
    fn is_valid_agrees_with_the_violations() {
        // The request path asks `is_valid` first and lists violations only
        // when it says no: both must read every instance the same way.
        let s = compile(
            &Field::root("x"),
            &json!({"type": "object", "required": ["items"],
                    "properties": {"items": {"type": "array", "maxItems": 3,
                                             "items": {"$ref": "#/$defs/item"}}},
                    "$defs": {"item": {"type": "object", "additionalProperties": false,
                                       "required": ["sku"],
                                       "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
                                                      "qty": {"type": "integer", "minimum": 1}}}}}),
            opts(Dialect::Draft202012),
        )
        .unwrap();
        for (instance, valid) in [
            (json!({"items": []}), true),
            (json!({"items": [{"sku": "ABC-123", "qty": 2}]}), true),
            (json!({"items": [{"sku": "ABC-1234"}]}), false),
            (json!({"items": [{"sku": "ABC-123", "qty": 0}]}), false),
            (json!({"items": [{"sku": "ABC-123", "x": 1}]}), false),
            (
                json!({"items": [{"sku": "A"}, {"sku": "B"}, {"sku": "C"}, {"sku": "D"}]}),
                false,
            ),
            (json!({"items": 1}), false),
            (json!([]), false),
            (json!({"items": [], "other": {"sku": 1}}), true),
        ] {
            assert_eq!(s.is_valid(&instance), valid, "{instance}");
            assert_eq!(s.violations(&instance, 10).is_empty(), valid, "{instance}");
        }
    }

    #[test]
    fn drafts_refs_and_formats() {
        let f = Field::root("x");
        let s = compile(
            &f,
            &json!({"$defs": {"id": {"$anchor": "ident", "type": "integer"}},
                    "properties": {"a": {"$ref": "#/$defs/id"}, "b": {"$ref": "#ident"}}}),
            opts(Dialect::Draft202012),
        )
        .unwrap();
        assert!(s.is_valid(&json!({"a": 1, "b": 2})));
        assert!(!s.is_valid(&json!({"b": "x"})));
        let e = compile(
            &f,
            &json!({"$ref": "https://example.com/x.json"}),
            opts(Dialect::Draft202012),
        )
        .unwrap_err();
        assert_eq!(e.field, "x");
        assert!(compile(
            &f,
            &json!({"$ref": "#/$defs/nope"}),
            opts(Dialect::Draft202012)
        )
        .is_err());
        assert!(compile(&f, &json!({"type": 12}), opts(Dialect::Draft202012)).is_err());
        let e = compile(
            &f,
            &json!({"$schema": "http://json-schema.org/draft-07/schema#"}),
            opts(Dialect::Draft202012),
        )
        .unwrap_err();
        assert_eq!(e.field, "x.$schema");
        let d7 = compile(
            &f,
            &json!({"$schema": "http://json-schema.org/draft-07/schema#",
                    "definitions": {"n": {"type": "number"}}, "items": [{"$ref": "#/definitions/n"}]}),
            opts(Dialect::Draft7),
        )
        .unwrap();
        assert!(!d7.is_valid(&json!(["x"])));
        let email = json!({"format": "email"});
        assert!(compile(&f, &email, opts(Dialect::Draft202012))
            .unwrap()
            .is_valid(&json!("nope")));
        let strict = CompileOptions {
            dialect: Dialect::Draft202012,
            formats: true,
        };
        assert!(!compile(&f, &email, strict)
            .unwrap()
            .is_valid(&json!("nope")));
        assert!(Dialect::parse(&f, "4").is_err());
    }
}
