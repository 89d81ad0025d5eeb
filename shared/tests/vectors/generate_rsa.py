#!/usr/bin/env python3
"""Writes rsa.json: RSA verification vectors for `crypto::rsa`.

Signatures, raw RSA results and every verdict are made with pyca/cryptography
(OpenSSL) and Python's own integers, independently of the Rust code under
test. The Rust test (`shared/tests/rsa_vectors.rs`) reads the JSON and
also compares every verdict with the `rsa` crate.

    python3 -m venv /tmp/rsavenv && /tmp/rsavenv/bin/pip install cryptography
    /tmp/rsavenv/bin/python shared/tests/vectors/generate_rsa.py

Keys are FIXED: on the first run they are generated and stored in the output
under "TEST_ONLY_private_keys"; later runs load them from there. Those private
keys are throwaway test material, published on purpose: never use them for
anything else. Everything else is deterministic except the PSS salts.

Each case has "expect" (the verdict RFC 8017 requires, which the Rust code
must give) and "openssl" (what OpenSSL says, or null where it cannot be asked,
e.g. a digest of the wrong length). The script fails if the two differ,
except for the cases listed in OPENSSL_LENIENT, which it prints.
"""

import hashlib
import json
import math
import os
import random

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "rsa.json")

HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
HASHLIB = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}
DIGEST_INFO = {
    "SHA256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "SHA384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "SHA512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")

# name -> (modulus bits, e, full set of malformed cases?)
KEYS = {
    "rsa2048-e65537": (2048, 65537, True),
    "rsa3072-e65537": (3072, 65537, True),
    "rsa4096-e65537": (4096, 65537, True),
    "rsa2048-e3": (2048, 3, True),
    # The largest e the Rust API (and the rsa crate) accepts.
    "rsa2048-emax": (2048, 2**33 - 1, True),
    # Moduli whose length is not a multiple of 8: emLen = k - 1 (2049) and
    # two top bits of EM cleared in PSS (3071).
    "rsa2049-e65537": (2049, 65537, True),
    "rsa3071-e65537": (3071, 65537, True),
    "rsa8192-e65537": (8192, 65537, False),
}

# Cases where OpenSSL is laxer than RFC 8017: it takes a signature one byte
# short (k - 1 bytes) when the k-byte one starts with 0x00, which RFC 8017
# §8.1.2 / §8.2.2 step 1 rejects. Reported, and "expect" follows the RFC.
OPENSSL_LENIENT = {"len-k-1"}

rng = random.Random(20261125)


def i2b(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def b2i(data: bytes) -> int:
    return int.from_bytes(data, "big")


def load_or_make_keys():
    stored = {}
    if os.path.exists(OUT):
        with open(OUT) as f:
            stored = json.load(f).get("TEST_ONLY_private_keys", {})
    keys = {}
    for name, (bits, e, _) in KEYS.items():
        if name in stored:
            s = stored[name]
            p, q, e = int(s["p"], 16), int(s["q"], 16), s["e"]
        else:
            p, q = make_primes(bits, e)
        keys[name] = make_private_key(p, q, e)
        assert keys[name].key_size == bits, name
    return keys


def make_primes(bits, e):
    """Two primes whose product has exactly `bits` bits and that suit `e`
    (gcd(e, p-1) = gcd(e, q-1) = 1). Even sizes use primes from keys OpenSSL
    generates; OpenSSL rounds odd sizes down, so those use Miller-Rabin here."""
    while True:
        if bits % 2 == 0:
            nums = rsa.generate_private_key(public_exponent=65537, key_size=bits).private_numbers()
            p, q = nums.p, nums.q
        else:
            p, q = random_prime(bits // 2 + 1), random_prime(bits // 2)
        if (p * q).bit_length() != bits:
            continue
        if math.gcd(e, p - 1) == 1 and math.gcd(e, q - 1) == 1:
            return p, q


def random_prime(bits):
    """A random prime of exactly `bits` bits, top two bits set."""
    while True:
        c = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if is_probable_prime(c):
            return c


def is_probable_prime(c, rounds=64):
    for small in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if c % small == 0:
            return c == small
    d, r = c - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, c - 1), d, c)
        if x in (1, c - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, c)
            if x == c - 1:
                break
        else:
            return False
    return True


def make_private_key(p, q, e):
    n = p * q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    d = pow(e, -1, lam)
    nums = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=d % (p - 1),
        dmq1=d % (q - 1),
        iqmp=pow(q, -1, p),
        public_numbers=rsa.RSAPublicNumbers(e, n),
    )
    return nums.private_key()


def raw_sign(priv, em: bytes) -> bytes:
    nums = priv.private_numbers()
    n = nums.public_numbers.n
    k = (n.bit_length() + 7) // 8
    m = b2i(em)
    assert m < n
    return i2b(pow(m, nums.d, n), k)


def openssl_verdict(pub, scheme, hname, digest, sig):
    h = HASHES[hname]()
    if len(digest) != h.digest_size:
        return None
    if scheme == "pkcs1":
        pad = padding.PKCS1v15()
    else:
        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
    try:
        pub.verify(sig, digest, pad, utils.Prehashed(h))
        return True
    except InvalidSignature:
        return False


def mgf1(hname, seed, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += HASHLIB[hname](seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def pss_encode(mod_bits, hname, digest, *, salt_len=None, mgf_hash=None,
               trailer=0xBC, set_top_bits=0, separator=0x01,
               ps_byte=None, h_override=None):
    """EMSA-PSS-ENCODE (RFC 8017 §9.1.1), with knobs to break one rule."""
    h_len = HASHLIB[hname]().digest_size
    if salt_len is None:
        salt_len = h_len
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    salt = bytes(rng.getrandbits(8) for _ in range(salt_len))
    m_prime = b"\x00" * 8 + digest + salt
    h = HASHLIB[hname](m_prime).digest() if h_override is None else h_override
    ps_len = em_len - salt_len - h_len - 2
    assert ps_len >= 0
    ps = bytearray(ps_len)
    if ps_byte is not None:
        ps[ps_len // 2] = ps_byte
    db = bytes(ps) + bytes([separator]) + salt
    db_mask = mgf1(mgf_hash or hname, h, em_len - h_len - 1)
    masked = bytearray(a ^ b for a, b in zip(db, db_mask))
    zero_bits = 8 * em_len - em_bits
    masked[0] &= 0xFF >> zero_bits
    if set_top_bits:
        # Bits that must be zero (RFC 8017 §9.1.2 step 6).
        assert set_top_bits & (0xFF >> zero_bits) == 0
        masked[0] |= set_top_bits
    em = bytes(masked) + h + bytes([trailer])
    k = (mod_bits + 7) // 8
    return b"\x00" * (k - em_len) + em


def pkcs1_encode(k, prefix, digest, *, ps_len=None, block_type=0x01,
                 first=0x00, pad_byte=None, pad_at=None, separator=0x00,
                 trailer=b""):
    t = prefix + digest
    if ps_len is None:
        ps_len = k - len(t) - 3 - len(trailer)
    ps = bytearray(b"\xff" * ps_len)
    if pad_byte is not None:
        ps[pad_at] = pad_byte
    em = bytes([first, block_type]) + bytes(ps) + bytes([separator]) + t + trailer
    assert len(em) <= k, (len(em), k)
    # A shorter block is left-padded with zeros (making it a different,
    # malformed, k-byte EM).
    return b"\x00" * (k - len(em)) + em


def main():
    keys = load_or_make_keys()
    doc = {
        "TEST_ONLY_private_keys": {},
        "keys": {},
        "cases": [],
        "raw": [],
    }
    cases = doc["cases"]
    openssl_differs = []

    def add(name, key, scheme, hname, digest, sig, expect):
        pub = keys[key].public_key()
        verdict = openssl_verdict(pub, scheme, hname, digest, sig)
        if verdict is not None and verdict != expect:
            line = f"{key} {scheme} {hname} {name}: expected {expect}, OpenSSL says {verdict}"
            if name not in OPENSSL_LENIENT:
                raise SystemExit(line)
            openssl_differs.append(line)
        cases.append({
            "name": name,
            "key": key,
            "scheme": scheme,
            "hash": hname,
            "digest": digest.hex(),
            "sig": sig.hex(),
            "expect": expect,
            "openssl": verdict,
        })

    for key, (bits, e, full) in KEYS.items():
        priv = keys[key]
        nums = priv.private_numbers()
        n = nums.public_numbers.n
        k = (n.bit_length() + 7) // 8
        doc["TEST_ONLY_private_keys"][key] = {"p": hex(nums.p)[2:], "q": hex(nums.q)[2:], "e": e}
        doc["keys"][key] = {"n": i2b(n, k).hex(), "e": e, "bits": bits}
        pub = priv.public_key()

        # Raw public operation.
        raws = [0, 1, 2, 3, n - 1, n - 2, (n - 1) // 2, 1 << (bits - 1), (1 << (bits - 1)) - 1]
        raws += [rng.randrange(n) for _ in range(6 if full else 2)]
        raws += [rng.getrandbits(64), rng.randrange(n >> 200)]
        for s in raws:
            doc["raw"].append({"key": key, "s": i2b(s, k).hex(), "out": i2b(pow(s, e, n), k).hex()})
        for s in [n, n + 1, n + 2, (1 << (8 * k)) - 1, 2 * n if 2 * n < 1 << (8 * k) else n + 3]:
            doc["raw"].append({"key": key, "s": i2b(s, k).hex(), "out": None})
        for bad in [b"", b"\x01", i2b(1, k - 1), i2b(1, k + 1), i2b(0, k + 1)]:
            doc["raw"].append({"key": key, "s": bad.hex(), "out": None})

        for scheme in ["pkcs1", "pss"]:
            for hname in HASHES:
                h = HASHES[hname]()
                msg = f"{key} {scheme} {hname}".encode()
                digest = HASHLIB[hname](msg).digest()
                if scheme == "pkcs1":
                    pad = padding.PKCS1v15()
                else:
                    pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
                sig = priv.sign(digest, pad, utils.Prehashed(h))
                add("valid", key, scheme, hname, digest, sig, True)
                if not full:
                    add("flip-last-bit", key, scheme, hname, digest,
                        sig[:-1] + bytes([sig[-1] ^ 1]), False)
                    add("s=n", key, scheme, hname, digest, i2b(n, k), False)
                    continue
                # Bit flips in the signature.
                for pos, bit in [(0, 7), (0, 0), (1, 3), (k // 2, 5), (k - 2, 1), (k - 1, 0), (k - 1, 7)]:
                    flipped = bytearray(sig)
                    flipped[pos] ^= 1 << bit
                    add(f"flip-byte{pos}-bit{bit}", key, scheme, hname, digest, bytes(flipped), False)
                # Out-of-range and trivial representatives.
                for label, s in [("s=0", 0), ("s=1", 1), ("s=n-1", n - 1), ("s=n", n),
                                 ("s=n+1", n + 1), ("s=n+sig", n + b2i(sig)),
                                 ("s=all-ff", (1 << (8 * k)) - 1)]:
                    if s < 1 << (8 * k):
                        add(label, key, scheme, hname, digest, i2b(s, k), False)
                # Wrong lengths.
                add("len-k-1", key, scheme, hname, digest, sig[1:], False)
                add("len-k-1-truncated", key, scheme, hname, digest, sig[:-1], False)
                add("len-k+1-leading-zero", key, scheme, hname, digest, b"\x00" + sig, False)
                add("len-k+1-trailing-zero", key, scheme, hname, digest, sig + b"\x00", False)
                add("len-0", key, scheme, hname, digest, b"", False)
                # Wrong digest: other message, truncated, extended, other hash.
                add("digest-other-message", key, scheme, hname,
                    HASHLIB[hname](msg + b"!").digest(), sig, False)
                add("digest-flipped-bit", key, scheme, hname,
                    digest[:-1] + bytes([digest[-1] ^ 0x80]), sig, False)
                add("digest-truncated", key, scheme, hname, digest[:-1], sig, False)
                add("digest-extended", key, scheme, hname, digest + b"\x00", sig, False)
                add("digest-empty", key, scheme, hname, b"", sig, False)
                for other in HASHES:
                    if other != hname:
                        add(f"verified-as-{other}", key, scheme, other,
                            HASHLIB[other](msg).digest(), sig, False)
                if scheme == "pkcs1":
                    pkcs1_forgeries(add, priv, key, k, hname, digest)
                else:
                    pss_forgeries(add, priv, key, bits, k, hname, digest)

    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for line in openssl_differs:
        print("known OpenSSL difference:", line)
    print(f"{len(cases)} cases, {len(doc['raw'])} raw vectors -> {OUT}")


def pkcs1_forgeries(add, priv, key, k, hname, digest):
    prefix = DIGEST_INFO[hname]
    h_len = len(digest)

    def forged(name, em, expect=False):
        add(name, key, "pkcs1", hname, digest, raw_sign(priv, em), expect)

    forged("raw-correct", pkcs1_encode(k, prefix, digest), True)
    # DigestInfo: wrong OID, other hash's OID, SHA-1, missing NULL, bad lengths.
    bad_oid = bytearray(prefix)
    bad_oid[14] ^= 0x10
    forged("oid-last-arc-changed", pkcs1_encode(k, bytes(bad_oid), digest))
    for other in DIGEST_INFO:
        if other != hname:
            forged(f"oid-of-{other}", pkcs1_encode(k, DIGEST_INFO[other][:-1] + bytes([h_len]), digest))
    forged("oid-sha1", pkcs1_encode(k, SHA1_DIGEST_INFO[:-1] + bytes([h_len]), digest))
    no_null = bytes([0x30, prefix[1] - 2, 0x30, 0x0B]) + prefix[4:15] + prefix[17:]
    forged("digestinfo-without-null", pkcs1_encode(k, no_null, digest))
    bad_len = bytearray(prefix)
    bad_len[1] += 1
    forged("digestinfo-outer-length+1", pkcs1_encode(k, bytes(bad_len), digest))
    bad_oct = bytearray(prefix)
    bad_oct[-1] -= 1
    forged("digestinfo-octet-length-1", pkcs1_encode(k, bytes(bad_oct), digest[:-1]))
    # Wrong hash inside a well-formed block.
    forged("digest-of-other-message", pkcs1_encode(k, prefix, HASHLIB[hname](b"other").digest()))
    forged("digest-last-byte-changed", pkcs1_encode(k, prefix, digest[:-1] + bytes([digest[-1] ^ 1])))
    # Padding string.
    forged("ff-count-7", pkcs1_encode(k, prefix, digest, ps_len=7, trailer=b"\x00" * (k - len(prefix) - h_len - 10)))
    forged("ff-short-by-one-leading-zero", pkcs1_encode(k, prefix, digest, ps_len=k - len(prefix) - h_len - 4))
    forged("ff-short-by-one-garbage-before-t", b"\x00\x01" + b"\xff" * (k - len(prefix) - h_len - 4) + b"\x00\x00" + prefix + digest)
    forged("garbage-between-ps-and-t", b"\x00\x01" + b"\xff" * 8 + b"\x00" + b"\x5a" * (k - len(prefix) - h_len - 11) + prefix + digest)
    ps_len = k - len(prefix) - h_len - 3
    for at in [0, ps_len // 2, ps_len - 1]:
        forged(f"ps-byte{at}-fe", pkcs1_encode(k, prefix, digest, pad_byte=0xFE, pad_at=at))
    forged("ps-byte-00", pkcs1_encode(k, prefix, digest, pad_byte=0x00, pad_at=ps_len // 2))
    forged("separator-01", pkcs1_encode(k, prefix, digest, separator=0x01))
    forged("separator-ff", pkcs1_encode(k, prefix, digest, separator=0xFF))
    # Trailing garbage after the digest (PS shortened to keep k bytes).
    forged("trailing-00", pkcs1_encode(k, prefix, digest, trailer=b"\x00"))
    forged("trailing-garbage-4", pkcs1_encode(k, prefix, digest, trailer=b"\xde\xad\xbe\xef"))
    # Block type and leading byte.
    forged("block-type-02", pkcs1_encode(k, prefix, digest, block_type=0x02))
    forged("block-type-00", pkcs1_encode(k, prefix, digest, block_type=0x00))
    forged("block-type-ff", pkcs1_encode(k, prefix, digest, block_type=0xFF))
    forged("leading-byte-01", pkcs1_encode(k, prefix, digest, first=0x01))


def pss_forgeries(add, priv, key, bits, k, hname, digest):
    h_len = len(digest)
    em_len = (bits - 1 + 7) // 8

    def forged(name, expect=False, **kw):
        em = pss_encode(bits, hname, digest, **kw)
        add(name, key, "pss", hname, digest, raw_sign(priv, em), expect)

    forged("raw-correct", True)
    for s_len in [0, 1, h_len - 1, h_len + 1, em_len - h_len - 2]:
        forged(f"salt-len-{s_len}", salt_len=s_len)
    for other in HASHLIB:
        if other != hname:
            forged(f"mgf1-{other}", mgf_hash=other)
    forged("h-of-other-message", h_override=hashlib.new(hname.lower(), b"x").digest())
    other_digest = HASHLIB[hname](b"not the message").digest()
    em = pss_encode(bits, hname, other_digest)
    add("encoded-other-digest", key, "pss", hname, digest, raw_sign(priv, em), False)
    forged("trailer-bd", trailer=0xBD)
    forged("trailer-00", trailer=0x00)
    forged("trailer-bc-missing-ff", trailer=0xFF)
    forged("separator-02", separator=0x02)
    forged("separator-00", separator=0x00)
    if em_len - 2 * h_len - 2 > 0:
        forged("ps-nonzero", ps_byte=0x01)
    n = priv.private_numbers().public_numbers.n
    zero_bits = 8 * em_len - (bits - 1)
    for bit in range(zero_bits):
        mask = 0x80 >> bit
        # The representative must stay below n to be signed: retry salts.
        for _ in range(200):
            em = pss_encode(bits, hname, digest, set_top_bits=mask)
            if b2i(em) < n:
                add(f"leftmost-bit-{bit}-set", key, "pss", hname, digest, raw_sign(priv, em), False)
                break
    if zero_bits == 0:
        # emLen = k - 1: the k-byte representative must start with 0x00.
        em = pss_encode(bits, hname, digest)
        bad = b"\x01" + em[1:]
        if b2i(bad) < n:
            add("leading-byte-nonzero", key, "pss", hname, digest, raw_sign(priv, bad), False)


if __name__ == "__main__":
    main()
