//! Finding a provider's token(s) in a request: headers (with a scheme
//! prefix), query parameters and cookies.
//!
//! One location holding two tokens (a repeated Authorization header, two
//! `access_token` parameters) is ambiguous and refused. Tokens in two
//! different locations are all returned, and every one must verify.

use super::config::TokenSource;
use super::reason::Reason;
use crate::http::{cookie_values, query_values, RequestHead};

/// A token and where it came from (so it can be removed before forwarding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken {
    pub token: String,
    /// Index into the provider's `sources`.
    pub source: usize,
}

/// Every token the provider's sources hold, or `MultipleTokens`.
pub fn extract(head: &RequestHead, sources: &[TokenSource]) -> Result<Vec<FoundToken>, Reason> {
    let mut found = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let mut values: Vec<String> = match source {
            TokenSource::Header { name, prefix } => head
                .all(name)
                .filter_map(|v| strip_scheme(v, prefix))
                .collect(),
            TokenSource::Query { name } => head
                .query()
                .map(|q| query_values(q, name))
                .unwrap_or_default(),
            TokenSource::Cookie { name } => cookie_values(head, name),
        };
        // Proxies join repeated headers with commas (`Bearer a,Bearer b`);
        // a JWT never contains one, so a comma means a second token.
        if values.len() > 1 || values.iter().any(|v| v.contains(',')) {
            return Err(Reason::MultipleTokens);
        }
        values.truncate(1);
        if let Some(token) = values.into_iter().next() {
            // Two sources may read the same place (two prefixes on one
            // header); count the same token once.
            if !found.iter().any(|f: &FoundToken| f.token == token) {
                found.push(FoundToken {
                    token,
                    source: index,
                });
            }
        }
    }
    Ok(found)
}

/// The credentials after the scheme prefix (compared case-insensitively, as
/// auth schemes are), trimmed. `None` when the value uses another scheme. A
/// bare scheme (`Bearer`, which is what `Bearer ` becomes once the proxy
/// trims the value) is an empty token, not an absent one.
fn strip_scheme(value: &str, prefix: &str) -> Option<String> {
    let scheme = prefix.trim();
    if !scheme.is_empty() && value.trim().eq_ignore_ascii_case(scheme) {
        return Some(String::new());
    }
    let head = value.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = value.get(prefix.len()..)?.trim();
    Some(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> RequestHead {
        RequestHead::from_pairs(pairs)
    }

    fn bearer() -> TokenSource {
        TokenSource::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
        }
    }

    fn tokens(r: Result<Vec<FoundToken>, Reason>) -> Result<Vec<String>, Reason> {
        r.map(|v| v.into_iter().map(|f| f.token).collect())
    }

    #[test]
    fn finds_tokens_in_each_kind_of_source() {
        let sources = vec![
            bearer(),
            TokenSource::Query {
                name: "access_token".into(),
            },
            TokenSource::Cookie { name: "at".into() },
        ];
        let h = head(&[(":path", "/x"), ("authorization", "bearer  abc ")]);
        assert_eq!(tokens(extract(&h, &sources)), Ok(vec!["abc".to_string()]));
        let h = head(&[(":path", "/x?access_token=q%2Eq"), ("cookie", "at=c")]);
        assert_eq!(
            tokens(extract(&h, &sources)),
            Ok(vec!["q.q".to_string(), "c".to_string()])
        );
        let h = head(&[(":path", "/x"), ("authorization", "Basic dXNlcg==")]);
        assert_eq!(tokens(extract(&h, &sources)), Ok(vec![]));
    }

    #[test]
    fn same_location_twice_is_refused() {
        let sources = vec![bearer(), TokenSource::Query { name: "t".into() }];
        let h = head(&[
            (":path", "/"),
            ("authorization", "Bearer a"),
            ("authorization", "Bearer b"),
        ]);
        assert_eq!(tokens(extract(&h, &sources)), Err(Reason::MultipleTokens));
        let h = head(&[(":path", "/?t=a&t=b")]);
        assert_eq!(tokens(extract(&h, &sources)), Err(Reason::MultipleTokens));
    }

    #[test]
    fn header_and_query_are_both_returned() {
        let sources = vec![bearer(), TokenSource::Query { name: "t".into() }];
        let h = head(&[(":path", "/?t=b"), ("authorization", "Bearer a")]);
        assert_eq!(
            tokens(extract(&h, &sources)),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn empty_bearer_is_an_empty_token_not_missing() {
        for v in ["Bearer ", "Bearer", "bearer"] {
            let h = head(&[(":path", "/"), ("authorization", v)]);
            assert_eq!(
                tokens(extract(&h, &[bearer()])),
                Ok(vec![String::new()]),
                "{v:?}"
            );
        }
    }

    #[test]
    fn joined_repeated_headers_are_multiple_tokens() {
        let h = head(&[
            (":path", "/"),
            ("authorization", "Bearer a.b.c,Bearer d.e.f"),
        ]);
        assert_eq!(
            tokens(extract(&h, &[bearer()])),
            Err(Reason::MultipleTokens)
        );
        let h = head(&[(":path", "/"), ("authorization", "Bearer a.b.c, Basic x")]);
        assert_eq!(
            tokens(extract(&h, &[bearer()])),
            Err(Reason::MultipleTokens)
        );
    }
}
