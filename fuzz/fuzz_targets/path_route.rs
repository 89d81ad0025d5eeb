//! The canonical-path policy and the route matcher: no panic; an accepted
//! path really is canonical (no dot segment, no empty inner segment, no
//! separator hidden in a decoded segment); relaxing never accepts a dot
//! segment; a matched template's captures are segments of the path.
#![no_main]
use edgeward_core::config::Field;
use edgeward_core::path::PathPolicy;
use edgeward_core::route::{RawRouteMatch, RequestTarget, RouteMatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, template) = text
        .split_once('\n')
        .unwrap_or((&text, "/v1/tenants/{tenant}/**"));
    let relaxed = PathPolicy {
        allow_encoded_unreserved: true,
        allow_double_slash: true,
        allow_semicolon: true,
    };
    for policy in [PathPolicy::STRICT, relaxed] {
        let Ok(canon) = policy.check(path) else {
            continue;
        };
        let segs = canon.segments();
        for (i, s) in segs.iter().enumerate() {
            assert!(s != "." && s != ".." && !s.ends_with('.'), "{path:?}");
            assert!(!s.contains('/') && !s.contains('\\'), "{path:?}");
            assert!(!s.is_empty() || i + 1 == segs.len(), "{path:?}");
        }
        // The decoded text is exactly `/` + the segments joined by `/`.
        let joined: String = segs.iter().map(|s| format!("/{s}")).collect();
        assert_eq!(canon.as_str(), joined, "{path:?}");
        let raw = RawRouteMatch {
            template: Some(template.to_string()),
            ..RawRouteMatch::default()
        };
        if let Ok(m) = RouteMatch::compile(&Field::root("match"), &raw) {
            let target = RequestTarget {
                method: "GET",
                authority: "h",
                path: &canon,
            };
            if let Some(caps) = m.matches(&target) {
                for (_, v) in &caps.0 {
                    assert!(
                        segs.iter().any(|s| s == v),
                        "capture {v:?} is not a segment of {path:?}"
                    );
                }
            }
        }
    }
});
