//! The tenant authorization filter: policy configuration and request
//! matching. Input: a policy (JSON), then `\n--\n`, a request (first line
//! `METHOD PATH`, then `name: value` header lines), `\n--\n`, an identity
//! (JSON, empty for none), `\n--\n`, a body. No panic; a request the filter
//! lets through carries no client copy of an identity header, and one
//! allowed by a rule bound to a path capture names the identity's tenant in
//! that raw segment.
#![no_main]
use edgeward_core::authz::config::TenantBinding;
use edgeward_core::authz::engine::raw_segments;
use edgeward_core::authz::{AuthzConfig, TenantFilter};
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::StreamHost;
use edgeward_core::http::same_header_name;
use edgeward_core::identity::Identity;
use libfuzzer_sys::fuzz_target;

const DEFAULT_POLICY: &str = r#"{"identity_headers": [{"header": "x-tenant-id", "value": "tenant"}],
 "rules": [{"name": "a", "match": {"template": "/t/{tenant}/**"}, "tenant": {"path": "tenant"}},
           {"name": "h", "match": {"path_prefix": "/h"}, "tenant": {"header": "x-org"}},
           {"name": "b", "match": {"path": "/b"}, "tenant": {"body": "/t"}},
           {"name": "d", "effect": "deny", "match": {"prefix": "/"}, "claims": [{"claim": "r", "gt": 5}]}]}"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, "\n--\n");
    let policy = parts.next().unwrap_or("");
    let request = parts.next().unwrap_or("GET /t/acme/x");
    let identity = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    // Config alone: never panics, whatever it is.
    let _ = AuthzConfig::from_json(policy.as_bytes());
    let policy = if AuthzConfig::from_json(policy.as_bytes()).is_ok() {
        policy
    } else {
        DEFAULT_POLICY
    };
    let Ok(cfg) = AuthzConfig::from_json(policy.as_bytes()) else {
        return;
    };
    let host = FakeHost::new(1_800_007_200_000);
    *host.plugin_config.borrow_mut() = policy.as_bytes().to_vec();
    let mut d = Driver::<TenantFilter>::new(1);
    assert!(d.configure(&host));
    let mut lines = request.lines();
    let first = lines.next().unwrap_or("GET /");
    let (method, path) = first.split_once(' ').unwrap_or(("GET", first));
    let mut headers: Vec<(String, String)> = vec![
        (":method".into(), method.into()),
        (":path".into(), path.into()),
        (":authority".into(), "api".into()),
    ];
    for l in lines {
        if let Some((k, v)) = l.split_once(": ") {
            headers.push((k.to_ascii_lowercase(), v.into()));
        }
    }
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    host.start_stream(2, &pairs);
    let ident = Identity::from_json(identity.as_bytes()).ok();
    if !identity.is_empty() {
        let _ = host.set_property(&["edgeward.identity"], identity.as_bytes());
    }
    host.set_request_body(body.as_bytes());
    let mut action = d.on_request_headers(&host, 2, body.is_empty());
    if action == Action::Pause && host.stream(2).reply.is_none() {
        action = d.on_request_body(&host, 2, body.len(), true);
    }
    let s = host.stream(2);
    if action != Action::Continue || s.reply.is_some() {
        return;
    }
    for h in &cfg.identity_headers {
        for (k, v) in &s.headers {
            if same_header_name(&h.header, k) {
                assert_eq!(k, &h.header, "a client spelling of {} survived", h.header);
                let _ = v;
            }
        }
    }
    let record: serde_json::Value = s
        .properties
        .get(&vec!["edgeward.authz".to_string()])
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    if record["decision"] != "allow" {
        return;
    }
    let Some(rule) = cfg.rules.iter().find(|r| record["rule"] == r.name.as_str()) else {
        return;
    };
    if let Some(TenantBinding::Path { index, .. }) = &rule.tenant {
        let tenant = ident.as_ref().and_then(|i| {
            match &cfg.tenant_claim {
                Some(c) => i.claim(c).and_then(|v| v.as_str()).map(str::to_string),
                None => i.tenant.clone(),
            }
        });
        let path_only = path.split(['?', '#']).next().unwrap_or("");
        let segs = raw_segments(path_only, &cfg.path_policy);
        assert_eq!(
            segs.get(*index).copied(),
            tenant.as_deref(),
            "allowed {path:?} for another tenant"
        );
    }
});
