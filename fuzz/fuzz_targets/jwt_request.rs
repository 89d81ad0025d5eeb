//! The whole request decision on the fake host, through the shared driver:
//! the input is a path and an Authorization value (split at the first
//! newline). Properties: no panic; a request is let through only on the
//! public route, or with a token that verifies (which a fuzzer cannot
//! forge: the keys are fixed secrets, so it must contain one of the
//! corpus's valid tokens whole); and never on a non-canonical path.
#![no_main]
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::jwt::JwtFilter;
use edgeward_core::path::PathPolicy;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

const CONFIG: &str = r#"{
  "providers": {"idp": {
    "issuer": "https://idp", "audiences": ["api"], "algorithms": ["HS256", "EdDSA"],
    "jwks": {"inline": {"keys": [
      {"kty": "oct", "kid": "s1", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtZWRnZXdhcmQ"},
      {"kty": "OKP", "crv": "Ed25519", "kid": "e1", "x": "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"}
    ]}},
    "from": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}],
    "claims_to_headers": [{"claim": "sub", "header": "x-user"}]
  }},
  "rules": [
    {"match": {"path_prefix": "/health"}, "requires": "none"},
    {"match": {"prefix": "/"}, "requires": {"provider": "idp"}}
  ]
}"#;

/// The only tokens that verify (seeds of the corpus; the fake clock is fixed).
const VALID: [&str; 2] = [
    "eyJhbGciOiJIUzI1NiIsImtpZCI6InMxIn0.eyJpc3MiOiJodHRwczovL2lkcCIsImF1ZCI6ImFwaSIsInN1YiI6ImFsaWNlIiwiZXhwIjoxODAwMDAwMzAwLCJpYXQiOjE3OTk5OTk5OTB9.YJ68QBClLbwFix-4DphDhS7F3YD3xgFvQiyFJRaeHwQ",
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImUxIn0.eyJpc3MiOiJodHRwczovL2lkcCIsImF1ZCI6ImFwaSIsInN1YiI6ImFsaWNlIiwiZXhwIjoxODAwMDAwMzAwLCJpYXQiOjE3OTk5OTk5OTB9.e-3sZTW_IrKL8mto69IibH9X9hSsAI63tTg5ZI7YBVkuO5Ht32Yzd1QOOhG8y3H3zqKTXdHCdG6RzkuJ5OldAw",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, auth) = text.split_once('\n').unwrap_or((&text, ""));
    let host = FakeHost::new(1_800_000_000_000);
    VM.with(|vm| decide(&host, &mut vm.borrow_mut(), path, auth));
});

thread_local! {
    /// Configured once: the decision, not the config parser, is fuzzed here.
    static VM: RefCell<Driver<JwtFilter>> = RefCell::new({
        let host = FakeHost::new(0);
        *host.plugin_config.borrow_mut() = CONFIG.as_bytes().to_vec();
        let mut vm = Driver::<JwtFilter>::new(1);
        assert!(vm.configure(&host));
        vm
    });
}

fn decide(host: &FakeHost, vm: &mut Driver<JwtFilter>, path: &str, auth: &str) {
    let mut headers = vec![(":method", "GET"), (":path", path), (":authority", "api")];
    if !auth.is_empty() {
        headers.push(("authorization", auth));
    }
    host.start_stream(2, &headers);
    let action = vm.on_request_headers(host, 2, true);
    vm.on_done(2);
    let stream = host.stream(2);
    match action {
        Action::Continue => {
            assert!(stream.reply.is_none());
            let canonical = PathPolicy::STRICT.check(path);
            assert!(canonical.is_ok(), "non-canonical path allowed: {path:?}");
            let public =
                canonical.map(|p| p.segments().first() == Some("health"));
            let with_token = VALID.iter().any(|v| auth.contains(v) || path.contains(v));
            assert!(
                public == Ok(true) || with_token,
                "protected path allowed without a valid token: {path:?} {auth:?}"
            );
        }
        Action::Pause => {
            let reply = stream.reply.expect("a paused request was answered");
            assert!(matches!(reply.status, 400 | 401 | 403), "{}", reply.status);
        }
    }
}
