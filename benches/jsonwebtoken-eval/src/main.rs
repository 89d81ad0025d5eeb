//! Can the JWT filter's hot path be `jsonwebtoken` (12) with edgeward's
//! verifiers plugged in? Prints, for one of jsonwebtoken's providers:
//!
//! - what decode+verify of an RS256 / ES256 token costs through
//!   `jsonwebtoken::decode`, and through edgeward's jose layer
//!   (`jose::parse` + `KeySet::candidates` + `jose::verify_signature`,
//!   keys prepared once), plus ES512 through jose;
//! - which hostile tokens (and keys) each accepts.
//!
//! Usage: edgeward-jsonwebtoken-eval rust_crypto|edgeward [ITERATIONS]
//! (`edgeward` installs provider::EDGEWARD_PROVIDER; a process can have one).

mod provider;

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use edgeward_core::jose::{self, KeySet};
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use serde_json::{json, Value};

const VECTORS: &str = include_str!("../../../shared/tests/vectors/signatures.json");
const ISS: &str = "https://issuer.example";
const AUD: &str = "edgeward";

/// This thread's CPU time: the machine is shared, and wall time counts the
/// time other processes run.
#[cfg(target_arch = "wasm32")]
fn cpu_ns() -> u64 {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
    }
    const THREAD_CPUTIME: u32 = 3;
    let mut t = 0u64;
    // SAFETY: `t` is a valid place for the u64 the call writes.
    unsafe { clock_time_get(THREAD_CPUTIME, 1, &mut t) };
    t
}

#[cfg(not(target_arch = "wasm32"))]
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU microseconds per call of `f`: after a warm-up of a tenth of
/// `iterations`, the iterations run in 10 batches; the median batch counts
/// (robust against other load on the machine).
fn time<F: FnMut() -> bool>(iterations: u32, mut f: F) -> Result<f64, String> {
    let mut ok = true;
    for _ in 0..iterations.div_ceil(10) {
        ok &= black_box(f());
    }
    let batch = iterations.div_ceil(10).max(1);
    let mut per_call: Vec<f64> = (0..10)
        .map(|_| {
            let start = cpu_ns();
            for _ in 0..batch {
                ok &= black_box(f());
            }
            cpu_ns().saturating_sub(start) as f64 / 1e3 / f64::from(batch)
        })
        .collect();
    if !ok {
        return Err("a verification failed".into());
    }
    per_call.sort_by(f64::total_cmp);
    Ok((per_call[4] + per_call[5]) / 2.0)
}

/// The valid vector token of `alg` and the JWK that verifies it.
fn fixture(doc: &Value, alg: &str) -> Result<(String, Value), String> {
    let case = doc["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == format!("valid {alg}")))
        .ok_or("no vector")?;
    let token = format!(
        "{}.{}",
        case["signing_input"].as_str().ok_or("input")?,
        case["signature_b64url"].as_str().ok_or("sig")?
    );
    Ok((token, jwk(doc, case["kid"].as_str().ok_or("kid")?)?))
}

fn jwk(doc: &Value, kid: &str) -> Result<Value, String> {
    doc["jwks"]["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .cloned()
        .ok_or_else(|| format!("no key {kid}"))
}

fn decoding_key(jwk: &Value) -> Result<DecodingKey, String> {
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
    DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())
}

fn validation(alg: jsonwebtoken::Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[ISS]);
    v.set_audience(&[AUD]);
    v
}

/// edgeward's jose layer: what the filter does for a token not in its cache.
fn edgeward_accepts(keys: &KeySet, token: &str) -> bool {
    let Ok(t) = jose::parse(token, 8192, &jose::Algorithm::ALL) else {
        return false;
    };
    keys.candidates(t.header.alg, t.header.kid.as_deref())
        .iter()
        .any(|k| {
            jose::verify_signature(
                t.header.alg,
                &k.key,
                t.signing_input.as_bytes(),
                &t.signature,
            )
            .is_ok()
        })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// HS256 tokens signed with the vectors' hs256-a secret (by the rust_crypto
/// signer directly, whatever provider is installed).
fn hostile_tokens(doc: &Value) -> Result<Vec<(&'static str, String)>, String> {
    let secret = URL_SAFE_NO_PAD
        .decode(
            doc["TEST_ONLY_private_keys"]["hs256-a"]
                .as_str()
                .ok_or("secret")?,
        )
        .map_err(|e| e.to_string())?;
    let key = EncodingKey::from_secret(&secret).map_err(|e| e.to_string())?;
    let signer = (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.signer_factory)(
        &jsonwebtoken::Algorithm::HS256,
        &key,
    )
    .map_err(|e| e.to_string())?;
    let exp = 4_102_444_800u64;
    let claims = format!(r#""iss":"{ISS}","aud":"{AUD}","exp":{exp}"#);
    let cases = [
        (
            "plain (control)",
            r#"{"alg":"HS256","kid":"hs256-a"}"#.to_owned(),
            format!("{{{claims}}}"),
        ),
        (
            "repeated header member",
            r#"{"alg":"HS256","kid":"hs256-a","x":1,"x":2}"#.to_owned(),
            format!("{{{claims}}}"),
        ),
        (
            "repeated claim",
            r#"{"alg":"HS256","kid":"hs256-a"}"#.to_owned(),
            format!(r#"{{{claims},"role":"user","role":"admin"}}"#),
        ),
        (
            "crit [b64], b64 true",
            r#"{"alg":"HS256","kid":"hs256-a","crit":["b64"],"b64":true}"#.to_owned(),
            format!("{{{claims}}}"),
        ),
        (
            "b64 true",
            r#"{"alg":"HS256","kid":"hs256-a","b64":true}"#.to_owned(),
            format!("{{{claims}}}"),
        ),
        (
            "enc (a JWE header)",
            r#"{"alg":"HS256","kid":"hs256-a","enc":"A128GCM"}"#.to_owned(),
            format!("{{{claims}}}"),
        ),
        (
            "iat a string",
            r#"{"alg":"HS256","kid":"hs256-a"}"#.to_owned(),
            format!(r#"{{{claims},"iat":"x"}}"#),
        ),
        (
            "sub a number",
            r#"{"alg":"HS256","kid":"hs256-a"}"#.to_owned(),
            format!(r#"{{{claims},"sub":7}}"#),
        ),
    ];
    cases
        .into_iter()
        .map(|(what, header, payload)| {
            let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
            let sig = signer
                .try_sign(input.as_bytes())
                .map_err(|e| e.to_string())?;
            Ok((what, format!("{input}.{}", b64(&sig))))
        })
        .collect()
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "rust_crypto".to_owned());
    let iterations: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    match mode.as_str() {
        "rust_crypto" => {}
        "edgeward" => provider::EDGEWARD_PROVIDER
            .install_default()
            .map_err(|_| "a provider is installed already")?,
        other => return Err(format!("unknown mode {other}")),
    }
    let target = if cfg!(target_arch = "wasm32") {
        "wasm32-wasip1 (node V8)"
    } else {
        "native"
    };
    let doc: Value = serde_json::from_str(VECTORS).map_err(|e| e.to_string())?;

    println!(
        "## {target}, jsonwebtoken provider: {mode}; {iterations} iterations, median of 10 batches, thread CPU time"
    );
    println!();
    println!(
        "| token | jsonwebtoken decode µs | edgeward parse + verify µs | edgeward parse only µs |"
    );
    println!("|---|---:|---:|---:|");
    for (alg, theirs) in [
        ("RS256", Some(jsonwebtoken::Algorithm::RS256)),
        ("ES256", Some(jsonwebtoken::Algorithm::ES256)),
        ("ES512", None),
    ] {
        let (token, jwk) = fixture(&doc, alg)?;
        let keys = KeySet::from_json(json!({ "keys": [jwk.clone()] }).to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        keys.prepare();
        let jwt_us = match theirs {
            Some(their_alg) => {
                let key = decoding_key(&jwk)?;
                let v = validation(their_alg);
                let us = time(iterations, || {
                    jsonwebtoken::decode::<Value>(&token, &key, &v).is_ok()
                })?;
                format!("{us:.1}")
            }
            None => "(no ES512)".to_owned(),
        };
        let ours = time(iterations, || edgeward_accepts(&keys, &token))?;
        let parse = time(iterations, || {
            jose::parse(&token, 8192, &jose::Algorithm::ALL).is_ok()
        })?;
        println!("| {alg} | {jwt_us} | {ours:.1} | {parse:.1} |");
    }
    println!();

    println!("| hostile token (HS256, valid signature) | jsonwebtoken decode | edgeward jose |");
    println!("|---|---|---|");
    let hs_jwk = jwk(&doc, "hs256-a")?;
    let hs_key = decoding_key(&hs_jwk)?;
    let hs_keys = KeySet::from_json(json!({ "keys": [hs_jwk] }).to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let verdict = |ok: bool| if ok { "accepted" } else { "refused" };
    for (what, token) in hostile_tokens(&doc)? {
        let theirs = jsonwebtoken::decode::<Value>(
            &token,
            &hs_key,
            &validation(jsonwebtoken::Algorithm::HS256),
        );
        println!(
            "| {what} | {} | {} |",
            verdict(theirs.is_ok()),
            verdict(edgeward_accepts(&hs_keys, &token))
        );
    }
    // A key edgeward never uses: a 1024-bit RSA modulus.
    let case = doc["cases"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "RS256 by a 1024-bit key"))
        .ok_or("no 1024-bit vector")?;
    let token = format!(
        "{}.{}",
        case["signing_input"].as_str().ok_or("input")?,
        case["signature_b64url"].as_str().ok_or("sig")?
    );
    let weak = jwk(&doc, "rs1024-weak")?;
    let weak_keys = KeySet::from_json(json!({ "keys": [weak.clone()] }).to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let v = validation(jsonwebtoken::Algorithm::RS256);
    let theirs = jsonwebtoken::decode::<Value>(&token, &decoding_key(&weak)?, &v);
    println!(
        "| RS256 by a 1024-bit RSA key | {} | {} |",
        verdict(theirs.is_ok()),
        verdict(edgeward_accepts(&weak_keys, &token))
    );
    Ok(())
}
