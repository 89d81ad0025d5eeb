//! Rate Limit Service replies and rate-limit keys: decoding any bytes as a
//! `RateLimitResponse` never panics and stays bounded; keys built from any
//! header, claim and identity values fit the stored-key bound, encode to a
//! well-formed request, and two different value lists never share a local
//! key; and the whole filter, fed the input as a gRPC reply, never panics
//! and always either resumes or answers the held request.
#![no_main]
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::{BufferedGrpcResponse, StreamHost};
use edgeward_core::http::RequestHead;
use edgeward_core::identity::{Identity, IDENTITY_PROPERTY};
use edgeward_core::protobuf::Fields;
use edgeward_core::ratelimit::config::RateLimitConfig;
use edgeward_core::ratelimit::key::{build, Facts, MAX_VALUE_BYTES};
use edgeward_core::ratelimit::rls::{RateLimitRequest, RateLimitResponse, MAX_STATUSES};
use edgeward_core::ratelimit::store::{StoredKey, MAX_KEY_BYTES};
use edgeward_core::ratelimit::RateLimitFilter;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn config() -> serde_json::Value {
    json!({"service": {"cluster": "rls"}, "response_headers": "all", "legacy_headers": true,
           "policies": [
        {"name": "g", "mode": "global", "failure_mode": "local",
         "local_first": {"lease": 4, "max_lease_ms": 1000},
         "key": [{"dimension": "tenant"}, {"dimension": "claim", "name": "org.id"},
                 {"dimension": "header", "name": "x-key"}, {"dimension": "method"},
                 {"dimension": "subject"}, {"dimension": "client_id"}, {"dimension": "path"}],
         "limit": {"token_bucket": {"rate": 3, "burst": 5}}, "cost": 2},
        {"name": "l", "key": [{"dimension": "header", "name": "x-key"}],
         "limit": {"sliding_window": {"requests": 4, "window_s": 10}}}
    ]})
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = RateLimitResponse::decode(data) {
        assert!(r.statuses.len() <= MAX_STATUSES);
    }
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (a, b, c) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let cfg = RateLimitConfig::from_json(config().to_string().as_bytes()).unwrap();
    let id = Identity {
        provider: "idp".into(),
        iss: None,
        sub: Some(b.to_string()),
        aud: vec![],
        scopes: vec![],
        client_id: (!c.is_empty()).then(|| c.to_string()),
        tenant: Some(a.to_string()),
        exp: None,
        claims: json!({"org": {"id": c}}).as_object().cloned().unwrap(),
    };
    let head = RequestHead::from_pairs(&[(":method", "GET"), ("x-key", b), ("x-key", c)]);
    let facts = Facts {
        head: &head,
        path: "/",
        identity: Some(&id),
        client_ip: None,
        route_name: None,
    };
    let swapped = Identity {
        tenant: Some(b.to_string()),
        sub: Some(a.to_string()),
        ..id.clone()
    };
    let facts2 = Facts {
        identity: Some(&swapped),
        ..facts
    };
    for p in &cfg.policies {
        let (raw, d) = build(p, &facts, true);
        let key = StoredKey::new(0, p.limit.kind(), &raw);
        assert!(key.bytes().len() <= MAX_KEY_BYTES);
        for (_, v) in &d.entries {
            assert!(v.len() <= MAX_VALUE_BYTES.max(71));
        }
        let req = RateLimitRequest {
            domain: "d".into(),
            descriptors: vec![d],
            hits_addend: 1,
        };
        assert!(Fields::new(&req.encode()).all(|f| f.is_ok()));
        let (raw2, _) = build(p, &facts2, true);
        if a != b && p.name == "g" {
            assert_ne!(raw, raw2, "tenant/subject swap must change the key");
        }
    }
    // The whole flow: the input is the service's reply.
    let host = FakeHost::new(1_800_000_000_000);
    *host.plugin_config.borrow_mut() = config().to_string().into_bytes();
    let mut d: Driver<RateLimitFilter> = Driver::new(1);
    assert!(d.configure(&host));
    host.start_stream(2, &[(":method", "GET"), (":path", "/"), ("x-key", a)]);
    host.set_property(&[IDENTITY_PROPERTY], id.to_json().as_bytes()).unwrap();
    assert_eq!(d.on_request_headers(&host, 2, true), Action::Pause);
    let reply = BufferedGrpcResponse {
        status_code: u32::from(data.first().copied().unwrap_or(0) % 3 == 1) * 14,
        status_message: None,
        message: data.to_vec(),
    };
    d.on_grpc_call_response(&host, 2, 1, &reply);
    let s = host.stream(2);
    assert!(s.resumed == 1 || s.reply.is_some());
    d.on_response_headers(&host, 2, true);
});
