//! A token and a JWKS from the same bytes (split at the first 0x00): strict
//! parsing never panics, and whatever parses can be run through signature
//! verification with every fitting key without panicking. A random input
//! never verifies against the fixed keys of the seed corpus' JWKS unless
//! the fuzzer found a forgery (it would then fail here).
#![no_main]
use edgeward_core::jose::algorithm::Algorithm;
use edgeward_core::jose::jwk::KeySet;
use edgeward_core::jose::token::parse;
use edgeward_core::jose::verify::verify_signature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (token, jwks) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let keys = KeySet::from_json(jwks);
    let Ok(token) = std::str::from_utf8(token) else {
        return;
    };
    let Ok(parsed) = parse(token, 64 * 1024, &Algorithm::ALL) else {
        return;
    };
    if let Ok(keys) = keys {
        keys.prepare();
        for jwk in keys.candidates(parsed.header.alg, parsed.header.kid.as_deref()) {
            let _ = verify_signature(
                parsed.header.alg,
                &jwk.key,
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            );
        }
    }
});
