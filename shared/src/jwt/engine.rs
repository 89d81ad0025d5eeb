//! The decision: which rule applies, which tokens must verify, and whether
//! the request passes, fails (with one reason) or must wait for keys.
//! Pure: keys, cache and clock come in as arguments.

use super::cache::{TokenCache, VerifiedClaims};
use super::claims::{check_audience, check_issuer, check_time, check_typ};
use super::config::{JwtConfig, Provider};
use super::extract::{extract, FoundToken};
use super::matcher::{find_rule, Requirement};
use super::reason::Reason;
use crate::http::RequestHead;
use crate::jose::algorithm::Algorithm;
use crate::jose::jwk::KeySet;
use crate::jose::token::parse;
use crate::jose::verify::{verify_signature, SignatureError};
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

/// A provider that accepted the request's token(s).
#[derive(Debug, Clone)]
pub struct Verified {
    pub provider: usize,
    pub claims: Rc<VerifiedClaims>,
    pub tokens: Vec<FoundToken>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Allow {
        rule: Option<usize>,
        /// Every provider that verified (its tokens may be stripped); the
        /// first one's identity is published. Empty when no token was needed.
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

impl Evaluation<'_> {
    /// Decides the request.
    pub fn decide(&mut self, head: &RequestHead) -> Outcome {
        let Some(rule) = find_rule(&self.cfg.rules, head) else {
            return match self.cfg.unmatched {
                super::config::Unmatched::Allow => Outcome::Allow {
                    rule: None,
                    verified: vec![],
                },
                super::config::Unmatched::Deny => Outcome::Deny {
                    rule: None,
                    reason: Reason::NoRuleMatched,
                    provider: None,
                },
            };
        };
        let rule_index = rule.index;
        let requires = rule.requires.clone();
        self.decide_requirement(rule_index, &requires, head)
    }

    fn decide_requirement(
        &mut self,
        rule: usize,
        req: &Requirement,
        head: &RequestHead,
    ) -> Outcome {
        let providers = match req {
            Requirement::None => {
                return Outcome::Allow {
                    rule: Some(rule),
                    verified: vec![],
                }
            }
            Requirement::Any(ps) | Requirement::All(ps) | Requirement::AllowMissing(ps) => ps,
        };
        let results: Vec<(usize, ProviderResult)> = providers
            .iter()
            .map(|&p| (p, self.provider_result(p, head)))
            .collect();
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
        let oks: Vec<Verified> = results
            .iter()
            .filter_map(|(_, r)| match r {
                ProviderResult::Ok(v) => Some(v.clone()),
                _ => None,
            })
            .collect();
        let allow = |verified: Vec<Verified>| Outcome::Allow {
            rule: Some(rule),
            verified,
        };

        if let Requirement::All(_) = req {
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
            return allow(oks);
        }

        // Any / AllowMissing: one provider suffices.
        if !oks.is_empty() {
            return allow(oks);
        }
        if !waits.is_empty() {
            return Outcome::Wait { rule, needs: waits };
        }
        let worst = results
            .iter()
            .filter_map(|(p, r)| match r {
                ProviderResult::Fail(reason) => Some((*p, *reason)),
                _ => None,
            })
            .fold(None::<(usize, Reason)>, |best, (p, r)| match best {
                Some((_, b)) if b.specificity() >= r.specificity() => best,
                _ => Some((p, r)),
            });
        match (worst, req) {
            (Some((p, reason)), _) => deny(reason, Some(p)),
            (None, Requirement::AllowMissing(_)) => Outcome::Allow {
                rule: Some(rule),
                verified: vec![],
            },
            (None, _) => deny(Reason::MissingToken, providers.first().copied()),
        }
    }

    fn provider_result(&mut self, index: usize, head: &RequestHead) -> ProviderResult {
        let Some(provider) = self.cfg.providers.get(index) else {
            return ProviderResult::Fail(Reason::NoRuleMatched);
        };
        let found = match extract(head, &provider.sources) {
            Ok(f) => f,
            Err(reason) => return ProviderResult::Fail(reason),
        };
        if found.is_empty() {
            return ProviderResult::NoToken;
        }
        let mut first_claims = None;
        for f in &found {
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
                tokens: found,
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
        if let Some(kid) = token.header.kid.as_deref() {
            if !keyset.contains_kid(kid) {
                return self.wait_or(refetchable, KeyNeed::UnknownKid, Reason::UnknownKid);
            }
        }
        if let Err(r) = check_signature(
            &keyset,
            &token.header,
            token.signing_input,
            &token.signature,
        ) {
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
