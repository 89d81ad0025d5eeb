//! Counter storage: check every counter of a request and count the hits, all or nothing.
//!
//! Redis: one Lua script reads every counter and increments them only if none would go
//! over its limit. Redis runs a script atomically, so several service instances sharing
//! one Redis never admit more than the limit between them, even under concurrent load.
//! (limitador's own `AsyncRedisStorage` reads in one round trip and increments in a
//! second one, which lets concurrent requests overshoot; its source says so.)
//! Memory: limitador's `InMemoryStorage`, behind one lock for the same all-or-nothing rule.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use limitador::counter::Counter;
use limitador::storage::in_memory::InMemoryStorage;
use limitador::storage::{Authorization, CounterStorage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// One counter a request touches, with what it costs; the store fills in what it saw.
#[derive(Debug)]
pub struct Hit {
    pub counter: Counter,
    /// Redis key: the limit's identity (domain, window, conditions, variables; not `max`,
    /// so raising a limit keeps its counters) and the variables' values.
    pub key: String,
    pub delta: u64,
    /// Hits counted in the current window before this request.
    pub before: u64,
    /// Time until the window resets (a full window for a counter that did not exist).
    pub reset_in: Duration,
}

impl Hit {
    pub fn new(counter: Counter, delta: u64) -> Self {
        let key = redis_key(&counter);
        Self {
            counter,
            key,
            delta,
            before: 0,
            reset_in: Duration::ZERO,
        }
    }

    /// Would this hit take the counter over its limit (given `before`)?
    pub fn exceeds(&self) -> bool {
        self.before.saturating_add(self.delta) > self.counter.max_value()
    }
}

fn redis_key(counter: &Counter) -> String {
    // serde_json of limitador's Limit skips id, max and name; a BTreeMap keeps the
    // variables in a stable order. Both cannot fail to serialize.
    let limit = serde_json::to_string(counter.limit()).unwrap_or_default();
    let vars = serde_json::to_string(counter.set_variables()).unwrap_or_default();
    format!("edgeward-rls:{limit}:{vars}")
}

/// The counters could not be read or written. Nothing was counted.
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    /// Fills `before`/`reset_in` of every hit; counts them all if none exceeds its limit
    /// (returns true: admitted), else counts nothing (returns false).
    pub async fn check_and_count(&self, hits: &mut [Hit]) -> Result<bool, StoreError> {
        if hits.is_empty() {
            return Ok(true);
        }
        match self {
            Store::Memory(m) => m.check_and_count(hits),
            Store::Redis(r) => r.check_and_count(hits).await,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Store::Memory(_) => "memory (this process only)".into(),
            Store::Redis(r) => format!("redis {}", r.url),
        }
    }
}

pub struct MemoryStore {
    // The lock makes check-then-count one step: limitador's in-memory storage checks
    // and counts with a single delta for all counters, and hits here may differ.
    storage: Mutex<InMemoryStorage>,
}

impl MemoryStore {
    pub fn new(max_counters: u64) -> Self {
        Self {
            storage: Mutex::new(InMemoryStorage::new(max_counters)),
        }
    }

    fn check_and_count(&self, hits: &mut [Hit]) -> Result<bool, StoreError> {
        let storage = self.storage.lock().map_err(|_| {
            StoreError("in-memory counters are poisoned by an earlier failure".into())
        })?;
        let mut admitted = true;
        for hit in hits.iter_mut() {
            let mut one = vec![hit.counter.clone()];
            let auth = storage
                .check(&mut one, hit.delta)
                .map_err(|e| StoreError(format!("in-memory counters: {e}")))?;
            if let Some(seen) = one.first() {
                let max = hit.counter.max_value();
                hit.before = max.saturating_sub(seen.remaining().unwrap_or(max));
                hit.reset_in = seen.expires_in().unwrap_or_else(|| hit.counter.window());
            }
            if matches!(auth, Authorization::Limited(_)) {
                admitted = false;
            }
        }
        if admitted {
            for hit in hits.iter() {
                storage
                    .update_counter(&hit.counter, hit.delta)
                    .map_err(|e| StoreError(format!("in-memory counters: {e}")))?;
            }
        }
        Ok(admitted)
    }
}

/// KEYS[i]: counter key. ARGV[3i-2]: delta, ARGV[3i-1]: max, ARGV[3i]: window (s);
/// the last ARGV: the deadline (Unix ms) after which the call must not count.
/// Returns value and PTTL per key as they were before, then 1 (counted) or 0 (over limit);
/// or the single value -1 when Redis ran it after the deadline (nothing counted).
/// A key without TTL (-1) gets one, so a counter never outlives its window.
///
/// Why the deadline: a call that timed out during a network partition is still in
/// the TCP send queue; when the partition heals it reaches Redis. Without the check
/// it would be counted, charging the tenant for requests that were refused (503).
const CHECK_AND_COUNT: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if now_ms > tonumber(ARGV[3 * #KEYS + 1]) then
  return {-1}
end
local out = {}
local admitted = 1
for i = 1, #KEYS do
  local value = tonumber(redis.call('GET', KEYS[i]) or '0')
  local ttl = redis.call('PTTL', KEYS[i])
  out[2 * i - 1] = value
  out[2 * i] = ttl
  if value + tonumber(ARGV[3 * i - 2]) > tonumber(ARGV[3 * i - 1]) then
    admitted = 0
  end
end
if admitted == 1 then
  for i = 1, #KEYS do
    redis.call('INCRBY', KEYS[i], ARGV[3 * i - 2])
    if out[2 * i] < 0 then
      redis.call('EXPIRE', KEYS[i], ARGV[3 * i])
    end
  end
end
out[2 * #KEYS + 1] = admitted
return out
";

/// How long a Redis call may take before the request is answered UNAVAILABLE.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Added to the deadline a call carries, for clock differences between this host and
/// Redis's. A call that reaches Redis between the timeout and the deadline is still
/// counted: the over-charge is bounded by this window, never an over-admission.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_millis(1000);

/// Now + `after`, in Unix milliseconds (0 if the clock is before 1970: every call late).
fn deadline_unix_ms(after: Duration) -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|now| u64::try_from((now + after).as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub struct RedisStore {
    url: String,
    conn: ConnectionManager,
    script: redis::Script,
}

impl RedisStore {
    /// Connects once (start-up fails if Redis does not answer). Later outages make
    /// requests fail fast; a later request re-establishes the connection.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError(format!("--redis {url}: not a Redis URL: {e}")))?;
        // Short timeouts and no retry loop: Envoy waits only its own (short) RLS timeout,
        // and a fast UNAVAILABLE is more useful to it than a late answer. (The crate's
        // retries back off from 1 s.) A failed reconnect is tried again by the next request.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError(format!("cannot connect to Redis at {url}: {e}")))?;
        let store = Self {
            url: url.to_owned(),
            conn,
            script: redis::Script::new(CHECK_AND_COUNT),
        };
        store.ping().await?;
        Ok(store)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| StoreError(format!("Redis at {} does not answer PING: {e}", self.url)))
    }

    async fn check_and_count(&self, hits: &mut [Hit]) -> Result<bool, StoreError> {
        let mut invocation = self.script.prepare_invoke();
        for hit in hits.iter() {
            invocation.key(&hit.key);
        }
        for hit in hits.iter() {
            invocation
                .arg(hit.delta)
                .arg(hit.counter.max_value())
                .arg(hit.counter.window().as_secs());
        }
        invocation.arg(deadline_unix_ms(RESPONSE_TIMEOUT + CLOCK_SKEW_ALLOWANCE));
        let mut conn = self.conn.clone();
        // invoke_async sends EVALSHA and falls back to EVAL when Redis lost the script
        // (e.g. after a restart).
        let reply: Vec<i64> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| StoreError(format!("Redis at {}: {e}", self.url)))?;
        if reply == [-1] {
            return Err(StoreError(format!(
                "Redis at {}: the call reached Redis after its deadline; nothing counted",
                self.url
            )));
        }
        if reply.len() != hits.len() * 2 + 1 {
            return Err(StoreError(format!(
                "Redis at {}: unexpected script reply of {} values for {} counters",
                self.url,
                reply.len(),
                hits.len()
            )));
        }
        for (hit, pair) in hits.iter_mut().zip(reply.chunks_exact(2)) {
            let (value, pttl) = match pair {
                [value, pttl] => (*value, *pttl),
                _ => (0, -2),
            };
            hit.before = u64::try_from(value).unwrap_or(0);
            hit.reset_in = match u64::try_from(pttl) {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => hit.counter.window(),
            };
        }
        Ok(reply.last() == Some(&1))
    }
}
