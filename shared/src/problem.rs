//! RFC 9457 `application/problem+json` replies, the one shape every edgeward
//! denial takes.
//!
//! The body always has `type`, `title`, `status`, `detail` and `reason`
//! (the stable code clients match on); filters may add extension members
//! (a list of schema violations, the violated rate-limit policy). Nothing
//! taken from the request is ever echoed.

use crate::host::LocalReply;
use crate::reason::{status_title, Reason};
use serde_json::{Map, Value};

/// A problem reply being built.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: u16,
    pub reason: Reason,
    /// Problem `type`; default `urn:edgeward:problem:<code>`.
    pub type_uri: Option<String>,
    /// Problem `title`; default the status's reason phrase.
    pub title: Option<String>,
    pub detail: String,
    pub extensions: Map<String, Value>,
    pub headers: Vec<(String, String)>,
}

impl Problem {
    /// The default problem for `reason`: its status, title and description.
    pub fn new(reason: Reason) -> Problem {
        Problem {
            status: reason.status(),
            reason,
            type_uri: None,
            title: None,
            detail: reason.description().to_string(),
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn status(mut self, status: u16) -> Problem {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Problem {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn extension(mut self, name: &str, value: Value) -> Problem {
        self.extensions.insert(name.to_string(), value);
        self
    }

    /// The local reply; `filter` names the filter in `%RESPONSE_CODE_DETAILS%`
    /// (`edgeward_<filter>_denied.<reason>`).
    pub fn into_reply(self, filter: &str) -> LocalReply {
        let code = self.reason.code();
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::String(
                self.type_uri
                    .unwrap_or_else(|| format!("urn:edgeward:problem:{code}")),
            ),
        );
        body.insert(
            "title".into(),
            Value::String(
                self.title
                    .unwrap_or_else(|| status_title(self.status).to_string()),
            ),
        );
        body.insert("status".into(), Value::from(self.status));
        body.insert("detail".into(), Value::String(self.detail));
        body.insert("reason".into(), Value::String(code.to_string()));
        for (k, v) in self.extensions {
            body.entry(k).or_insert(v);
        }
        let mut headers = self.headers;
        headers.push((
            "content-type".to_string(),
            "application/problem+json".to_string(),
        ));
        LocalReply {
            status: self.status,
            headers,
            body: Value::Object(body).to_string().into_bytes(),
            details: format!("edgeward_{filter}_denied.{code}"),
        }
    }
}

/// The default reply for `reason` from `filter`.
pub fn problem_reply(filter: &str, reason: Reason) -> LocalReply {
    Problem::new(reason).into_reply(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_shape() {
        let r = problem_reply("jwt", Reason::Expired);
        assert_eq!(r.status, 401);
        assert_eq!(r.details, "edgeward_jwt_denied.expired");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"type": "urn:edgeward:problem:expired", "title": "Unauthorized",
                   "status": 401, "detail": "The token has expired.", "reason": "expired"})
        );
        assert!(r
            .headers
            .contains(&("content-type".into(), "application/problem+json".into())));
    }

    #[test]
    fn overrides_and_extensions_never_replace_core_members() {
        let mut p = Problem::new(Reason::InternalError)
            .status(503)
            .header("retry-after", "1")
            .extension("reason", json!("spoof"))
            .extension("violations", json!([1]));
        p.title = Some("Custom".into());
        p.type_uri = Some("https://errors.example/x".into());
        let r = p.into_reply("tenant");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["reason"], "internal_error");
        assert_eq!(body["status"], 503);
        assert_eq!(body["title"], "Custom");
        assert_eq!(body["type"], "https://errors.example/x");
        assert_eq!(body["violations"], json!([1]));
        assert_eq!(r.headers[0], ("retry-after".into(), "1".into()));
    }
}
