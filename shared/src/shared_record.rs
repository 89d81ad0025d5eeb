//! Records in proxy-wasm shared data, updated only by compare-and-swap, so
//! that every VM (every Envoy worker) of a plugin sees one consistent value.
//!
//! Envoy's shared data compares the CAS token only when the key exists: a
//! write to a missing key always succeeds, whatever token it carries. Two
//! VMs that both read "missing" would then both "create" the record and one
//! update would be lost. So a first write here carries [`CREATE_CAS`], a
//! token the host never hands out for a live value in practice: if another
//! VM created the key in between, the key now exists with another token and
//! this write fails with `CasMismatch`, and the update is retried on the
//! value that won. (Envoy's CAS counter is global and would have to sit at
//! exactly `u32::MAX` at that instant for the two to collide.)

use crate::host::{HostError, SharedStore};

/// The CAS token of a first write (see the module comment).
pub const CREATE_CAS: u32 = u32::MAX;

/// Bounded retries of a compare-and-swap loop; contention is between a few
/// workers, so a handful always suffices.
pub const CAS_ATTEMPTS: usize = 16;

/// How a record is stored. Encodings carry their own version so that a
/// module of another version sharing the VM id is never misread.
pub trait RecordCodec: Sized + Default {
    fn encode(&self) -> Vec<u8>;
    /// `None` when the bytes are not this record (another version, garbage).
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// What an update closure decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Write the modified record.
    Write,
    /// Leave the record as it is.
    Keep,
}

/// One shared-data key holding a `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRecord {
    key: String,
}

/// A record as read, with the token to write it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    pub value: T,
    /// `None` when the key did not exist (or held something undecodable).
    pub cas: Option<u32>,
    /// The key existed but did not decode as `T`.
    pub was_unreadable: bool,
}

impl SharedRecord {
    pub fn new(key: impl Into<String>) -> Self {
        SharedRecord { key: key.into() }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The current value (the default when missing or unreadable).
    pub fn read<T: RecordCodec, H: SharedStore + ?Sized>(
        &self,
        host: &H,
    ) -> Result<Read<T>, HostError> {
        let v = host.get_shared(&self.key)?;
        Ok(match v.data.as_deref().filter(|d| !d.is_empty()) {
            None => Read {
                value: T::default(),
                cas: v.cas,
                was_unreadable: false,
            },
            Some(bytes) => match T::decode(bytes) {
                Some(value) => Read {
                    value,
                    cas: v.cas,
                    was_unreadable: false,
                },
                None => Read {
                    value: T::default(),
                    cas: v.cas,
                    was_unreadable: true,
                },
            },
        })
    }

    /// Writes `value` only if the record is still as read (`cas` from
    /// [`SharedRecord::read`]; `None` means "still missing").
    pub fn write<T: RecordCodec, H: SharedStore + ?Sized>(
        &self,
        host: &H,
        value: &T,
        cas: Option<u32>,
    ) -> Result<(), HostError> {
        host.set_shared(&self.key, &value.encode(), Some(cas.unwrap_or(CREATE_CAS)))
    }

    /// Read-modify-write with compare-and-swap, retried on contention.
    /// Returns the record as written (or as kept) and what `change` decided.
    pub fn update<T: RecordCodec, H: SharedStore + ?Sized>(
        &self,
        host: &H,
        mut change: impl FnMut(&mut T) -> Change,
    ) -> Result<(T, Change), HostError> {
        for _ in 0..CAS_ATTEMPTS {
            let Read { mut value, cas, .. } = self.read::<T, H>(host)?;
            match change(&mut value) {
                Change::Keep => return Ok((value, Change::Keep)),
                Change::Write => match self.write(host, &value, cas) {
                    Ok(()) => return Ok((value, Change::Write)),
                    Err(HostError::CasMismatch) => continue,
                    Err(e) => return Err(e),
                },
            }
        }
        Err(HostError::CasMismatch)
    }
}

/// A lease: at most one VM at a time does a job (fetches keys, flushes a
/// batch); it lapses on its own if the holder dies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lease {
    pub until_ms: u64,
}

impl Lease {
    pub fn is_held(&self, now_ms: u64) -> bool {
        self.until_ms > now_ms
    }
    pub fn take(&mut self, now_ms: u64, for_ms: u64) {
        self.until_ms = now_ms.saturating_add(for_ms);
    }
    pub fn release(&mut self) {
        self.until_ms = 0;
    }
}

/// JSON encoding behind a version prefix (for small, rarely written records).
pub fn json_encode<T: serde::Serialize>(version: u8, value: &T) -> Vec<u8> {
    let mut out = vec![version];
    // Serialising plain structs cannot fail; an empty record is never decodable.
    match serde_json::to_vec(value) {
        Ok(body) => out.extend_from_slice(&body),
        Err(_) => out.clear(),
    }
    out
}

pub fn json_decode<T: serde::de::DeserializeOwned>(version: u8, bytes: &[u8]) -> Option<T> {
    let (v, body) = bytes.split_first()?;
    if *v != version {
        return None;
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;

    #[derive(Debug, Default, Clone, PartialEq)]
    struct Counter(u64);
    impl RecordCodec for Counter {
        fn encode(&self) -> Vec<u8> {
            let mut v = vec![1u8];
            v.extend_from_slice(&self.0.to_be_bytes());
            v
        }
        fn decode(bytes: &[u8]) -> Option<Self> {
            let (ver, rest) = bytes.split_first()?;
            (*ver == 1).then_some(())?;
            Some(Counter(u64::from_be_bytes(rest.try_into().ok()?)))
        }
    }

    #[test]
    fn the_first_write_is_a_real_compare_and_swap() {
        let host = FakeHost::new(0);
        let rec = SharedRecord::new("k");
        // Two VMs both read "missing"...
        let a = rec.read::<Counter, _>(&host).unwrap();
        let b = rec.read::<Counter, _>(&host).unwrap();
        assert_eq!(a.cas, None);
        // ...the first creates the key, the second must lose, not overwrite.
        rec.write(&host, &Counter(1), a.cas).unwrap();
        assert_eq!(
            rec.write(&host, &Counter(1), b.cas),
            Err(HostError::CasMismatch)
        );
        // Why CREATE_CAS is needed: a missing key takes any token (Envoy's
        // semantics, which the fake host mirrors), so "read missing, write
        // with no token" by two VMs would let the second overwrite the first.
        assert!(host.set_shared("k2", b"x", Some(777)).is_ok());
        assert!(host.set_shared("k2", b"y", None).is_ok());
    }

    #[test]
    fn concurrent_updates_are_never_lost() {
        let host = FakeHost::new(0);
        let rec = SharedRecord::new("n");
        for _ in 0..100 {
            let (v, c) = rec
                .update::<Counter, _>(&host, |c| {
                    c.0 += 1;
                    Change::Write
                })
                .unwrap();
            assert_eq!(c, Change::Write);
            assert!(v.0 >= 1);
        }
        assert_eq!(rec.read::<Counter, _>(&host).unwrap().value, Counter(100));
        let (v, c) = rec.update::<Counter, _>(&host, |_| Change::Keep).unwrap();
        assert_eq!((v, c), (Counter(100), Change::Keep));
    }

    #[test]
    fn unreadable_records_read_as_default_and_say_so() {
        let host = FakeHost::new(0);
        host.set_shared("x", b"\x09garbage", None).unwrap();
        let r = SharedRecord::new("x").read::<Counter, _>(&host).unwrap();
        assert!(r.was_unreadable);
        assert_eq!(r.value, Counter(0));
        assert!(
            r.cas.is_some(),
            "overwriting it is still a CAS on the live token"
        );
    }

    #[test]
    fn leases_lapse_and_json_records_are_versioned() {
        let mut l = Lease::default();
        assert!(!l.is_held(5));
        l.take(5, 10);
        assert!(l.is_held(14) && !l.is_held(15));
        l.take(u64::MAX - 1, 10);
        assert_eq!(l.until_ms, u64::MAX);
        l.release();
        assert!(!l.is_held(0));
        let bytes = json_encode(3, &vec![1, 2]);
        assert_eq!(json_decode::<Vec<i32>>(3, &bytes), Some(vec![1, 2]));
        assert_eq!(json_decode::<Vec<i32>>(4, &bytes), None);
        assert_eq!(json_decode::<Vec<i32>>(3, &[]), None);
    }
}
