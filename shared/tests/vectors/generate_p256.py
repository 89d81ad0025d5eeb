#!/usr/bin/env python3
"""Writes p256.json: ECDSA P-256 (ES256) vectors for `crypto::p256`.

Signatures are made with pyca/cryptography (OpenSSL, RFC 6979 deterministic
nonces) and, for the hand-built edge cases, with the small affine-coordinate
P-256 arithmetic below (Python integers). Every verdict that OpenSSL can give
is asked of OpenSSL (through cryptography, the signature DER-encoded) and must
equal the verdict the Rust code must give; the script stops otherwise. The Rust
test (`shared/tests/p256_vectors.rs`) checks each case against
`crypto::p256` and against the `p256` crate.

    python3 -m venv /tmp/p256venv && /tmp/p256venv/bin/pip install cryptography
    /tmp/p256venv/bin/python shared/tests/vectors/generate_p256.py

Deterministic: private keys are fixed integers (throwaway test material,
published on purpose), nonces are RFC 6979 or drawn from a seeded PRNG, so
the output is the same on every run.

Cases, per signing key: valid signatures (several messages, including
digests 0, n, n + 5 and 2^256 - 1, which reduce mod n), their high-S twins
(n - s, valid: OpenSSL accepts them), bit flips in r, s and the digest, r or s
equal to 0, n, n - 1, r + n or s + n, swapped r and s, wrong lengths, a DER
signature, a signature by another key. Hand-built: keys d = 1, 2, n - 1 with
signatures whose scalars u1 = z/s and u2 = r/s are chosen so that the
double-scalar multiplication meets equal points (doubling inside an
addition) and opposite points (the point at infinity mid-way), signatures
whose u1*G + u2*Q is the point at infinity (invalid), and signatures whose
R has x(R) >= n (so r = x(R) - n; valid, and x(R) itself as r is invalid).
Invalid public keys: off the curve, coordinates >= p (also one congruent to a
curve point mod p), the all-zero "identity" encoding, wrong lengths.
"""

import hashlib
import json
import os
import random

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "p256.json")

# NIST P-256 (FIPS 186-4 D.1.2.3).
P = 2**256 - 2**224 + 2**192 + 2**96 - 1
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)

rng = random.Random(0x9256_FA57)


# --- Affine arithmetic (None is the point at infinity) ----------------------


def on_curve(pt):
    x, y = pt
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def mul(k, pt):
    acc = None
    k %= N
    if k == 0:
        return None
    for bit in bin(k)[2:]:
        acc = add(acc, acc)
        if bit == "1":
            acc = add(acc, pt)
    return acc


def neg(pt):
    return None if pt is None else (pt[0], (-pt[1]) % P)


def sqrt_mod_p(a):
    # p = 3 mod 4
    r = pow(a, (P + 1) // 4, P)
    return r if r * r % P == a % P else None


assert on_curve(G)
assert mul(N, G) is None and mul(N - 1, G) == neg(G)


# --- Encoding and OpenSSL -------------------------------------------------


def be32(v):
    return v.to_bytes(32, "big")


def hexs(b):
    return b.hex()


def sig_bytes(r, s):
    return be32(r) + be32(s)


def public_key(pt):
    return ec.EllipticCurvePublicNumbers(pt[0], pt[1], ec.SECP256R1()).public_key()


def openssl_verify(pt, digest, sig):
    """OpenSSL's verdict for raw r || s, or None when it cannot be asked."""
    if len(sig) != 64 or len(digest) != 32:
        return None
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    der = utils.encode_dss_signature(r, s)
    try:
        public_key(pt).verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return True
    except InvalidSignature:
        return False


def z_of(digest):
    return int.from_bytes(digest, "big") % N


def python_verify(pt, digest, sig):
    """SEC 1 4.1.4, independently of OpenSSL (a check on the checks)."""
    if len(sig) != 64:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    w = pow(s, -1, N)
    R = add(mul(z_of(digest) * w, G), mul(r * w, pt))
    return R is not None and R[0] % N == r


def openssl_sign(d, digest):
    key = ec.derive_private_key(d, ec.SECP256R1())
    der = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True))
    return utils.decode_dss_signature(der)


def sign_with(d, digest, k):
    R = mul(k, G)
    r = R[0] % N
    s = pow(k, -1, N) * (z_of(digest) + r * d) % N
    assert r and s
    return r, s


# --- Output -----------------------------------------------------------------

keys = {}
cases = []


def add_key(name, pt, d=None):
    assert on_curve(pt) and pt is not None
    keys[name] = {"x": hexs(be32(pt[0])), "y": hexs(be32(pt[1])), "d": None if d is None else hex(d)}
    return pt


def case(key, name, digest, sig, expect):
    pt = (int(keys[key]["x"], 16), int(keys[key]["y"], 16))
    assert python_verify(pt, digest, sig) == expect, (key, name)
    verdict = openssl_verify(pt, digest, sig)
    if verdict is not None and verdict != expect:
        raise SystemExit(f"OpenSSL disagrees on {key} / {name}: openssl {verdict}, expected {expect}")
    cases.append(
        {
            "key": key,
            "name": name,
            "digest": hexs(digest),
            "sig": hexs(sig),
            "expect": expect,
            "openssl": verdict,
        }
    )


def flip(b, bit):
    out = bytearray(b)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def standard_cases(name, d, other):
    """The systematic set for a key with a known private scalar."""
    pt = mul(d, G)
    digests = [hashlib.sha256(f"{name} message {i}".encode()).digest() for i in range(4)]
    digests += [be32(0), be32(N), be32(N + 5), b"\xff" * 32, be32(1)]
    for i, digest in enumerate(digests):
        r, s = openssl_sign(d, digest)
        case(name, f"valid {i}", digest, sig_bytes(r, s), True)
        case(name, f"valid {i} high-s twin", digest, sig_bytes(r, N - s), True)
    digest = digests[0]
    r, s = openssl_sign(d, digest)
    sig = sig_bytes(r, s)
    if s > N // 2:
        s_low, s_high = N - s, s
    else:
        s_low, s_high = s, N - s
    case(name, "low s", digest, sig_bytes(r, s_low), True)
    case(name, "high s", digest, sig_bytes(r, s_high), True)
    for bit in [0, 1, 7, 8, 100, 200, 254, 255]:
        case(name, f"flip r bit {bit}", digest, flip(sig, bit), False)
        case(name, f"flip s bit {bit}", digest, flip(sig, 256 + bit), False)
        case(name, f"flip digest bit {bit}", flip(digest, bit), sig, False)
    case(name, "r = 0", digest, sig_bytes(0, s), False)
    case(name, "s = 0", digest, sig_bytes(r, 0), False)
    case(name, "r = s = 0", digest, sig_bytes(0, 0), False)
    case(name, "r = n", digest, sig_bytes(N, s), False)
    case(name, "s = n", digest, sig_bytes(r, N), False)
    case(name, "r = n - 1", digest, sig_bytes(N - 1, s), False)
    case(name, "s = n - 1", digest, sig_bytes(r, N - 1), False)
    case(name, "r = 1", digest, sig_bytes(1, s), False)
    case(name, "s = 1", digest, sig_bytes(r, 1), False)
    case(name, "r = 2^256 - 1", digest, sig_bytes(2**256 - 1, s), False)
    case(name, "s = 2^256 - 1", digest, sig_bytes(r, 2**256 - 1), False)
    if r + N < 2**256:
        case(name, "r + n", digest, sig_bytes(r + N, s), False)
    if s + N < 2**256:
        case(name, "s + n", digest, sig_bytes(r, s + N), False)
    case(name, "r and s swapped", digest, sig_bytes(s, r), False)
    case(name, "r = s", digest, sig_bytes(r, r), False)
    case(name, "negated r", digest, sig_bytes(N - r, s), False)
    case(name, "truncated (63 bytes)", digest, sig[:63], False)
    case(name, "first byte dropped", digest, sig[1:], False)
    case(name, "trailing zero (65 bytes)", digest, sig + b"\x00", False)
    case(name, "leading zero (65 bytes)", digest, b"\x00" + sig, False)
    case(name, "doubled (128 bytes)", digest, sig + sig, False)
    case(name, "r only (32 bytes)", digest, sig[:32], False)
    case(name, "empty", digest, b"", False)
    case(name, "DER encoding", digest, utils.encode_dss_signature(r, s), False)
    r2, s2 = openssl_sign(other, digest)
    case(name, "signed by another key", digest, sig_bytes(r2, s2), False)
    # A signature of another digest, and the right signature of a digest that
    # differs only in its reduction mod n.
    case(name, "signature of another digest", digests[1], sig, False)
    r0, s0 = openssl_sign(d, be32(0))
    case(name, "digest n signed as 0 (same z)", be32(N), sig_bytes(r0, s0), True)
    case(name, "digest 1 with the signature of 0", be32(1), sig_bytes(r0, s0), False)
    return pt


def chosen_scalars(name, d, u1, u2, label):
    """A valid signature whose verification computes u1*G + u2*Q, Q = d*G."""
    k = (u1 + u2 * d) % N
    if k == 0:
        # u1*G + u2*Q is the point at infinity: no r can verify.
        s = rng.randrange(1, N)
        r = u2 * s % N
        case(name, f"{label} (sum at infinity, invalid)", be32(u1 * s % N), sig_bytes(r, s), False)
        return
    R = mul(k, G)
    r = R[0] % N
    s = r * pow(u2, -1, N) % N
    z = u1 * s % N
    assert r and s and z * pow(s, -1, N) % N == u1 % N and r * pow(s, -1, N) % N == u2 % N
    digest = be32(z)
    case(name, f"{label} (valid)", digest, sig_bytes(r, s), True)
    case(name, f"{label}, high s (valid)", digest, sig_bytes(r, N - s), True)
    case(name, f"{label}, r + 1", digest, sig_bytes((r + 1) % N or 1, s), False)


# Fixed signing keys (throwaway).
fixed = {
    # The seed strings predate the module's rename; they stay, so the keys do.
    "key-a": int.from_bytes(hashlib.sha256(b"edgeward p256_fast key a").digest(), "big") % N,
    "key-b": int.from_bytes(hashlib.sha256(b"edgeward p256_fast key b").digest(), "big") % N,
    "key-c": int.from_bytes(hashlib.sha256(b"edgeward p256_fast key c").digest(), "big") % N,
    "key-d-1": 1,
    "key-d-2": 2,
    "key-d-n-1": N - 1,
    "key-d-small": 0x1234,
}
for name, d in fixed.items():
    add_key(name, mul(d, G), d)
for name, d in fixed.items():
    standard_cases(name, d, fixed["key-a"] if name != "key-a" else fixed["key-b"])

# Equal and opposite points inside the double-scalar multiplication. With
# Q = +-G, u1*G and the low digits of u2*Q meet for small u1 whenever u2 is
# congruent to +-u1 modulo a power of two (any window width up to 8 bits).
for name, d in [("key-d-1", 1), ("key-d-n-1", N - 1), ("key-d-2", 2)]:
    for u1 in [1, 5, 16, 31, 127]:
        for sign in [1, -1]:
            for t in [1, 3, 2**100 + 7]:
                u2 = (sign * u1 + 256 * t) % N
                chosen_scalars(name, d, u1, u2, f"u1 = {u1}, u2 = {'+' if sign > 0 else '-'}{u1} + 256*{t}")
    # u2 = +-u1 exactly (the whole sums equal or cancel): u1*G + u1*Q.
    for u1 in [3, 2**255 + 1234567, N - 2]:
        chosen_scalars(name, d, u1, u1, f"u1 = u2 = {u1}")
    chosen_scalars(name, d, 0, 12345, "u1 = 0 (digest 0)")
    chosen_scalars(name, d, 7, 1, "u2 = 1")
for name, d in [("key-d-small", 0x1234), ("key-d-2", 2)]:
    # u1*G + u2*dG with u1 = u2 * d (mod 2^8 or exactly): the two halves
    # of the sum meet.
    for u2 in [1, 2, 3, 9, 2**64 + 1]:
        chosen_scalars(name, d, u2 * d % N, u2, f"u1 = {d:#x} * u2, u2 = {u2}")

# A chosen small s (so that s + n still fits in 32 bytes): z = s k - r d.
for name in ["key-a", "key-b", "key-d-2"]:
    d = fixed[name]
    for bits in [1, 100, 200, 223]:
        k = rng.randrange(1, N)
        r = mul(k, G)[0] % N
        s = rng.randrange(1, 2**bits) if bits > 1 else 1
        z = (s * k - r * d) % N
        digest = be32(z)
        case(name, f"chosen s < 2^{bits} (valid)", digest, sig_bytes(r, s), True)
        case(name, f"chosen s < 2^{bits}, s + n", digest, sig_bytes(r, s + N), False)
        case(name, f"chosen s < 2^{bits}, high s (valid)", digest, sig_bytes(r, N - s), True)

# u1*G + u2*Q = O: invalid whatever r is (z = -r*d).
for name in ["key-a", "key-d-1", "key-d-n-1", "key-d-small"]:
    d = fixed[name]
    for _ in range(3):
        r = rng.randrange(1, N)
        s = rng.randrange(1, N)
        z = (-r * d) % N
        case(name, f"sum at infinity r={r:#x}", be32(z), sig_bytes(r, s), False)

# x(R) >= n: find points R with x in [n, p); pick s and z, and the key
# Q = r^-1 (s R - z G), r = x(R) - n. (No private key is known for Q.)
found = 0
x = N
while found < 4:
    x += rng.randrange(1, 2**20)
    assert x < P
    y = sqrt_mod_p((x**3 + A * x + B) % P)
    if y is None:
        continue
    R = (x, y if found % 2 == 0 else (P - y) % P)
    r = x - N
    s = rng.randrange(1, N)
    z = rng.randrange(0, N)
    Q = mul(pow(r, -1, N), add(mul(s, R), neg(mul(z, G))))
    name = f"key-x-ge-n-{found}"
    add_key(name, Q)
    digest = be32(z)
    case(name, "x(R) >= n, r = x(R) - n (valid)", digest, sig_bytes(r, s), True)
    case(name, "x(R) >= n, high s (valid)", digest, sig_bytes(r, N - s), True)
    case(name, "x(R) >= n, r = x(R) (out of range)", digest, sig_bytes(x, s), False)
    case(name, "x(R) >= n, r = x(R) - n + 1", digest, sig_bytes(r + 1, s), False)
    case(name, "x(R) >= n, r = x(R) - n - 1", digest, sig_bytes(r - 1, s), False)
    case(name, "x(R) >= n, digest + 1", be32(z + 1), sig_bytes(r, s), False)
    found += 1

# A small r: R = (x, y) with a small x, so r = x and r + n < p (the final
# check also tries r + n, which must not match). The key is built from R.
xr = 0
small_r = 0
while small_r < 2:
    xr += 1
    yr = sqrt_mod_p((xr**3 + A * xr + B) % P)
    if yr is None:
        continue
    R = (xr, yr if small_r == 0 else P - yr)
    s = rng.randrange(1, N)
    z = rng.randrange(0, N)
    Q = mul(pow(xr, -1, N), add(mul(s, R), neg(mul(z, G))))
    name = f"key-small-r-{small_r}"
    add_key(name, Q)
    digest = be32(z)
    case(name, f"r = x(R) = {xr} (valid)", digest, sig_bytes(xr, s), True)
    case(name, f"r = {xr}, high s (valid)", digest, sig_bytes(xr, N - s), True)
    case(name, f"r = {xr}, r + n", digest, sig_bytes(xr + N, s), False)
    case(name, f"r = {xr} + 1", digest, sig_bytes(xr + 1, s), False)
    case(name, f"r = {xr}, other digest", be32((z + 1) % N), sig_bytes(xr, s), False)
    small_r += 1

# The wrap-around trap: R = (x, y) with a tiny x and r = x + p - n (below n).
# r + n = x + p is congruent to x mod p, but x(R) mod n = x != r: invalid. A
# verifier that compared r + n with x(R) modulo p without checking
# r + n < p would accept. The key is built from R so that the verifier's
# u1*G + u2*Q is exactly R.
for i, (xw, sign) in enumerate([(5, 1), (5, -1)]):
    yw = sqrt_mod_p((xw**3 + A * xw + B) % P)
    assert yw is not None
    R = (xw, yw if sign > 0 else P - yw)
    r = xw + P - N
    assert r < N
    s = rng.randrange(1, N)
    z = rng.randrange(0, N)
    Q = mul(pow(r, -1, N), add(mul(s, R), neg(mul(z, G))))
    name = f"key-wrap-{i}"
    add_key(name, Q)
    case(name, f"R = ({xw}, y), r = x(R) + p - n (invalid)", be32(z), sig_bytes(r, s), False)
    case(name, f"R = ({xw}, y), r = x(R) + p - n, high s (invalid)", be32(z), sig_bytes(r, N - s), False)

# --- Invalid public keys ------------------------------------------------------

invalid_keys = []


def openssl_accepts_key(x, y):
    if x >= 2**256 or y >= 2**256:
        return None
    try:
        ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        return True
    except ValueError:
        return False


def invalid_key(name, xb, yb, openssl_lenient=False):
    """A key from_affine must refuse. `openssl_lenient`: OpenSSL is known to
    accept it (it reduces a coordinate >= p mod p); recorded, not an error."""
    verdict = None
    if len(xb) == 32 and len(yb) == 32:
        verdict = openssl_accepts_key(int.from_bytes(xb, "big"), int.from_bytes(yb, "big"))
        if verdict and not openssl_lenient:
            raise SystemExit(f"OpenSSL accepts invalid key {name}")
        if openssl_lenient:
            print(f"note: OpenSSL {'accepts' if verdict else 'refuses'} {name}; SEC 1 requires refusal")
    invalid_keys.append({"name": name, "x": hexs(xb), "y": hexs(yb), "openssl": verdict})


ga = mul(fixed["key-a"], G)
invalid_key("y + 1 (off the curve)", be32(ga[0]), be32((ga[1] + 1) % P))
invalid_key("x + 1 (off the curve)", be32((ga[0] + 1) % P), be32(ga[1]))
invalid_key("x and y swapped", be32(ga[1]), be32(ga[0]))
invalid_key("identity as (0, 0)", be32(0), be32(0))
invalid_key("(0, 1)", be32(0), be32(1))
# b is a square mod p: (0, sqrt(b)) is a curve point, a valid key.
y0 = sqrt_mod_p(B)
assert y0 is not None
add_key("key-x-zero", (0, y0))
invalid_key("(0, sqrt(b) + 1)", be32(0), be32((y0 + 1) % P))
invalid_key("x = p", be32(P), be32(ga[1]))
invalid_key("y = p", be32(ga[0]), be32(P))
invalid_key("x = y = p", be32(P), be32(P))
invalid_key("all ones", b"\xff" * 32, b"\xff" * 32)
invalid_key("x = 2^256 - 1", b"\xff" * 32, be32(ga[1]))
# A curve point with a small x, encoded with x + p (congruent mod p, >= p).
xs = 0
while True:
    xs += 1
    ys = sqrt_mod_p((xs**3 + A * xs + B) % P)
    if ys is not None:
        break
assert on_curve((xs, ys))
add_key("key-small-x", (xs, ys))
invalid_key(f"x + p for the point with x = {xs}", be32(xs + P), be32(ys), openssl_lenient=True)
invalid_key("y = p + 1", be32(xs), be32(P + 1))
ga_x, ga_y = be32(ga[0]), be32(ga[1])
invalid_key("x 31 bytes", ga_x[1:], ga_y)
invalid_key("y 33 bytes", ga_x, b"\x00" + ga_y)
invalid_key("x empty", b"", ga_y)
invalid_key("SEC1 uncompressed as x", b"\x04" + ga_x + ga_y, ga_y)

# The small-x point is a valid key (its discrete log is unknown: only
# rejection can be tested).
Rk = mul(rng.randrange(1, N), G)
case("key-x-zero", "random signature (invalid)", be32(rng.randrange(0, N)), sig_bytes(Rk[0] % N, rng.randrange(1, N)), False)
case("key-small-x", "random signature (invalid)", be32(rng.randrange(0, N)), sig_bytes(Rk[0] % N, rng.randrange(1, N)), False)

doc = {
    "description": "ECDSA P-256 / SHA-256 prehash vectors for crypto::p256; made by generate_p256.py with pyca/cryptography (OpenSSL) and Python integers",
    "curve": "P-256",
    "n": hex(N),
    "p": hex(P),
    "keys": keys,
    "cases": cases,
    "invalid_keys": invalid_keys,
}
with open(OUT, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
valid = sum(c["expect"] for c in cases)
asked = sum(c["openssl"] is not None for c in cases)
print(f"{OUT}: {len(keys)} keys, {len(cases)} cases ({valid} valid, {asked} checked by OpenSSL), {len(invalid_keys)} invalid keys")
