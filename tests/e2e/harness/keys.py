"""Test key material and JWT minting.

Signing is done here (PyJWT's algorithm objects do the crypto) instead of
through `jwt.encode`, so tests control every header byte: `jwt.encode` would add
`typ`, let a header `alg` silently change the signing algorithm, and sort keys.
Here the header is exactly {"alg", "typ", "kid", **headers} (a None value removes
an entry) and the signature uses `alg` (default: the key's own algorithm),
whatever the header claims -- which is what algorithm-confusion tests need.

For fully hostile tokens use `raw_token` (no validation at all).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALGORITHMS = ("RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def now() -> int:
    return int(time.time())


def standard_claims(iss: str, aud, sub: str = "user-1", ttl: int = 300, **extra) -> dict:
    """iss/aud/sub plus iat and exp = now + ttl (ttl < 0 gives an expired token)."""
    t = now()
    claims = {"iss": iss, "aud": aud, "sub": sub, "iat": t, "exp": t + ttl}
    claims.update(extra)
    return claims


class KeyPair:
    """A signing key with a `kid`, for one JWS algorithm."""

    def __init__(self, alg: str, private_key, kid: str | None = None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        self.private_key = private_key  # bytes for HS256
        self._algo = jwt.get_algorithm_by_name(alg)

    @classmethod
    def generate(cls, alg: str, kid: str | None = None) -> "KeyPair":
        if alg in ("RS256", "PS256"):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        elif alg == "ES384":
            key = ec.generate_private_key(ec.SECP384R1())
        elif alg == "ES512":
            key = ec.generate_private_key(ec.SECP521R1())
        elif alg == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        elif alg == "HS256":
            key = os.urandom(32)
        else:
            raise ValueError(f"unsupported algorithm {alg}; one of {ALGORITHMS}")
        return cls(alg, key, kid)

    @classmethod
    def from_private_pem(cls, pem: bytes, alg: str, kid: str) -> "KeyPair":
        return cls(alg, serialization.load_pem_private_key(pem, password=None), kid)

    @property
    def is_symmetric(self) -> bool:
        return isinstance(self.private_key, (bytes, bytearray))

    @property
    def public_key(self):
        return self.private_key if self.is_symmetric else self.private_key.public_key()

    def public_jwk(self) -> dict:
        """JWK of the verification key, with kid, alg and use "sig".

        For HS256 this is a `kty: oct` JWK holding the shared secret.
        """
        jwk = self._algo.to_jwk(self.public_key, as_dict=True)
        private_or_noise = ("d", "p", "q", "dp", "dq", "qi", "key_ops")
        jwk = {k: v for k, v in jwk.items() if k not in private_or_noise}
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def private_pem(self) -> bytes:
        if self.is_symmetric:
            raise TypeError("HS256 keys have no PEM form")
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        if self.is_symmetric:
            raise TypeError("HS256 keys have no PEM form")
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, signing_input: bytes, alg: str | None = None) -> bytes:
        """JWS signature (raw r||s for ECDSA) over signing_input."""
        algo = self._algo if alg in (None, self.alg) else jwt.get_algorithm_by_name(alg)
        return algo.sign(signing_input, self.private_key)

    def __repr__(self):
        return f"KeyPair({self.alg}, kid={self.kid!r})"


@functools.lru_cache(maxsize=None)
def cached_keypair(alg: str, kid: str | None = None) -> KeyPair:
    """One key per (alg, kid) per test process: RSA generation is not free."""
    return KeyPair.generate(alg, kid or f"test-{alg.lower()}")


def jwks(*keypairs: KeyPair) -> dict:
    return {"keys": [kp.public_jwk() for kp in keypairs]}


def mint(keypair: KeyPair, claims: dict, headers: dict | None = None,
         alg: str | None = None) -> str:
    """Sign a compact JWS.

    Header = {"alg": alg or key's alg, "typ": "JWT", "kid": key's kid} updated
    with `headers`; an entry set to None is removed (e.g. {"kid": None}).
    The signature always uses `alg` (or the key's algorithm), so
    headers={"alg": "HS256"} yields a token whose header lies.
    """
    sign_alg = alg or keypair.alg
    header = {"alg": sign_alg, "typ": "JWT", "kid": keypair.kid}
    header.update(headers or {})
    header = {k: v for k, v in header.items() if v is not None}
    signing_input = f"{b64url(_json(header))}.{b64url(_json(claims))}".encode()
    return signing_input.decode() + "." + b64url(keypair.sign(signing_input, sign_alg))


def raw_token(header: dict | bytes, payload: dict | bytes, signature: bytes) -> str:
    """Assemble header.payload.signature with no validation at all.

    dicts are JSON-encoded, bytes are used as they are (so invalid JSON, odd
    encodings or duplicate keys are possible).
    """
    h = header if isinstance(header, (bytes, bytearray)) else _json(header)
    p = payload if isinstance(payload, (bytes, bytearray)) else _json(payload)
    return f"{b64url(h)}.{b64url(p)}.{b64url(signature)}"


def split(token: str) -> tuple[dict, dict, bytes]:
    """Decode a compact JWS without verifying (for tampering in tests)."""
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


def tamper_payload(token: str, **changes) -> str:
    """Same header and signature, payload claims changed: must be rejected."""
    h, p, s = token.split(".")
    claims = json.loads(b64url_decode(p))
    claims.update(changes)
    return f"{h}.{b64url(_json(claims))}.{s}"
