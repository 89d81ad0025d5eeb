//! Token minting shared by the integration tests: HS256 with a fixed secret
//! and EdDSA with keys from fixed seeds (pure Rust, so it runs in Wasm too).
#![allow(dead_code, clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};

pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-edgeward";

pub fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An HS256 token signed with [`SECRET`].
pub fn hs256(header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

pub fn ed_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The public JWK of the Ed25519 key made from `seed`.
pub fn ed_jwk(seed: u8, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(ed_key(seed).verifying_key().as_bytes())})
}

/// An EdDSA token signed with the key made from `seed`.
pub fn eddsa(seed: u8, header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let sig = ed_key(seed).sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

use edgeward_core::filter::Driver;
use edgeward_core::host::fake::FakeHost;
use edgeward_core::jwt::JwtFilter;

/// Root context id the test VMs use.
pub const ROOT: u32 = 1;

/// A JWT filter configured from `cfg` on the fake host, as Envoy would.
pub fn jwt_vm(host: &FakeHost, cfg: &Value) -> Driver<JwtFilter> {
    *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
    let mut d = Driver::<JwtFilter>::new(ROOT);
    assert!(
        d.configure(host),
        "config refused: {:?}",
        host.logs.borrow()
    );
    d
}

/// The plugin configuration (the `value: |` block) of the Wasm filter entry
/// that loads `wasm` (e.g. `dist/edgeward_tenant.wasm`) in an Envoy YAML
/// config: the block ends at the first line indented less than its first.
pub fn plugin_config_in(yaml: &str, wasm: &str) -> String {
    let at = yaml
        .find(wasm)
        .unwrap_or_else(|| panic!("{wasm} in the config"));
    let rest = &yaml[at..];
    let start = rest.find("value: |").expect("its configuration") + "value: |".len();
    let mut lines = rest[start..].lines().skip(1).peekable();
    let indent = lines
        .peek()
        .map(|l| l.len() - l.trim_start().len())
        .expect("a configuration line");
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .collect::<Vec<_>>()
        .join("\n")
}
