//! FNV-1a for the adapter's own maps. Their keys are context ids the host
//! assigns and metric names the filters build from their configuration, so
//! nobody outside can choose colliding keys, and SipHash's defence against
//! that costs on every callback (two lookups per callback, one per metric
//! increment, each hashed again in the Wasm VM).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        // One step for a whole context id: it is not attacker-chosen.
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x0100_0000_01b3);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` hashed with [`Fnv`].
pub type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_stay_distinct() {
        let mut m: FnvMap<u32, u32> = FnvMap::default();
        for i in 0..1000 {
            m.insert(i, i * 2);
        }
        assert_eq!(m.len(), 1000);
        assert!((0..1000).all(|i| m.get(&i) == Some(&(i * 2))));
        let mut names: FnvMap<String, u32> = FnvMap::default();
        names.insert("a{route=x}".into(), 1);
        names.insert("a{route=y}".into(), 2);
        assert_eq!(names.get("a{route=y}"), Some(&2));
    }
}
