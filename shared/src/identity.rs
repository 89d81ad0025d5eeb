//! The verified identity the JWT filter publishes in filter state
//! `edgeward.identity` (Envoy: `wasm.edgeward.identity`) and every later
//! filter reads. Only the JWT filter writes it, only after every check
//! passed; a client cannot set filter state.

use crate::host::{HostError, StreamHost};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Filter-state key of the identity.
pub const IDENTITY_PROPERTY: &str = "edgeward.identity";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The JWT provider (config name) that verified the token.
    pub provider: String,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub aud: Vec<String>,
    /// From `scope` (space-separated) or `scp` (string or list).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The OAuth client: `client_id` (RFC 9068), else `azp`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The tenant, from the provider's `tenant_claim` (absent when the
    /// provider names none or the claim is not a string).
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub exp: Option<f64>,
    /// Every claim of the token.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

/// Why the identity could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum IdentityError {
    Host(HostError),
    /// Present but not an identity record: never treated as absent.
    Unreadable(String),
}

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityError::Host(e) => write!(f, "cannot read {IDENTITY_PROPERTY}: {e}"),
            IdentityError::Unreadable(e) => write!(f, "{IDENTITY_PROPERTY} is unreadable: {e}"),
        }
    }
}

impl Identity {
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings, numbers and JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Identity, IdentityError> {
        serde_json::from_slice(bytes).map_err(|e| IdentityError::Unreadable(e.to_string()))
    }

    /// The identity of the current request: `Ok(None)` when no earlier filter
    /// published one (anonymous request).
    pub fn read<H: StreamHost + ?Sized>(host: &H) -> Result<Option<Identity>, IdentityError> {
        match host.property(&[IDENTITY_PROPERTY]) {
            Ok(None) => Ok(None),
            Ok(Some(bytes)) if bytes.is_empty() => Ok(None),
            Ok(Some(bytes)) => Identity::from_json(&bytes).map(Some),
            Err(HostError::NotFound) => Ok(None),
            Err(e) => Err(IdentityError::Host(e)),
        }
    }

    /// A claim by dotted path (`realm_access.roles`).
    pub fn claim(&self, path: &str) -> Option<&Value> {
        claim_at(&self.claims, path)
    }
}

/// A claim by dotted path (`realm_access.roles`) in a claim set.
pub fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    #[test]
    fn round_trips_and_reads_from_filter_state() {
        let host = FakeHost::new(0);
        host.start_stream(1, &[]);
        assert_eq!(Identity::read(&host), Ok(None));
        let id = Identity {
            provider: "idp".into(),
            iss: Some("https://idp".into()),
            sub: Some("alice".into()),
            aud: vec!["api".into()],
            scopes: vec!["a".into()],
            client_id: Some("web".into()),
            tenant: Some("acme".into()),
            exp: Some(1e9),
            claims: json!({"org": {"id": "acme"}}).as_object().cloned().unwrap(),
        };
        host.set_property(&[IDENTITY_PROPERTY], id.to_json().as_bytes())
            .unwrap();
        let back = Identity::read(&host).unwrap().unwrap();
        assert_eq!(back, id);
        assert_eq!(back.claim("org.id"), Some(&json!("acme")));
        host.set_property(&[IDENTITY_PROPERTY], b"{oops").unwrap();
        assert!(matches!(
            Identity::read(&host),
            Err(IdentityError::Unreadable(_))
        ));
    }

    #[test]
    fn nested_claims() {
        let c = json!({"a": {"b": {"c": "v"}}, "t": "x"})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(claim_at(&c, "a.b.c"), Some(&json!("v")));
        assert_eq!(claim_at(&c, "a.x"), None);
        assert_eq!(claim_at(&c, "t.x"), None);
    }
}
