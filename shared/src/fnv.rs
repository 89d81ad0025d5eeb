//! FNV-1a, for maps whose keys nobody outside can choose: SipHash's defence
//! against colliding keys costs on the hot path, hashed in the Wasm VM.
//! Used by the adapter's maps (context ids the host assigns, metric names
//! built from configuration: two lookups per callback, one per metric
//! increment) and by the JWT token cache (the tail of verified tokens).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    /// One FNV-1a step.
    pub fn step(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x0100_0000_01b3);
    }
}

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.step(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        // One step for a whole id: it is not attacker-chosen.
        self.step(u64::from(n));
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
