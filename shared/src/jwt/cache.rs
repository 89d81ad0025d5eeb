//! Per-VM cache of tokens that passed every check, so a repeated token
//! skips the signature math (RSA costs ~1 ms in V8; a hit costs a hash
//! lookup). Keyed by the exact token text and provider, so there is no
//! collision to forge. An entry never outlives the token's `exp`, and is
//! ignored once the provider's key set has changed (a retired key stops
//! working at the next refresh).

use super::config::Provider;
use super::response::identity_of;
use crate::fnv::Fnv;
use crate::identity::Identity;
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::rc::Rc;

/// A verified token's claims, and the identity built from them on first
/// use (a cache hit then publishes it without building or serialising it
/// again).
#[derive(Debug)]
pub struct VerifiedClaims {
    map: Map<String, Value>,
    identity: OnceCell<PublishedIdentity>,
}

/// The identity of a verified token: typed (handed to a later filter of the
/// same module) and as the `edgeward.identity` JSON.
#[derive(Debug)]
pub struct PublishedIdentity {
    pub typed: Rc<Identity>,
    pub json: String,
}

impl VerifiedClaims {
    pub fn new(map: Map<String, Value>) -> Self {
        VerifiedClaims {
            map,
            identity: OnceCell::new(),
        }
    }

    /// The identity and its `edgeward.identity` JSON. The cache is keyed by
    /// provider, so one provider's identity is never served for another.
    pub fn identity(&self, provider: &Provider) -> &PublishedIdentity {
        self.identity.get_or_init(|| {
            let typed = identity_of(provider, &self.map);
            PublishedIdentity {
                json: typed.to_json(),
                typed: Rc::new(typed),
            }
        })
    }

    /// The `edgeward.identity` JSON.
    pub fn identity_json(&self, provider: &Provider) -> &str {
        &self.identity(provider).json
    }
}

impl Deref for VerifiedClaims {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

#[derive(Debug)]
struct Entry {
    provider: usize,
    claims: Rc<VerifiedClaims>,
    expires_at_s: f64,
    keys_version: u64,
    last_used: u64,
}

/// Hashes only the last 32 bytes of a token (the end of its signature).
///
/// A lookup is on the hot path of every request, and SipHash over a whole
/// ~700-byte RS256 token costs about a microsecond in Wasm. Only tokens
/// that passed every check are ever inserted, and their signatures are
/// unpredictable, so nobody can fill the table with colliding entries; a
/// hash collision on lookup only costs a string comparison.
#[derive(Default)]
struct TokenTailHasher(Fnv);

impl Hasher for TokenTailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.get(bytes.len().saturating_sub(32)..).unwrap_or(bytes);
        self.0.write(tail);
    }
    fn write_u8(&mut self, b: u8) {
        self.0.write_u8(b);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

type TokenMap = HashMap<Box<str>, Vec<Entry>, BuildHasherDefault<TokenTailHasher>>;

#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    /// Token text -> its verdicts, one per provider (usually one).
    entries: TokenMap,
    len: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            entries: TokenMap::default(),
            len: 0,
            clock: 0,
            hits: 0,
            misses: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cumulative (hits, misses).
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// The cached claims when this token was verified for `provider` with
    /// the current key set and has not expired. No allocation.
    pub fn get(
        &mut self,
        provider: usize,
        token: &str,
        keys_version: u64,
        now_s: f64,
    ) -> Option<Rc<VerifiedClaims>> {
        self.clock += 1;
        if let Some(list) = self.entries.get_mut(token) {
            if let Some(i) = list.iter().position(|e| e.provider == provider) {
                let fresh = list
                    .get(i)
                    .is_some_and(|e| e.keys_version == keys_version && now_s < e.expires_at_s);
                if fresh {
                    if let Some(e) = list.get_mut(i) {
                        e.last_used = self.clock;
                        self.hits += 1;
                        return Some(e.claims.clone());
                    }
                }
                list.swap_remove(i);
                self.len = self.len.saturating_sub(1);
                if list.is_empty() {
                    self.entries.remove(token);
                }
            }
        }
        self.misses += 1;
        None
    }

    /// Remembers a verified token. Tokens without `exp` are not cached: the
    /// cache must never be the reason a token lives longer.
    pub fn insert(
        &mut self,
        provider: usize,
        token: &str,
        claims: Rc<VerifiedClaims>,
        keys_version: u64,
        now_s: f64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let Some(exp) = claims.get("exp").and_then(Value::as_f64) else {
            return;
        };
        if exp <= now_s {
            return;
        }
        if self.len >= self.capacity {
            self.evict(now_s);
        }
        self.clock += 1;
        let entry = Entry {
            provider,
            claims,
            expires_at_s: exp,
            keys_version,
            last_used: self.clock,
        };
        let list = self.entries.entry(token.into()).or_default();
        match list.iter_mut().find(|e| e.provider == provider) {
            Some(old) => *old = entry,
            None => {
                list.push(entry);
                self.len += 1;
            }
        }
    }

    /// Drops expired entries; if none, the least recently used one. O(n) but
    /// only on a miss at capacity, which already paid for a signature check.
    fn evict(&mut self, now_s: f64) {
        let before = self.len;
        for list in self.entries.values_mut() {
            list.retain(|e| now_s < e.expires_at_s);
        }
        self.entries.retain(|_, list| !list.is_empty());
        self.len = self.entries.values().map(Vec::len).sum();
        if self.len < before {
            return;
        }
        let oldest = self
            .entries
            .iter()
            .flat_map(|(k, list)| list.iter().map(move |e| (e.last_used, k, e.provider)))
            .min_by_key(|(used, _, _)| *used)
            .map(|(_, k, p)| (k.clone(), p));
        if let Some((k, p)) = oldest {
            if let Some(list) = self.entries.get_mut(&k) {
                list.retain(|e| e.provider != p);
                self.len = self.len.saturating_sub(1);
                if list.is_empty() {
                    self.entries.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(exp: f64) -> Rc<VerifiedClaims> {
        Rc::new(VerifiedClaims::new(
            json!({"exp": exp}).as_object().cloned().unwrap(),
        ))
    }

    #[test]
    fn hit_until_exp_then_miss() {
        let mut c = TokenCache::new(10);
        c.insert(0, "t", claims(100.0), 1, 50.0);
        assert!(c.get(0, "t", 1, 99.0).is_some());
        assert!(c.get(1, "t", 1, 99.0).is_none(), "other provider");
        assert!(c.get(0, "t", 1, 100.0).is_none(), "at exp");
        assert!(c.is_empty());
    }

    #[test]
    fn the_typed_identity_is_what_its_json_reads_back_as() {
        // The chain hands the tenant filter `typed`; a filter in another
        // module parses `json`: both must see the same identity.
        let cfg = json!({"providers": {"p": {
            "algorithms": ["HS256"], "tenant_claim": "org.id",
            "jwks": {"inline": {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}}
        }}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "p"}}]});
        let provider = super::super::config::JwtConfig::from_json(cfg.to_string().as_bytes())
            .unwrap()
            .providers
            .remove(0);
        let v = VerifiedClaims::new(
            json!({"iss": "https://idp", "sub": "al\u{e9}x \"q\"", "aud": ["a", "b"],
                   "scope": "x y", "azp": "web", "exp": 1.8e9, "iat": 1_799_999_999u64,
                   "org": {"id": "acme", "risk": 0.1, "n": -3, "big": u64::MAX},
                   "roles": ["admin", null, true], "nested": {"a": [{"b": "c"}]}})
            .as_object()
            .cloned()
            .unwrap(),
        );
        let published = v.identity(&provider);
        let parsed = Identity::from_json(published.json.as_bytes()).unwrap();
        assert_eq!(*published.typed, parsed);
        assert_eq!(parsed.tenant.as_deref(), Some("acme"));
        assert!(std::ptr::eq(v.identity(&provider), published), "built once");
    }

    #[test]
    fn key_rotation_invalidates() {
        let mut c = TokenCache::new(10);
        c.insert(0, "t", claims(100.0), 1, 50.0);
        assert!(c.get(0, "t", 2, 60.0).is_none());
    }

    #[test]
    fn no_exp_not_cached_and_capacity_bounded() {
        let mut c = TokenCache::new(2);
        c.insert(0, "noexp", Rc::new(VerifiedClaims::new(Map::new())), 0, 1.0);
        assert!(c.is_empty());
        c.insert(0, "a", claims(100.0), 0, 1.0);
        c.insert(0, "b", claims(100.0), 0, 1.0);
        assert!(c.get(0, "a", 0, 2.0).is_some());
        c.insert(0, "c", claims(100.0), 0, 2.0);
        assert_eq!(c.len(), 2);
        assert!(
            c.get(0, "b", 0, 3.0).is_none(),
            "least recently used evicted"
        );
        assert!(c.get(0, "a", 0, 3.0).is_some());
    }
}
