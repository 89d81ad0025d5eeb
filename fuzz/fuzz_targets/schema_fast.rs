//! The schema fast path against the slow path it stands in for: any bytes
//! as a body, checked by the fast program of each schema below (together
//! they use every keyword the fast path implements) at two depth bounds.
//! Property: when the fast path answers `Valid`, the body is strict JSON
//! (`json::parse_strict` at the same depth) and the `jsonschema` validator
//! accepts it. The fast path only ever accepts, so this is the whole of its
//! correctness; `Invalid` and `Unsure` go to the slow path anyway.
#![no_main]
use edgeward_core::config::Field;
use edgeward_core::json::parse_strict;
use edgeward_core::schema::compile::{
    compile as compile_slow, CompileOptions, CompiledSchema, Dialect,
};
use edgeward_core::schema::fast::{compile as compile_fast, Fast, FastProgram, ANY_JSON};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::cell::OnceCell;

fn schemas() -> Vec<(Dialect, Value)> {
    vec![
        (
            Dialect::Draft202012,
            json!({"type": "object", "required": ["customer", "items"],
          "properties": {
            "customer": {"type": "object", "required": ["id"],
                         "properties": {"id": {"type": "string", "pattern": "^c-[0-9]+$"},
                                        "email": {"type": "string", "minLength": 3, "maxLength": 254}}},
            "items": {"type": "array", "minItems": 1, "maxItems": 8, "items": {"$ref": "#/$defs/item"}},
            "note": {"type": ["string", "null"], "maxLength": 5}},
          "$defs": {"item": {"type": "object", "required": ["sku", "qty"], "additionalProperties": false,
                             "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
                                            "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
                                            "price": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1e6}}}}}),
        ),
        (
            Dialect::Draft202012,
            json!({"type": "object", "minProperties": 1, "maxProperties": 4,
            "additionalProperties": {"type": ["integer", "boolean"], "maximum": 9007199254740993i64},
            "properties": {
              "kind": {"enum": ["a", "b", "é", null, true]},
              "v": {"const": "x"},
              "tags": {"type": "array", "uniqueItems": false, "items": {"type": "string"}},
              "any": true,
              "none": false,
              "big": {"type": "integer", "minimum": -9007199254740992i64, "maximum": 9007199254740992i64}
            }}),
        ),
        (
            Dialect::Draft7,
            json!({"type": "array", "maxItems": 3,
          "items": {"$ref": "#/definitions/n"},
          "definitions": {"n": {"type": "number", "minimum": -1.5, "maximum": 1.5}}}),
        ),
        (
            Dialect::Draft4,
            json!({"type": "object",
          "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 10},
                         "s": {"type": "string", "maxLength": 2}}}),
        ),
    ]
}

struct Pair {
    fast: FastProgram,
    slow: CompiledSchema,
}

thread_local! {
    static PAIRS: Vec<Pair> = schemas()
        .into_iter()
        .map(|(dialect, schema)| {
            let opts = CompileOptions { dialect, formats: false };
            Pair {
                fast: compile_fast(&schema, "", opts).unwrap_or_else(|e| panic!("no fast path: {e:?}")),
                slow: compile_slow(&Field::root("s"), &schema, opts).unwrap_or_else(|e| panic!("{e:?}")),
            }
        })
        .collect();
}

fuzz_target!(|body: &[u8]| {
    for depth in [4, 64] {
        // The strict parse, once per depth, only when some program said Valid.
        let strict = OnceCell::new();
        let strict_json = || {
            strict
                .get_or_init(|| parse_strict(body, depth))
                .as_ref()
                .ok()
        };
        if ANY_JSON.check(body, depth) == Fast::Valid {
            assert!(
                strict_json().is_some(),
                "ANY_JSON Valid, not strict JSON at depth {depth}"
            );
        }
        PAIRS.with(|pairs| {
            for (i, p) in pairs.iter().enumerate() {
                if p.fast.check(body, depth) == Fast::Valid {
                    let Some(v) = strict_json() else {
                        panic!("schema {i}: fast Valid, not strict JSON at depth {depth}");
                    };
                    assert!(p.slow.is_valid(v), "schema {i}: fast Valid, slow refuses");
                }
            }
        });
    }
});
