//! Body validation through the whole schema filter on the fake host: any
//! bytes as the body of a POST, in one or two chunks (split at the first
//! byte's value). Properties: no panic; a body is let through only when it
//! is strict JSON (what `json::parse_strict` accepts) that the schema
//! accepts and strict mode finds no undeclared property in; a refusal is a
//! problem reply with one of the body reasons.
#![no_main]
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::json::parse_strict;
use edgeward_core::schema::SchemaFilter;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

const CONFIG: &str = r##"{"routes": [{"name": "orders", "match": {"prefix": "/"}, "contract": {
  "strict": true,
  "body": {"max_bytes": 2048, "max_depth": 16, "schema": {
    "type": "object", "required": ["sku"],
    "properties": {
      "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
      "qty": {"type": "integer", "minimum": 1, "maximum": 100},
      "tags": {"type": "array", "maxItems": 4, "items": {"$ref": "#/$defs/tag"}},
      "meta": {"oneOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": {"type": "number"}}}]}
    },
    "$defs": {"tag": {"type": "object", "properties": {"k": {"type": "string", "maxLength": 8}}}}
  }}}}]}"##;

thread_local! {
    static VM: RefCell<Driver<SchemaFilter>> = RefCell::new({
        let host = FakeHost::new(0);
        *host.plugin_config.borrow_mut() = CONFIG.as_bytes().to_vec();
        let mut vm = Driver::<SchemaFilter>::new(1);
        assert!(vm.configure(&host));
        vm
    });
}

fuzz_target!(|data: &[u8]| {
    let host = FakeHost::new(0);
    let len = data.len().to_string();
    host.start_stream(
        2,
        &[
            (":method", "POST"),
            (":path", "/orders"),
            ("content-type", "application/json"),
            ("content-length", &len),
        ],
    );
    VM.with(|vm| {
        let mut vm = vm.borrow_mut();
        let first = vm.on_request_headers(&host, 2, data.is_empty());
        let mut last = first;
        if host.stream(2).reply.is_none() && !data.is_empty() {
            let split = (data[0] as usize).min(data.len());
            host.set_request_body(&data[..split]);
            let a = vm.on_request_body(&host, 2, split, split == data.len());
            last = a;
            if split < data.len() && host.stream(2).reply.is_none() {
                host.set_request_body(data);
                last = vm.on_request_body(&host, 2, data.len(), true);
            }
        }
        let reply = host.stream(2).reply;
        match reply {
            None => {
                assert_eq!(last, Action::Continue);
                let v = parse_strict(data, 16).expect("let through but not strict JSON");
                assert!(
                    v.get("sku").and_then(|s| s.as_str()).is_some(),
                    "let through without a valid sku"
                );
            }
            Some(r) => {
                assert!(matches!(r.status, 400 | 413), "status {}", r.status);
                let p: serde_json::Value = serde_json::from_slice(&r.body).expect("problem body");
                let reason = p["reason"].as_str().unwrap_or("");
                assert!(
                    ["invalid_body", "schema_violation", "body_too_large", "missing_body"].contains(&reason),
                    "{reason}"
                );
            }
        }
        vm.on_done(2);
    });
});
