//! The decision: which rule applies, which tokens must verify, and whether
//! the request passes, fails (with one reason) or must wait for keys.
//! Pure: keys, cache and clock come in as arguments.
//!
//! A request is [`prepare`]d once, when its headers arrive: the rule and the
//! tokens each of its providers found. That is all a request waiting for
//! keys keeps; the decision is re-run on it when keys change.

use super::cache::{TokenCache, VerifiedClaims};
use super::claims::{check_audience, check_issuer, check_time, check_typ};
use super::config::{JwtConfig, Provider, TokenSource, Unmatched};
use super::extract::{extract, FoundToken};
use super::matcher::{find_rule, Requirement};
use crate::http::RequestHead;
use crate::jose::algorithm::Algorithm;
use crate::jose::jwk::KeySet;
use crate::jose::token::parse;
use crate::jose::verify::{verify_signature, SignatureError};
use crate::reason::Reason;
use crate::route::RequestTarget;
use std::rc::Rc;

/// Keys a provider can use right now.
#[derive(Debug, Clone)]
pub struct ProviderKeys {
    pub keys: Rc<KeySet>,
    /// Changes whenever the set changes (0 for inline keys).
    pub version: u64,
    /// Whether a fetch could bring new keys (remote JWKS).
    pub refetchable: bool,
}

/// The keys of provider `i`; `None` while a remote provider has none yet.
pub type KeysFor<'a> = &'a dyn Fn(usize) -> Option<ProviderKeys>;

/// Why a request must wait before it can be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNeed {
    /// The provider has no keys yet.
    Initial,
    /// The token's `kid` is not in the provider's keys.
    UnknownKid,
}

/// What the decision needs of a request, taken from its headers once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Index of the matching rule; `None` when no rule matched.
    pub rule: Option<usize>,
    /// For each provider the rule names, in rule order: the tokens found, or
    /// why the provider's locations could not be read.
    pub found: Vec<(usize, Result<Vec<FoundToken>, Reason>)>,
    /// Token headers of those providers that the request carries, as
    /// (provider, source) indexes, one per header name (removed before the
    /// upstream unless a verified provider forwards its token).
    pub present_headers: Vec<(usize, usize)>,
}

/// Finds the rule and extracts each of its providers' tokens.
pub fn prepare(cfg: &JwtConfig, head: &RequestHead, target: &RequestTarget) -> Prepared {
    let Some(rule) = find_rule(&cfg.rules, target) else {
        return Prepared {
            rule: None,
            found: vec![],
            present_headers: vec![],
        };
    };
    let mut found = Vec::new();
    let mut present_headers: Vec<(usize, usize)> = Vec::new();
    for &p in rule.requires.providers() {
        let Some(provider) = cfg.providers.get(p) else {
            continue;
        };
        found.push((p, extract(head, &provider.sources)));
        for (si, s) in provider.sources.iter().enumerate() {
            if let TokenSource::Header { name, .. } = s {
                let seen = present_headers
                    .iter()
                    .any(|&(pp, ss)| cfg.header_source(pp, ss) == Some(name.as_str()));
                if !seen && head.first(name).is_some() {
                    present_headers.push((p, si));
                }
            }
        }
    }
    Prepared {
        rule: Some(rule.index),
        found,
        present_headers,
    }
}

/// A provider that accepted the request's token(s).
#[derive(Debug, Clone)]
pub struct Verified {
    pub provider: usize,
    pub claims: Rc<VerifiedClaims>,
    /// Where its tokens were (indexes into the provider's `sources`).
    pub sources: Vec<usize>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Allow {
        rule: Option<usize>,
        /// Every provider that verified, in rule order; the first one's
        /// identity is published. Empty when no token was needed.
        verified: Vec<Verified>,
    },
    Deny {
        rule: Option<usize>,
        reason: Reason,
        provider: Option<usize>,
    },
    Wait {
        rule: usize,
        needs: Vec<(usize, KeyNeed)>,
    },
}

/// Per-evaluation inputs.
pub struct Evaluation<'a> {
    pub cfg: &'a JwtConfig,
    pub keys: KeysFor<'a>,
    pub cache: &'a mut TokenCache,
    pub now_s: f64,
    /// When true nothing may wait any more: a missing key is a failure.
    pub final_attempt: bool,
}

#[derive(Debug, Clone)]
enum ProviderResult {
    NoToken,
    Ok(Verified),
    Fail(Reason),
    Wait(KeyNeed),
}

enum TokenResult {
    Ok(Rc<VerifiedClaims>),
    Fail(Reason),
    Wait(KeyNeed),
}

/// Precedence when several providers fail under `any`: the most specific
/// reason (one that says the token was examined) wins over "missing".
pub fn specificity(r: Reason) -> u8 {
    match r {
        Reason::NoRuleMatched => 0,
        Reason::MissingToken => 1,
        Reason::IssuerMismatch => 2,
        Reason::JwksUnavailable => 3,
        _ => 4,
    }
}

impl Evaluation<'_> {
    /// Decides a prepared request.
    pub fn decide(&mut self, prepared: &Prepared) -> Outcome {
        let Some(rule) = prepared.rule.and_then(|i| self.cfg.rules.get(i)) else {
            return match self.cfg.unmatched {
                Unmatched::Allow => Outcome::Allow {
                    rule: None,
                    verified: vec![],
                },
                Unmatched::Deny => Outcome::Deny {
                    rule: None,
                    reason: Reason::NoRuleMatched,
                    provider: None,
                },
            };
        };
        let rule_index = rule.index;
        if rule.requires == Requirement::None {
            return Outcome::Allow {
                rule: Some(rule_index),
                verified: vec![],
            };
        }
        let all = matches!(rule.requires, Requirement::All(_));
        let allow_missing = matches!(rule.requires, Requirement::AllowMissing(_));
        let results: Vec<(usize, ProviderResult)> = prepared
            .found
            .iter()
            .map(|(p, found)| (*p, self.provider_result(*p, found)))
            .collect();
        combine(rule_index, all, allow_missing, results)
    }

    fn provider_result(
        &mut self,
        index: usize,
        found: &Result<Vec<FoundToken>, Reason>,
    ) -> ProviderResult {
        let Some(provider) = self.cfg.providers.get(index) else {
            return ProviderResult::Fail(Reason::InternalError);
        };
        let found = match found {
            Ok(f) => f,
            Err(reason) => return ProviderResult::Fail(*reason),
        };
        let mut first_claims = None;
        for f in found {
            match self.verify_token(index, provider, &f.token) {
                TokenResult::Ok(c) => {
                    first_claims.get_or_insert(c);
                }
                TokenResult::Fail(r) => return ProviderResult::Fail(r),
                TokenResult::Wait(n) => return ProviderResult::Wait(n),
            }
        }
        match first_claims {
            Some(claims) => ProviderResult::Ok(Verified {
                provider: index,
                claims,
                sources: found.iter().map(|f| f.source).collect(),
            }),
            None => ProviderResult::NoToken,
        }
    }

    fn verify_token(&mut self, index: usize, provider: &Provider, raw: &str) -> TokenResult {
        let keys = (self.keys)(index);
        if let Some(k) = &keys {
            if let Some(claims) = self.cache.get(index, raw, k.version, self.now_s) {
                return TokenResult::Ok(claims);
            }
        }
        // Any known algorithm parses (`none` and unknown ones never do); the
        // issuer is checked before the provider's allowlist so that a token
        // from another identity provider is reported as such.
        let token = match parse(raw, provider.max_token_bytes, &Algorithm::ALL) {
            Ok(t) => t,
            Err(r) => return TokenResult::Fail(r.into()),
        };
        if let Err(r) = check_issuer(&token.claims, provider) {
            return TokenResult::Fail(r);
        }
        if !provider.algorithms.contains(&token.header.alg) {
            return TokenResult::Fail(Reason::AlgNotAllowed);
        }
        if let Err(r) = check_typ(&token.header, provider.typ.as_deref()) {
            return TokenResult::Fail(r);
        }
        let Some(ProviderKeys {
            keys: keyset,
            version,
            refetchable,
        }) = keys
        else {
            return self.wait_or(true, KeyNeed::Initial, Reason::JwksUnavailable);
        };
        // As jwt_verify_lib: a token naming a `kid` is tried against the key
        // with that kid and against keys without one. If no key has the kid,
        // a refetch may bring it (key rotation at the IdP).
        let kid_known = token
            .header
            .kid
            .as_deref()
            .is_none_or(|kid| keyset.has_kid(kid));
        if let Err(r) = check_signature(
            &keyset,
            &token.header,
            token.signing_input,
            &token.signature,
        ) {
            if !kid_known {
                return self.wait_or(refetchable, KeyNeed::UnknownKid, Reason::UnknownKid);
            }
            return TokenResult::Fail(r);
        }
        if let Err(r) = check_time(&token.claims, provider, self.now_s) {
            return TokenResult::Fail(r);
        }
        if let Err(r) = check_audience(&token.claims, provider) {
            return TokenResult::Fail(r);
        }
        let claims = Rc::new(VerifiedClaims::new(token.claims));
        self.cache
            .insert(index, raw, claims.clone(), version, self.now_s);
        TokenResult::Ok(claims)
    }

    fn wait_or(&self, can_wait: bool, need: KeyNeed, reason: Reason) -> TokenResult {
        if self.final_attempt || !can_wait {
            TokenResult::Fail(reason)
        } else {
            TokenResult::Wait(need)
        }
    }
}

/// Combines the providers' results under the rule's requirement: `all`
/// needs every provider; `any` one (reporting the most specific failure
/// when none passes); `allow_missing` passes anonymous requests but not a
/// presented token that fails.
fn combine(
    rule: usize,
    all: bool,
    allow_missing: bool,
    results: Vec<(usize, ProviderResult)>,
) -> Outcome {
    let deny = |reason, provider| Outcome::Deny {
        rule: Some(rule),
        reason,
        provider,
    };
    let waits: Vec<(usize, KeyNeed)> = results
        .iter()
        .filter_map(|(p, r)| match r {
            ProviderResult::Wait(n) => Some((*p, *n)),
            _ => None,
        })
        .collect();
    if all {
        for (p, r) in &results {
            match r {
                ProviderResult::NoToken => return deny(Reason::MissingToken, Some(*p)),
                ProviderResult::Fail(reason) => return deny(*reason, Some(*p)),
                _ => {}
            }
        }
        if !waits.is_empty() {
            return Outcome::Wait { rule, needs: waits };
        }
    }
    let first = results.first().map(|(p, _)| *p);
    let mut verified = Vec::new();
    let mut worst: Option<(usize, Reason)> = None;
    for (p, r) in results {
        match r {
            ProviderResult::Ok(v) => verified.push(v),
            ProviderResult::Fail(reason) => {
                if worst.is_none_or(|(_, w)| specificity(reason) > specificity(w)) {
                    worst = Some((p, reason));
                }
            }
            ProviderResult::NoToken | ProviderResult::Wait(_) => {}
        }
    }
    if !verified.is_empty() {
        return Outcome::Allow {
            rule: Some(rule),
            verified,
        };
    }
    if !waits.is_empty() {
        return Outcome::Wait { rule, needs: waits };
    }
    match worst {
        Some((p, reason)) => deny(reason, Some(p)),
        None if allow_missing => Outcome::Allow {
            rule: Some(rule),
            verified: vec![],
        },
        None => deny(Reason::MissingToken, first),
    }
}

/// Tries the keys that fit the token's `kid` and `alg`, in JWKS order.
fn check_signature(
    keyset: &KeySet,
    header: &crate::jose::token::Header,
    signing_input: &str,
    signature: &[u8],
) -> Result<(), Reason> {
    let candidates = keyset.candidates(header.alg, header.kid.as_deref());
    let mut failure = Reason::KeyAlgMismatch;
    for jwk in candidates {
        match verify_signature(header.alg, &jwk.key, signing_input.as_bytes(), signature) {
            Ok(()) => return Ok(()),
            Err(SignatureError::Invalid) => failure = Reason::BadSignature,
            Err(SignatureError::KeyMismatch) => {}
        }
    }
    Err(failure)
}

/// How the requirement combines its providers' results, alone (as Envoy's
/// `group_verifier_test` does for jwt_authn).
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn ok(p: usize) -> (usize, ProviderResult) {
        (
            p,
            ProviderResult::Ok(Verified {
                provider: p,
                claims: Rc::new(VerifiedClaims::new(Map::new())),
                sources: vec![],
            }),
        )
    }
    fn fail(p: usize, r: Reason) -> (usize, ProviderResult) {
        (p, ProviderResult::Fail(r))
    }
    fn none(p: usize) -> (usize, ProviderResult) {
        (p, ProviderResult::NoToken)
    }
    fn wait(p: usize) -> (usize, ProviderResult) {
        (p, ProviderResult::Wait(KeyNeed::UnknownKid))
    }

    fn all(results: Vec<(usize, ProviderResult)>) -> Outcome {
        combine(7, true, false, results)
    }
    fn any(results: Vec<(usize, ProviderResult)>) -> Outcome {
        combine(7, false, false, results)
    }
    fn allow_missing(results: Vec<(usize, ProviderResult)>) -> Outcome {
        combine(7, false, true, results)
    }

    fn allowed(o: &Outcome) -> Option<Vec<usize>> {
        match o {
            Outcome::Allow { rule, verified } => {
                assert_eq!(*rule, Some(7));
                Some(verified.iter().map(|v| v.provider).collect())
            }
            _ => None,
        }
    }
    fn denied(o: &Outcome) -> Option<(Reason, Option<usize>)> {
        match o {
            Outcome::Deny {
                reason, provider, ..
            } => Some((*reason, *provider)),
            _ => None,
        }
    }
    fn waits(o: &Outcome) -> bool {
        matches!(o, Outcome::Wait { rule: 7, .. })
    }

    #[test]
    fn all_needs_every_provider_and_reports_the_first_failure() {
        assert_eq!(allowed(&all(vec![ok(0), ok(1)])), Some(vec![0, 1]));
        assert_eq!(
            denied(&all(vec![ok(0), none(1)])),
            Some((Reason::MissingToken, Some(1)))
        );
        assert_eq!(
            denied(&all(vec![
                fail(0, Reason::Expired),
                fail(1, Reason::BadSignature)
            ])),
            Some((Reason::Expired, Some(0)))
        );
        // A failure decides at once; a wait only when nothing failed.
        assert_eq!(
            denied(&all(vec![wait(0), fail(1, Reason::Expired)])),
            Some((Reason::Expired, Some(1)))
        );
        assert!(waits(&all(vec![ok(0), wait(1)])));
    }

    #[test]
    fn any_passes_on_one_and_reports_the_most_specific_failure() {
        assert_eq!(allowed(&any(vec![none(0), ok(1)])), Some(vec![1]));
        assert_eq!(
            allowed(&any(vec![fail(0, Reason::BadSignature), ok(1)])),
            Some(vec![1])
        );
        // a token examined and refused beats "no token" and "other issuer"
        assert_eq!(
            denied(&any(vec![
                none(0),
                fail(1, Reason::IssuerMismatch),
                fail(2, Reason::Expired)
            ])),
            Some((Reason::Expired, Some(2)))
        );
        assert_eq!(
            denied(&any(vec![fail(0, Reason::IssuerMismatch), none(1)])),
            Some((Reason::IssuerMismatch, Some(0)))
        );
        // equally specific: the first provider's
        assert_eq!(
            denied(&any(vec![
                fail(0, Reason::BadSignature),
                fail(1, Reason::Expired)
            ])),
            Some((Reason::BadSignature, Some(0)))
        );
        assert_eq!(
            denied(&any(vec![none(0), none(1)])),
            Some((Reason::MissingToken, Some(0)))
        );
        // one provider may still pass after a fetch: wait
        assert!(waits(&any(vec![fail(0, Reason::Expired), wait(1)])));
    }

    #[test]
    fn allow_missing_passes_anonymous_requests_but_not_bad_tokens() {
        assert_eq!(
            allowed(&allow_missing(vec![none(0), none(1)])),
            Some(vec![])
        );
        assert_eq!(allowed(&allow_missing(vec![none(0), ok(1)])), Some(vec![1]));
        assert_eq!(
            denied(&allow_missing(vec![fail(0, Reason::Expired), none(1)])),
            Some((Reason::Expired, Some(0)))
        );
        assert_eq!(
            allowed(&allow_missing(vec![fail(0, Reason::Expired), ok(1)])),
            Some(vec![1])
        );
    }
}
