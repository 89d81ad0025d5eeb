//! Any bytes as the JWT filter's configuration: an error or a config, never
//! a panic; and an accepted config always builds a filter.
#![no_main]
use edgeward_core::jwt::config::JwtConfig;
use edgeward_core::jwt::JwtFilter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match JwtConfig::from_json(data) {
        Ok(cfg) => {
            // Every error names a field; a valid config must work as a filter.
            let f = JwtFilter::new(cfg);
            assert!(f.config().token_cache_size <= 100_000);
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
});
