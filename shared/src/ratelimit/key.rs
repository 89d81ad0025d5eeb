//! Keys from dimensions: the same values build the local key (bytes, see
//! [`super::store::StoredKey`]) and the Rate Limit Service descriptor.
//!
//! A dimension the request lacks (no tenant claim, a missing header, an
//! unknown client address) is a value of its own, "absent": every request
//! lacking it shares one key, so leaving a header out never escapes a
//! limit. Values longer than [`MAX_VALUE_BYTES`] are replaced by their
//! SHA-256 (hex), so a client cannot make the service store huge keys.

use super::config::{Dimension, Policy};
use super::rls::Descriptor;
use crate::http::RequestHead;
use crate::identity::Identity;
use serde_json::Value;
use std::borrow::Cow;
use std::net::IpAddr;

pub const MAX_VALUE_BYTES: usize = 256;

/// What keys are built from, gathered once per request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub head: &'a RequestHead,
    /// The canonical path (query excluded).
    pub path: &'a str,
    pub identity: Option<&'a Identity>,
    pub client_ip: Option<IpAddr>,
    pub route_name: Option<&'a str>,
}

fn bounded(v: Cow<'_, str>) -> Cow<'_, str> {
    if v.len() <= MAX_VALUE_BYTES {
        return v;
    }
    use sha2::Digest;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = sha2::Sha256::digest(v.as_bytes());
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in d.iter() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    Cow::Owned(out)
}

fn claim_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        // Lists and objects have no one value to count by.
        _ => None,
    }
}

/// The value of one dimension, `None` when the request lacks it.
pub fn value(facts: &Facts, d: &Dimension) -> Option<String> {
    value_ref(facts, d).map(Cow::into_owned)
}

/// [`value`], borrowed from the request where it can be (no copy per
/// request for a header, the path or the method).
fn value_ref<'a>(facts: &Facts<'a>, d: &'a Dimension) -> Option<Cow<'a, str>> {
    let v: Cow<'a, str> = match d {
        Dimension::Tenant => Cow::Borrowed(facts.identity?.tenant.as_deref()?),
        Dimension::Subject => Cow::Borrowed(facts.identity?.sub.as_deref()?),
        Dimension::ClientId => Cow::Borrowed(facts.identity?.client_id.as_deref()?),
        Dimension::Claim(path) => claim_text(facts.identity?.claim(path)?)?,
        Dimension::ClientIp => Cow::Owned(facts.client_ip?.to_string()),
        Dimension::Route => Cow::Borrowed(facts.route_name?),
        Dimension::Path => Cow::Borrowed(facts.path),
        Dimension::Header(name) => {
            let mut values = facts.head.all(name);
            let first = values.next()?;
            match values.next() {
                None => Cow::Borrowed(first),
                Some(second) => {
                    let mut joined = String::with_capacity(first.len() + second.len() + 1);
                    joined.push_str(first);
                    for v in std::iter::once(second).chain(values) {
                        joined.push(',');
                        joined.push_str(v);
                    }
                    Cow::Owned(joined)
                }
            }
        }
        Dimension::Method => Cow::Borrowed(facts.head.method()),
    };
    Some(bounded(v))
}

/// A policy's key for one request: the local key bytes (each value
/// length-prefixed, absent marked, so no two value lists encode alike) and
/// the descriptor (`policy` first, then each dimension; absent is ""),
/// built only when `with_descriptor` (global policies).
pub fn build(policy: &Policy, facts: &Facts, with_descriptor: bool) -> (Vec<u8>, Descriptor) {
    // Room for the stored key's 4-byte header (`StoredKey::from_raw`
    // prepends it in place).
    let mut raw = Vec::with_capacity(48);
    let mut entries = Vec::new();
    if with_descriptor {
        entries.reserve(policy.key.len() + 1);
        entries.push(("policy".to_string(), policy.name.clone()));
    }
    for part in &policy.key {
        let v = value_ref(facts, &part.dimension);
        match &v {
            None => raw.push(0),
            Some(s) => {
                raw.push(1);
                raw.extend_from_slice(&(s.len() as u16).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        if with_descriptor {
            entries.push((
                part.descriptor_key.clone(),
                v.map(Cow::into_owned).unwrap_or_default(),
            ));
        }
    }
    (
        raw,
        Descriptor {
            entries,
            hits_addend: policy.cost,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::config::RateLimitConfig;
    use serde_json::json;

    fn policy(key: serde_json::Value) -> Policy {
        let c = json!({"policies": [{"name": "p", "key": key,
                        "limit": {"fixed_window": {"requests": 5, "window_s": 1}}}]});
        RateLimitConfig::from_json(c.to_string().as_bytes())
            .unwrap()
            .policies
            .remove(0)
    }

    fn identity() -> Identity {
        Identity {
            provider: "idp".into(),
            iss: None,
            sub: Some("alice".into()),
            aud: vec![],
            scopes: vec![],
            client_id: Some("web".into()),
            tenant: Some("acme".into()),
            exp: None,
            claims: json!({"plan": "gold", "n": 3, "list": [1]})
                .as_object()
                .cloned()
                .unwrap(),
        }
    }

    #[test]
    fn dimensions_and_absent_values() {
        let head = RequestHead::from_pairs(&[(":method", "POST"), ("x-key", "a"), ("x-key", "b")]);
        let id = identity();
        let facts = Facts {
            head: &head,
            path: "/p",
            identity: Some(&id),
            client_ip: "10.0.0.1".parse().ok(),
            route_name: None,
        };
        let p = policy(
            json!([{"dimension": "tenant"}, {"dimension": "claim", "name": "n"},
                              {"dimension": "header", "name": "x-key"}, {"dimension": "route"},
                              {"dimension": "client_ip"}, {"dimension": "method"}]),
        );
        let (raw, d) = build(&p, &facts, true);
        let vals: Vec<&str> = d.entries.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(vals, ["p", "acme", "3", "a,b", "", "10.0.0.1", "POST"]);
        assert_eq!(d.entries[4].0, "route");
        assert_eq!(d.hits_addend, 1);
        // An absent value and an empty one differ locally.
        let head2 = RequestHead::from_pairs(&[(":method", "POST"), ("x-key", "")]);
        let p2 = policy(json!([{"dimension": "header", "name": "x-key"}]));
        let f2 = Facts {
            head: &head2,
            ..facts
        };
        let f3 = Facts {
            head: &RequestHead::from_pairs(&[]),
            ..facts
        };
        assert_ne!(build(&p2, &f2, true).0, build(&p2, &f3, true).0);
        assert!(!raw.is_empty());
        let anon = Facts {
            identity: None,
            ..facts
        };
        assert_eq!(value(&anon, &Dimension::Tenant), None);
        assert_eq!(value(&facts, &Dimension::Claim("list".into())), None);
    }

    #[test]
    fn long_values_are_digested() {
        let long = "x".repeat(1000);
        let head = RequestHead::from_pairs(&[("x-key", long.as_str())]);
        let facts = Facts {
            head: &head,
            path: "/",
            identity: None,
            client_ip: None,
            route_name: None,
        };
        let v = value(&facts, &Dimension::Header("x-key".into())).unwrap();
        assert!(v.starts_with("sha256:") && v.len() == 71, "{v}");
    }
}
