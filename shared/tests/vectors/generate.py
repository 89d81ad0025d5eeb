#!/usr/bin/env python3
"""Writes signatures.json: known-answer JWS signature vectors for edgeward-core.

The signatures are made (and every "ok"/"invalid" verdict is double-checked)
with pyca/cryptography (OpenSSL), an implementation independent of the
RustCrypto crates the Rust code uses. The Rust test only reads the JSON.

    python3 -m venv /tmp/vecvenv && /tmp/vecvenv/bin/pip install cryptography
    /tmp/vecvenv/bin/python shared/tests/vectors/generate.py

Keys are FIXED: on the first run they are generated and stored in the output
under "TEST_ONLY_private_keys"; later runs load them from there, so only the
randomised signatures (RSA-PSS salts) change when the file is regenerated.
Those private keys are throwaway test material, published on purpose: never
use them for anything else.
"""

import base64
import hashlib
import hmac
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "signatures.json")

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
HASHLIB = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
# DER DigestInfo prefixes (RFC 8017 §9.2 note 1).
DIGEST_INFO = {
    "256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P521_N = int("1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409", 16)
P521_P = 2**521 - 1
ED25519_L = 2**252 + 27742317777372353535851937790883648493

# kid -> how to make the key (only used when the key file has no such kid).
RSA_KEYS = {
    "rs256-a": (2048, 65537),
    "rs3072-a": (3072, 65537),
    "rs4096-a": (4096, 65537),
    "rs-e3": (2048, 3),
    "rs1024-weak": (1024, 65537),
    "rs-use-enc": (2048, 65537),
    "rs-oaep": (2048, 65537),
}
EC_KEYS = {"ec256-a": ec.SECP256R1, "ec256-b": ec.SECP256R1, "ec384-a": ec.SECP384R1,
           "ec384-b": ec.SECP384R1, "ec256-with-d": ec.SECP256R1, "ec521-a": ec.SECP521R1, "ec521-b": ec.SECP521R1,
           "ec521-off-curve": ec.SECP521R1}
ED_KEYS = ["ed-a", "ed-b"]
HMAC_KEYS = {"hs256-a": 32, "hs384-a": 48, "hs512-a": 64, "hs-short32": 32}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_bytes(value: int, length: int | None = None) -> bytes:
    if length is None:
        length = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def load_or_make_keys():
    stored = {}
    if os.path.exists(OUT):
        with open(OUT) as f:
            stored = json.load(f).get("TEST_ONLY_private_keys", {})
    keys = {}
    for kid, pem in stored.items():
        if kid.startswith("hs"):
            keys[kid] = unb64(pem)
        else:
            keys[kid] = serialization.load_pem_private_key(pem.encode(), password=None)
    for kid, (bits, e) in RSA_KEYS.items():
        if kid not in keys:
            keys[kid] = rsa.generate_private_key(public_exponent=e, key_size=bits)
    for kid, curve in EC_KEYS.items():
        if kid not in keys:
            keys[kid] = ec.generate_private_key(curve())
    for kid in ED_KEYS:
        if kid not in keys:
            keys[kid] = ed25519.Ed25519PrivateKey.generate()
    for kid, size in HMAC_KEYS.items():
        if kid not in keys:
            keys[kid] = os.urandom(size)
    return keys


def private_pem(key) -> str:
    if isinstance(key, bytes):
        return b64(key)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_jwk(kid: str, key) -> dict:
    if isinstance(key, rsa.RSAPrivateKey):
        pub = key.public_key().public_numbers()
        return {"kty": "RSA", "kid": kid, "n": b64(int_bytes(pub.n)), "e": b64(int_bytes(pub.e))}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        pub = key.public_key().public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
        return {"kty": "EC", "kid": kid, "crv": crv,
                "x": b64(int_bytes(pub.x, size)), "y": b64(int_bytes(pub.y, size))}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(raw)}
    return {"kty": "oct", "kid": kid, "k": b64(key)}


def build_jwks(keys):
    jwks = []
    for kid in ["rs256-a", "rs3072-a", "rs4096-a", "rs-e3", "ec256-a", "ec256-b", "ec384-a",
                "ec384-b", "ec521-a", "ec521-b", "ed-a", "ed-b", "hs256-a", "hs384-a", "hs512-a",
                "hs-short32"]:
        jwks.append(public_jwk(kid, keys[kid]))
    # Key-level metadata used by some cases.
    by_kid = {k["kid"]: k for k in jwks}
    by_kid["rs4096-a"]["alg"] = "RS512"
    by_kid["rs256-a"]["use"] = "sig"
    by_kid["ec384-a"]["key_ops"] = ["verify"]
    by_kid["hs256-a"]["alg"] = "HS256"
    by_kid["hs384-a"]["alg"] = "HS384"
    by_kid["ec521-b"]["alg"] = "ES512"
    # Keys a verifier must skip, with the class edgeward gives them:
    # "invalid" (broken or unsafe) or "not_for_signatures" (encryption keys).
    skipped = {}
    jwks.append(public_jwk("rs1024-weak", keys["rs1024-weak"]))
    skipped["rs1024-weak"] = "invalid"
    enc = public_jwk("rs-use-enc", keys["rs-use-enc"])
    enc["use"] = "enc"
    jwks.append(enc)
    skipped["rs-use-enc"] = "not_for_signatures"
    oaep = public_jwk("rs-oaep", keys["rs-oaep"])
    oaep["alg"] = "RSA-OAEP-256"
    jwks.append(oaep)
    skipped["rs-oaep"] = "not_for_signatures"
    with_d = public_jwk("ec256-with-d", keys["ec256-with-d"])
    with_d["d"] = b64(int_bytes(keys["ec256-with-d"].private_numbers().private_value, 32))
    jwks.append(with_d)
    skipped["ec256-with-d"] = "invalid"
    # A P-521 point with y + 1: off the curve (both coordinates still below p).
    off = public_jwk("ec521-off-curve", keys["ec521-off-curve"])
    y = int.from_bytes(unb64(off["y"]), "big")
    off["y"] = b64(int_bytes((y + 1) % P521_P, 66))
    jwks.append(off)
    skipped["ec521-off-curve"] = "invalid"
    # P-521 coordinates must be exactly 66 bytes: no leading zeros dropped.
    short = public_jwk("ec521-short-x", keys["ec521-a"])
    x = int.from_bytes(unb64(short["x"]), "big")
    short["x"] = b64(int_bytes(x))
    if len(unb64(short["x"])) == 66:
        short["x"] = b64(unb64(short["x"])[1:])
    jwks.append(short)
    skipped["ec521-short-x"] = "invalid"
    return jwks, skipped


def signing_input(alg: str, kid, payload: dict) -> str:
    header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return (b64(json.dumps(header, separators=(",", ":")).encode()) + "."
            + b64(json.dumps(payload, separators=(",", ":")).encode()))


def sign(alg: str, key, data: bytes) -> bytes:
    fam, bits = alg[:2], alg[2:]
    if fam == "HS":
        return hmac.new(key, data, HASHLIB[bits]).digest()
    if fam == "RS":
        return key.sign(data, padding.PKCS1v15(), HASHES[bits]())
    if fam == "PS":
        pss = padding.PSS(mgf=padding.MGF1(HASHES[bits]()), salt_length=HASHES[bits]().digest_size)
        return key.sign(data, pss, HASHES[bits]())
    if fam == "ES":
        der = key.sign(data, ec.ECDSA(HASHES[bits](), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        size = (key.curve.key_size + 7) // 8
        return int_bytes(r, size) + int_bytes(s, size)
    if alg == "EdDSA":
        return key.sign(data)
    raise ValueError(alg)


def python_verifies(alg: str, key, data: bytes, sig: bytes) -> bool:
    """The independent verdict: pyca/cryptography with the RFC 7518 rules."""
    fam, bits = alg[:2], alg[2:]
    try:
        if fam == "HS":
            return hmac.compare_digest(hmac.new(key, data, HASHLIB[bits]).digest(), sig)
        if fam in ("RS", "PS"):
            pub = key.public_key()
            if len(sig) != (pub.key_size + 7) // 8:
                return False  # RFC 8017 §8.x.2 step 1 (OpenSSL is lenient here)
            if fam == "RS":
                pub.verify(sig, data, padding.PKCS1v15(), HASHES[bits]())
            else:
                pss = padding.PSS(mgf=padding.MGF1(HASHES[bits]()),
                                  salt_length=HASHES[bits]().digest_size)
                pub.verify(sig, data, pss, HASHES[bits]())
            return True
        if fam == "ES":
            size = (key.curve.key_size + 7) // 8
            if len(sig) != 2 * size:
                return False  # JWS ECDSA signatures are raw r || s
            r = int.from_bytes(sig[:size], "big")
            s = int.from_bytes(sig[size:], "big")
            key.public_key().verify(encode_dss_signature(r, s), data, ec.ECDSA(HASHES[bits]()))
            return True
        if alg == "EdDSA":
            key.public_key().verify(sig, data)
            return True
    except (InvalidSignature, ValueError):
        return False
    raise ValueError(alg)


def rsa_raw_sign(key, em: bytes) -> bytes:
    """RSA private operation on a hand-made encoded message."""
    priv = key.private_numbers()
    n = priv.public_numbers.n
    k = (n.bit_length() + 7) // 8
    return int_bytes(pow(int.from_bytes(em, "big"), priv.d, n), k)


def pkcs1_em(k: int, digest_info: bytes, block_type: int = 1, ps_byte: int = 0xFF,
             trailer: bytes = b"") -> bytes:
    t = digest_info + trailer
    ps = bytes([ps_byte]) * (k - len(t) - 3)
    return bytes([0, block_type]) + ps + b"\x00" + t


def main():
    keys = load_or_make_keys()
    jwks, expect_skipped = build_jwks(keys)
    cases = []

    def add(name, alg, kid, data: str, sig: bytes, expect: str, signer=None):
        """signer: the private key whose public half decides ok/invalid."""
        if expect != "key_mismatch":
            verdict = "ok" if python_verifies(alg, signer, data.encode(), sig) else "invalid"
            if verdict != expect:
                sys.exit(f"case {name!r}: intended {expect}, cryptography says {verdict}")
        cases.append({"name": name, "alg": alg, "kid": kid, "signing_input": data,
                      "signature_b64url": b64(sig), "expect": expect})

    payload = {"iss": "https://issuer.example", "sub": "vector", "aud": "edgeward",
               "exp": 4102444800}
    signer_of = {
        "HS256": "hs256-a", "HS384": "hs384-a", "HS512": "hs512-a",
        "RS256": "rs256-a", "RS384": "rs3072-a", "RS512": "rs4096-a",
        "PS256": "rs256-a", "PS384": "rs3072-a", "PS512": "rs-e3",
        "ES256": "ec256-a", "ES384": "ec384-a", "ES512": "ec521-a", "EdDSA": "ed-a",
    }
    valid = {}
    for alg, kid in signer_of.items():
        key = keys[kid]
        data = signing_input(alg, kid, payload)
        sig = sign(alg, key, data.encode())
        valid[alg] = (data, sig)
        add(f"valid {alg}", alg, kid, data, sig, "ok", key)
        # The same signature found without a kid (every key of the family is tried).
        add(f"{alg} without kid", alg, None, data, sig, "ok", key)
        for label, pos in [("first", 0), ("middle", len(sig) // 2), ("last", len(sig) - 1)]:
            bad = bytearray(sig)
            bad[pos] ^= 0x80 if label == "first" else 0x01
            add(f"{alg} signature bit flip ({label} byte)", alg, kid, data, bytes(bad), "invalid", key)
        flipped = bytearray(data.encode())
        flipped[len(flipped) // 2] ^= 0x01
        add(f"{alg} signing input bit flip", alg, kid, flipped.decode(), sig, "invalid", key)
        add(f"{alg} truncated signature", alg, kid, data, sig[:-1], "invalid", key)
        add(f"{alg} signature with a byte appended", alg, kid, data, sig + b"\x00", "invalid", key)
        add(f"{alg} signature with a zero byte prepended", alg, kid, data, b"\x00" + sig, "invalid", key)
        add(f"{alg} empty signature", alg, kid, data, b"", "invalid", key)
        empty_sig = sign(alg, key, b"")
        add(f"{alg} valid over empty signing input", alg, kid, "", empty_sig, "ok", key)

    # RSA: scheme and hash confusion.
    for bits, kid in [("256", "rs256-a"), ("384", "rs3072-a")]:
        data, rs = valid["RS" + bits]
        _, ps = valid["PS" + bits]
        add(f"RS{bits} signature checked as PS{bits}", "PS" + bits, kid, data, rs, "invalid", keys[kid])
        add(f"PS{bits} signature checked as RS{bits}", "RS" + bits, kid, valid["PS" + bits][0], ps,
            "invalid", keys[kid])
    data, rs = valid["RS256"]
    add("RS256 signature checked as RS384", "RS384", "rs256-a", data, rs, "invalid", keys["rs256-a"])
    add("RS256 signature checked as RS512", "RS512", "rs256-a", data, rs, "invalid", keys["rs256-a"])
    add("RS256 signature checked with another RSA key", "RS256", "rs3072-a", data, rs, "invalid",
        keys["rs3072-a"])
    # PS512 with the RS512-only key (its JWK says alg RS512).
    data512 = signing_input("PS512", "rs4096-a", payload)
    ps_by_4096 = sign("PS512", keys["rs4096-a"], data512.encode())
    add("PS512 with a key whose alg is RS512", "PS512", "rs4096-a", data512, ps_by_4096, "key_mismatch")
    # PSS with a salt length other than the hash length (RFC 7518 §3.5).
    data = signing_input("PS256", "rs256-a", payload)
    for salt_name, salt in [("maximum", padding.PSS.MAX_LENGTH), ("zero", 0), ("20-byte", 20)]:
        sig = keys["rs256-a"].sign(data.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                              salt_length=salt), hashes.SHA256())
        add(f"PS256 with {salt_name} salt length", "PS256", "rs256-a", data, sig, "invalid",
            keys["rs256-a"])
    # PSS whose MGF1 uses another hash.
    sig = keys["rs256-a"].sign(data.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA1()),
                                                          salt_length=32), hashes.SHA256())
    add("PS256 with MGF1-SHA1", "PS256", "rs256-a", data, sig, "invalid", keys["rs256-a"])

    # RSA: values out of range and hand-made PKCS#1 v1.5 encodings.
    rsa_key = keys["rs256-a"]
    n = rsa_key.public_key().public_numbers().n
    k = (n.bit_length() + 7) // 8
    data, _ = valid["RS256"]
    for label, value in [("modulus n itself", n), ("n + 1", n + 1), ("zero", 0), ("one", 1),
                         ("n - 1", n - 1)]:
        for alg in ["RS256", "PS256"]:
            add(f"{alg} signature = {label}", alg, "rs256-a", data, int_bytes(value, k), "invalid",
                rsa_key)
    add("RS256 signature = 0xff * k", "RS256", "rs256-a", data, b"\xff" * k, "invalid", rsa_key)
    add("RS256 signature = n as k + 1 bytes", "RS256", "rs256-a", data, int_bytes(n, k + 1),
        "invalid", rsa_key)
    digest = hashlib.sha256(data.encode()).digest()
    raw_cases = [
        ("hand-made correct encoding", pkcs1_em(k, DIGEST_INFO["256"] + digest), "ok"),
        ("block type 2", pkcs1_em(k, DIGEST_INFO["256"] + digest, block_type=2), "invalid"),
        ("padding bytes not 0xff", pkcs1_em(k, DIGEST_INFO["256"] + digest, ps_byte=0xFE), "invalid"),
        ("SHA-384 OID with a SHA-256 digest",
         pkcs1_em(k, DIGEST_INFO["384"][:-1] + b"\x20" + digest), "invalid"),
        ("DigestInfo without NULL parameters",
         pkcs1_em(k, bytes.fromhex("302f300b0609608648016503040201" "0420") + digest), "invalid"),
        ("garbage after the digest", pkcs1_em(k, DIGEST_INFO["256"] + digest, trailer=b"\x00" * 8),
         "invalid"),
        ("digest of other data", pkcs1_em(k, DIGEST_INFO["256"] + hashlib.sha256(b"x").digest()),
         "invalid"),
    ]
    for label, em, expect in raw_cases:
        add(f"RS256 {label}", "RS256", "rs256-a", data, rsa_raw_sign(rsa_key, em), expect, rsa_key)
    # A key that is too small is never used.
    data = signing_input("RS256", "rs1024-weak", payload)
    add("RS256 by a 1024-bit key", "RS256", "rs1024-weak", data,
        sign("RS256", keys["rs1024-weak"], data.encode()), "key_mismatch")
    data = signing_input("RS256", "rs-use-enc", payload)
    add("RS256 by a key whose use is enc", "RS256", "rs-use-enc", data,
        sign("RS256", keys["rs-use-enc"], data.encode()), "key_mismatch")

    # ECDSA.
    for alg, kid in [("ES256", "ec256-a"), ("ES384", "ec384-a"), ("ES512", "ec521-a")]:
        data, sig = valid[alg]
        size = len(sig) // 2
        der = encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
        add(f"{alg} signature in DER form", alg, kid, data, der, "invalid", keys[kid])
    data, sig = valid["ES256"]
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    high_s = int_bytes(r, 32) + int_bytes(P256_N - s, 32)
    add("ES256 with s replaced by n - s (ECDSA accepts both)", "ES256", "ec256-a", data, high_s, "ok",
        keys["ec256-a"])
    for label, rr, ss in [("r = 0", 0, s), ("s = 0", r, 0), ("r = n", P256_N, s), ("s = n", r, P256_N),
                          ("r + n (mod 2^256)", (r + P256_N) % 2**256, s)]:
        add(f"ES256 {label}", "ES256", "ec256-a", data, int_bytes(rr, 32) + int_bytes(ss, 32),
            "invalid", keys["ec256-a"])
    add("ES256 signature checked with another P-256 key", "ES256", "ec256-b", data, sig, "invalid",
        keys["ec256-b"])
    add("ES256 signature checked with a P-384 key", "ES256", "ec384-a", data, sig, "key_mismatch")
    add("ES384 signature checked with another P-384 key", "ES384", "ec384-b", *valid["ES384"],
        "invalid", keys["ec384-b"])
    data384, sig384 = valid["ES384"]
    add("ES384 signature checked as ES256", "ES256", "ec256-a", data384, sig384, "invalid",
        keys["ec256-a"])
    data = signing_input("ES256", "ec256-with-d", payload)
    add("ES256 by a key published with its private part", "ES256", "ec256-with-d", data,
        sign("ES256", keys["ec256-with-d"], data.encode()), "key_mismatch")
    data = signing_input("ES256", "ec521-a", payload)
    add("ES256 claimed for a P-521 key", "ES256", "ec521-a", data, sig, "key_mismatch")

    # Ed25519.
    # ES512: raw r || s of 2 * 66 bytes, SHA-512.
    data, sig = valid["ES512"]
    r, s = int.from_bytes(sig[:66], "big"), int.from_bytes(sig[66:], "big")
    add("ES512 with s replaced by n - s (ECDSA accepts both)", "ES512", "ec521-a", data,
        int_bytes(r, 66) + int_bytes(P521_N - s, 66), "ok", keys["ec521-a"])
    for label, rr, ss in [("r = 0", 0, s), ("s = 0", r, 0), ("r = n", P521_N, s),
                          ("s = n", r, P521_N), ("r = n + 1", P521_N + 1, s),
                          ("s = 2^528 - 1", r, 2**528 - 1), ("r + n", r + P521_N, s)]:
        rr_bytes = int_bytes(rr, 66) if rr < 2**528 else int_bytes(rr % 2**528, 66)
        add(f"ES512 {label}", "ES512", "ec521-a", data, rr_bytes + int_bytes(ss, 66),
            "invalid", keys["ec521-a"])
    add("ES512 with r and s as 65 bytes each", "ES512", "ec521-a", data,
        sig[1:66] + sig[67:], "invalid", keys["ec521-a"])
    add("ES512 with r and s as 67 bytes each", "ES512", "ec521-a", data,
        b"\x00" + sig[:66] + b"\x00" + sig[66:], "invalid", keys["ec521-a"])
    add("ES512 signature checked with another P-521 key", "ES512", "ec521-b", data, sig,
        "invalid", keys["ec521-b"])
    add("ES512 signature checked with a P-384 key", "ES512", "ec384-a", data, sig, "key_mismatch")
    add("ES384 signature checked as ES512", "ES512", "ec521-a", *valid["ES384"], "invalid",
        keys["ec521-a"])
    # The same P-521 key signing with another hash (RFC 7518 pairs P-521 with SHA-512 only).
    for hname in ["256", "384"]:
        der = keys["ec521-a"].sign(data.encode(), ec.ECDSA(HASHES[hname](), deterministic_signing=True))
        rr, ss = decode_dss_signature(der)
        add(f"ES512 over a SHA-{hname} digest", "ES512", "ec521-a", data,
            int_bytes(rr, 66) + int_bytes(ss, 66), "invalid", keys["ec521-a"])
    data521b = signing_input("ES512", "ec521-b", payload)
    sig521b = sign("ES512", keys["ec521-b"], data521b.encode())
    add("ES512 by a key whose alg is ES512", "ES512", "ec521-b", data521b, sig521b, "ok",
        keys["ec521-b"])
    data = signing_input("ES512", "ec521-off-curve", payload)
    add("ES512 by a key whose point is off the curve", "ES512", "ec521-off-curve", data,
        sign("ES512", keys["ec521-off-curve"], data.encode()), "key_mismatch")

    data, sig = valid["EdDSA"]
    s_val = int.from_bytes(sig[32:], "little")
    add("EdDSA with S + L (non-canonical)", "EdDSA", "ed-a", data,
        sig[:32] + (s_val + ED25519_L).to_bytes(32, "little"), "invalid", keys["ed-a"])
    add("EdDSA signature checked with another key", "EdDSA", "ed-b", data, sig, "invalid", keys["ed-b"])
    add("EdDSA signature checked with an RSA key", "EdDSA", "rs256-a", data, sig, "key_mismatch")
    add("EdDSA with an ES256-sized signature", "EdDSA", "ed-a", data, valid["ES256"][1], "invalid",
        keys["ed-a"])

    # HMAC: RS256 -> HS256 key confusion and short secrets.
    pub = rsa_key.public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = signing_input("HS256", "rs256-a", payload)
    for label, secret in [("PEM", pem), ("DER", der), ("modulus", int_bytes(n))]:
        add(f"HS256 keyed with the RSA public key {label}, kid of the RSA key", "HS256", "rs256-a",
            data, hmac.new(secret, data.encode(), hashlib.sha256).digest(), "key_mismatch")
    add("HS256 keyed with the RSA public key PEM, no kid", "HS256", None, data,
        hmac.new(pem, data.encode(), hashlib.sha256).digest(), "invalid", keys["hs256-a"])
    data = signing_input("HS512", "hs-short32", payload)
    add("HS512 with a 32-byte secret", "HS512", "hs-short32", data,
        hmac.new(keys["hs-short32"], data.encode(), hashlib.sha512).digest(), "key_mismatch")
    data = signing_input("HS384", "hs256-a", payload)
    add("HS384 with a key whose alg is HS256", "HS384", "hs256-a", data,
        hmac.new(keys["hs256-a"], data.encode(), hashlib.sha384).digest(), "key_mismatch")
    data, sig = valid["HS256"]
    add("HS256 tag truncated to 16 bytes", "HS256", "hs256-a", data, sig[:16], "invalid",
        keys["hs256-a"])
    data = signing_input("HS256", "hs-short32", payload)
    add("HS256 signature checked with another 32-byte secret", "HS256", "hs-short32",
        valid["HS256"][0], valid["HS256"][1], "invalid", keys["hs-short32"])

    doc = {
        "description": "Known-answer JWS signature vectors made with pyca/cryptography "
                       "(OpenSSL) by generate.py. expect: ok | invalid | key_mismatch "
                       "(no candidate key for alg + kid).",
        "jwks": {"keys": jwks},
        "expect_skipped": expect_skipped,
        "cases": cases,
        "TEST_ONLY_private_keys": {kid: private_pem(key) for kid, key in sorted(keys.items())},
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases, {len(jwks)} keys to {OUT}")


if __name__ == "__main__":
    main()
