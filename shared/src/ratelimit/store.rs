//! Local limit state in proxy-wasm shared data, exact across workers.
//!
//! Shared data cannot delete a key, so the key space is fixed: a table of
//! `buckets` records (`edgeward.rl.b.<n>`), each holding up to [`WAYS`]
//! keys with their state, like a set-associative cache. A key lives in
//! exactly one record (chosen by a seeded hash), so one compare-and-swap on
//! that record serialises every update of the key across workers: no key
//! can be counted in two places.
//!
//! Idle expiry is exact: an entry whose state has fully recovered (bucket
//! full, window over) is dropped when its record is next written, since a
//! fresh key would get the same state. Past the cap (a record whose
//! [`WAYS`] entries are all live), a new key is counted in its policy's
//! overflow record (`edgeward.rl.o.<policy>`), one state shared by every
//! key that found no room: stricter than a key of its own, never open.
//!
//! Record encoding (version 1): `[1]` then per entry `[key_len u8][key]
//! [state: 3 x u64 LE]`. A record that does not decode (another version,
//! garbage) reads as empty and is overwritten by CAS.

use super::algorithm::{Check, Limit, State};
use crate::host::{HostError, SharedStore};
use crate::shared_record::{CAS_ATTEMPTS, CREATE_CAS};

/// Keys per record.
pub const WAYS: usize = 4;
/// Longest stored key: a 4-byte header and up to [`MAX_RAW_BYTES`] of
/// dimension values (longer values are stored as their SHA-256 digest).
pub const MAX_KEY_BYTES: usize = 4 + MAX_RAW_BYTES;
pub const MAX_RAW_BYTES: usize = 40;
const VERSION: u8 = 1;

/// A key as stored: `[policy index u16 BE][algorithm kind][0 raw | 1
/// digest]` then the dimension bytes or their digest. The header lets any
/// worker judge any entry of a shared record (is it recovered?) without
/// knowing which request wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredKey(Vec<u8>);

impl StoredKey {
    /// `raw`: the policy's dimension values, already unambiguous.
    pub fn new(policy: usize, kind: u8, raw: &[u8]) -> StoredKey {
        let p = u16::try_from(policy).unwrap_or(u16::MAX).to_be_bytes();
        let mut k = Vec::with_capacity(4 + raw.len().min(MAX_RAW_BYTES));
        k.extend_from_slice(&[p[0], p[1], kind]);
        if raw.len() <= MAX_RAW_BYTES {
            k.push(0);
            k.extend_from_slice(raw);
        } else {
            use sha2::Digest;
            k.push(1);
            k.extend_from_slice(&sha2::Sha256::digest(raw));
        }
        StoredKey(k)
    }
    /// [`StoredKey::new`] reusing `raw`'s buffer (no copy when the
    /// dimension bytes are short enough to be kept as they are).
    pub fn from_raw(policy: usize, kind: u8, mut raw: Vec<u8>) -> StoredKey {
        if raw.len() > MAX_RAW_BYTES {
            return StoredKey::new(policy, kind, &raw);
        }
        let p = u16::try_from(policy).unwrap_or(u16::MAX).to_be_bytes();
        raw.splice(0..0, [p[0], p[1], kind, 0]);
        StoredKey(raw)
    }
    /// The same key under another algorithm kind (the lease of a policy's key).
    pub fn with_kind(&self, kind: u8) -> StoredKey {
        let mut k = self.0.clone();
        if let Some(b) = k.get_mut(2) {
            *b = kind;
        }
        StoredKey(k)
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// (policy index, algorithm kind) of a stored key.
    pub fn header(key: &[u8]) -> Option<(usize, u8)> {
        match key {
            [a, b, kind, _, ..] => Some((usize::from(u16::from_be_bytes([*a, *b])), *kind)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub entries: Vec<(Vec<u8>, State)>,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.entries.len() * (1 + 24 + 16));
        out.push(VERSION);
        for (k, s) in &self.entries {
            out.push(k.len() as u8);
            out.extend_from_slice(k);
            s.encode_into(&mut out);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let (&v, mut rest) = bytes.split_first()?;
        if v != VERSION {
            return None;
        }
        let mut entries = Vec::with_capacity(WAYS);
        while let Some((&n, r)) = rest.split_first() {
            let n = usize::from(n);
            if n == 0 || n > MAX_KEY_BYTES || r.len() < n + State::ENCODED_LEN {
                return None;
            }
            let (k, r) = r.split_at(n);
            let (s, r) = r.split_at(State::ENCODED_LEN);
            entries.push((k.to_vec(), State::decode(s)?));
            if entries.len() > WAYS {
                return None;
            }
            rest = r;
        }
        Some(Record { entries })
    }
}

/// Where a charge lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Bucket(u32),
    Overflow(usize),
}

/// One policy's charge for one request.
#[derive(Debug, Clone)]
pub struct Charge {
    pub policy: usize,
    pub key: StoredKey,
    pub bucket: u32,
    pub limit: Limit,
    pub cost: u64,
}

/// The outcome of checking (or taking) one charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub check: Check,
    pub place: Place,
}

/// A read record with its CAS token (None: missing).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub record: Record,
    pub cas: Option<u32>,
}

pub fn bucket_key(n: u32) -> String {
    // Built without `format!`: one per request and policy.
    let mut k = String::with_capacity(24);
    k.push_str("edgeward.rl.b.");
    crate::decimal::push_u64(&mut k, u64::from(n));
    k
}

pub fn overflow_key(policy: usize) -> String {
    format!("edgeward.rl.o.{policy}")
}

fn key_of(place: Place) -> String {
    match place {
        Place::Bucket(n) => bucket_key(n),
        Place::Overflow(p) => overflow_key(p),
    }
}

pub fn read<H: SharedStore + ?Sized>(host: &H, place: Place) -> Result<Snapshot, HostError> {
    let v = host.get_shared(&key_of(place))?;
    let record = v
        .data
        .as_deref()
        .and_then(Record::decode)
        .unwrap_or_default();
    Ok(Snapshot { record, cas: v.cas })
}

fn write<H: SharedStore + ?Sized>(
    host: &H,
    place: Place,
    record: &Record,
    cas: Option<u32>,
) -> Result<(), HostError> {
    host.set_shared(
        &key_of(place),
        &record.encode(),
        Some(cas.unwrap_or(CREATE_CAS)),
    )
}

/// Applies `charge` to the bucket record (taking if `take`), dropping
/// recovered entries. `None`: the key is absent and the record has no room.
fn apply_bucket(rec: &mut Record, c: &Charge, now: u64, take: bool) -> Option<Check> {
    let key = c.key.bytes();
    if let Some(i) = rec.entries.iter().position(|(k, _)| k == key) {
        let mut s = rec.entries.get(i)?.1;
        let check = c.limit.take(&mut s, now, c.cost);
        if take {
            if let Some(e) = rec.entries.get_mut(i) {
                e.1 = s;
            }
        }
        return Some(check);
    }
    // Not here: room if fewer than WAYS live entries (recovered ones were
    // compacted away by the caller).
    if rec.entries.len() >= WAYS {
        return None;
    }
    let mut s = c.limit.fresh(now);
    let check = c.limit.take(&mut s, now, c.cost);
    if take {
        rec.entries.push((key.to_vec(), s));
    }
    Some(check)
}

fn apply_overflow(rec: &mut Record, c: &Charge, now: u64, take: bool) -> Check {
    let mut s = rec
        .entries
        .first()
        .map(|e| e.1)
        .unwrap_or_else(|| c.limit.fresh(now));
    let check = c.limit.take(&mut s, now, c.cost);
    if take {
        rec.entries = vec![(vec![b'o'], s)];
    }
    check
}

/// Drops entries that `recovered` says can be forgotten (the caller knows
/// which limit each key belongs to).
pub fn compact(rec: &mut Record, recovered: &dyn Fn(&[u8], State) -> bool) {
    rec.entries.retain(|(k, s)| !recovered(k, *s));
}

/// Checks a charge without taking it. `bucket` is the record as read.
pub fn check<H: SharedStore + ?Sized>(
    host: &H,
    c: &Charge,
    bucket: &Snapshot,
    now: u64,
    recovered: &dyn Fn(&[u8], State) -> bool,
) -> Result<Outcome, HostError> {
    let mut rec = bucket.record.clone();
    compact(&mut rec, recovered);
    if let Some(check) = apply_bucket(&mut rec, c, now, false) {
        return Ok(Outcome {
            check,
            place: Place::Bucket(c.bucket),
        });
    }
    let place = Place::Overflow(c.policy);
    let mut over = read(host, place)?.record;
    Ok(Outcome {
        check: apply_overflow(&mut over, c, now, false),
        place,
    })
}

/// Takes a charge by compare-and-swap, retried on contention (bounded). A
/// first attempt may reuse the record read by [`check`]. Returns the
/// outcome as written; a charge that no longer fits is not written.
pub fn take<H: SharedStore + ?Sized>(
    host: &H,
    c: &Charge,
    mut prefetched: Option<Snapshot>,
    now: u64,
    recovered: &dyn Fn(&[u8], State) -> bool,
) -> Result<Outcome, HostError> {
    for _ in 0..CAS_ATTEMPTS {
        let snap = match prefetched.take() {
            Some(s) => s,
            None => read(host, Place::Bucket(c.bucket))?,
        };
        let mut rec = snap.record;
        compact(&mut rec, recovered);
        let (place, check, rec, cas) = match apply_bucket(&mut rec, c, now, true) {
            Some(check) => (Place::Bucket(c.bucket), check, rec, snap.cas),
            None => {
                let place = Place::Overflow(c.policy);
                let o = read(host, place)?;
                let mut orec = o.record;
                let check = apply_overflow(&mut orec, c, now, true);
                (place, check, orec, o.cas)
            }
        };
        if !check.allowed {
            return Ok(Outcome { check, place });
        }
        match write(host, place, &rec, cas) {
            Ok(()) => return Ok(Outcome { check, place }),
            Err(HostError::CasMismatch) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(HostError::CasMismatch)
}

/// Gives a taken charge back (another policy denied the request).
pub fn refund<H: SharedStore + ?Sized>(
    host: &H,
    c: &Charge,
    place: Place,
    taken_at: u64,
    now: u64,
) -> Result<(), HostError> {
    for _ in 0..CAS_ATTEMPTS {
        let snap = read(host, place)?;
        let mut rec = snap.record;
        let target = match place {
            Place::Bucket(_) => rec.entries.iter_mut().find(|(k, _)| k == c.key.bytes()),
            Place::Overflow(_) => rec.entries.first_mut(),
        };
        let Some((_, s)) = target else {
            // Gone (recovered and dropped): nothing to give back.
            return Ok(());
        };
        c.limit.refund(s, now, c.cost, taken_at);
        match write(host, place, &rec, snap.cas) {
            Ok(()) => return Ok(()),
            Err(HostError::CasMismatch) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(HostError::CasMismatch)
}

/// Adds a lease of `units` valid until `until` to the key of `c` (a
/// `Limit::Lease` charge). With no room in the record the units are
/// dropped: the service already counted them, so that only under-admits.
pub fn grant<H: SharedStore + ?Sized>(
    host: &H,
    c: &Charge,
    units: u64,
    until: u64,
    now: u64,
    recovered: &dyn Fn(&[u8], State) -> bool,
) -> Result<bool, HostError> {
    for _ in 0..CAS_ATTEMPTS {
        let snap = read(host, Place::Bucket(c.bucket))?;
        let mut rec = snap.record;
        compact(&mut rec, recovered);
        let key = c.key.bytes();
        let room = rec.entries.len() < WAYS;
        match rec.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, s)) => Limit::grant(s, now, units, until),
            None if room => {
                let mut s = State::default();
                Limit::grant(&mut s, now, units, until);
                rec.entries.push((key.to_vec(), s));
            }
            None => return Ok(false),
        }
        match write(host, Place::Bucket(c.bucket), &rec, snap.cas) {
            Ok(()) => return Ok(true),
            Err(HostError::CasMismatch) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(HostError::CasMismatch)
}

/// FNV-1a over the seeded key: the record a key lives in.
pub fn bucket_of(seed: u64, key: &[u8], buckets: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the high bits in: FNV's low bits are weak for short keys.
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 32;
    (h % u64::from(buckets.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;

    const NOW: u64 = 1_800_000_000_000;
    const FW: Limit = Limit::FixedWindow {
        requests: 3,
        window_ms: 1000,
    };

    fn charge(key: &str, bucket: u32) -> Charge {
        Charge {
            policy: 0,
            key: StoredKey::new(0, FW.kind(), key.as_bytes()),
            bucket,
            limit: FW,
            cost: 1,
        }
    }

    fn recovered(now: u64) -> impl Fn(&[u8], State) -> bool {
        move |_k: &[u8], s| FW.is_recovered(s, now)
    }

    #[test]
    fn records_round_trip_and_garbage_reads_empty() {
        let r = Record {
            entries: vec![(b"abc".to_vec(), State { a: 1, b: 2, c: 3 })],
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        for bad in [&[][..], &[2], &[1, 0], &[1, 3, b'a'], &[1, 60]] {
            assert_eq!(Record::decode(bad), None, "{bad:?}");
        }
        let long = StoredKey::new(3, b'F', &[b'x'; 100]);
        assert_eq!(long.bytes().len(), 36);
        assert_eq!(StoredKey::header(long.bytes()), Some((3, b'F')));
        assert_ne!(long, StoredKey::new(3, b'F', &[b'y'; 100]));
        assert_ne!(StoredKey::new(0, b'F', b"a"), StoredKey::new(1, b'F', b"a"));
        for raw in [&b""[..], b"abc", &[b'z'; 40], &[b'z'; 41], &[b'q'; 300]] {
            let k = StoredKey::new(5, b'T', raw);
            assert_eq!(StoredKey::from_raw(5, b'T', raw.to_vec()), k);
            assert_eq!(k.with_kind(b'L'), StoredKey::new(5, b'L', raw));
        }
    }

    #[test]
    fn take_counts_exactly_and_a_full_record_overflows_into_a_shared_state() {
        let host = FakeHost::new(NOW);
        let rec = recovered(NOW);
        for i in 0..3 {
            let o = take(&host, &charge("a", 0), None, NOW, &rec).unwrap();
            assert!(o.check.allowed, "{i}");
            assert_eq!(o.place, Place::Bucket(0));
        }
        assert!(
            !take(&host, &charge("a", 0), None, NOW, &rec)
                .unwrap()
                .check
                .allowed
        );
        for k in ["b", "c", "d"] {
            take(&host, &charge(k, 0), None, NOW, &rec).unwrap();
        }
        // Record 0 holds a, b, c, d (all live): e and f share the overflow.
        let o = take(&host, &charge("e", 0), None, NOW, &rec).unwrap();
        assert_eq!(o.place, Place::Overflow(0));
        for _ in 0..2 {
            assert!(
                take(&host, &charge("f", 0), None, NOW, &rec)
                    .unwrap()
                    .check
                    .allowed
            );
        }
        assert!(
            !take(&host, &charge("g", 0), None, NOW, &rec)
                .unwrap()
                .check
                .allowed,
            "past the cap, new keys never get a fresh quota"
        );
        // Once the window is over, a's entry is recovered and dropped: room again.
        let later = NOW + 1000;
        let o = take(&host, &charge("e", 0), None, later, &recovered(later)).unwrap();
        assert_eq!(o.place, Place::Bucket(0));
        let snap = read(&host, Place::Bucket(0)).unwrap();
        assert_eq!(snap.record.entries.len(), 1);
    }

    #[test]
    fn check_does_not_write_and_refund_gives_back() {
        let host = FakeHost::new(NOW);
        let rec = recovered(NOW);
        let c = charge("a", 1);
        let snap = read(&host, Place::Bucket(1)).unwrap();
        let o = check(&host, &c, &snap, NOW, &rec).unwrap();
        assert!(o.check.allowed);
        assert_eq!(host.shared_raw(&bucket_key(1)), None);
        for _ in 0..3 {
            take(&host, &c, None, NOW, &rec).unwrap();
        }
        refund(&host, &c, Place::Bucket(1), NOW, NOW).unwrap();
        assert!(take(&host, &c, None, NOW, &rec).unwrap().check.allowed);
    }

    #[test]
    fn a_stale_prefetched_record_loses_the_race_and_is_reread() {
        let host = FakeHost::new(NOW);
        let rec = recovered(NOW);
        let c = charge("a", 2);
        let stale = read(&host, Place::Bucket(2)).unwrap();
        for _ in 0..3 {
            take(&host, &c, None, NOW, &rec).unwrap();
        }
        // Another worker took the last unit after our read: our CAS fails,
        // the re-read sees the full count.
        let o = take(&host, &c, Some(stale), NOW, &rec).unwrap();
        assert!(!o.check.allowed);
    }

    #[test]
    fn bucket_keys() {
        assert_eq!(bucket_key(0), "edgeward.rl.b.0");
        assert_eq!(bucket_key(4_294_967_295), "edgeward.rl.b.4294967295");
    }

    #[test]
    fn buckets_spread() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            seen.insert(bucket_of(7, format!("k{i}").as_bytes(), 64));
        }
        assert_eq!(seen.len(), 64);
        assert_ne!(bucket_of(1, b"k", 1 << 20), bucket_of(2, b"k", 1 << 20));
    }
}
