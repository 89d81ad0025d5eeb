"""Every Envoy config shipped in envoy/ must pass `envoy --mode validate`.

Validation runs from the repo root (configs name dist/*.wasm relative to it).
Note: validate mode really loads each Wasm module and runs its on_configure, so
this also checks the plugin configuration JSON against the filter's own parser;
it needs dist/ built first (`make e2e` does that).
"""

from __future__ import annotations

import pytest

from harness import keys
from harness.envoy import REPO_ROOT, validate

CONFIGS = sorted((REPO_ROOT / "envoy").rglob("*.yaml"))


def test_there_are_configs():
    assert CONFIGS, "no envoy/**/*.yaml found"


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c.relative_to(REPO_ROOT)) for c in CONFIGS])
def test_envoy_validates(config):
    r = validate(config, cwd=REPO_ROOT)
    built = any((REPO_ROOT / "dist").glob("*.wasm"))
    hint = "" if built else "\n(dist/ has no .wasm: run `make wasm` first)"
    assert r.returncode == 0, f"envoy --mode validate failed:\n{r.stdout}\n{r.stderr[-4000:]}{hint}"


def test_demo_jwks_matches_demo_private_key():
    """demo.yaml's inline JWKS must hold the public half of the committed demo key,
    or tokens minted by tests/demo.py would never verify."""
    pem = (REPO_ROOT / "envoy" / "demo" / "demo-es256-private.pem").read_bytes()
    jwk = keys.KeyPair.from_private_pem(pem, "ES256", "demo-es256").public_jwk()
    text = (REPO_ROOT / "envoy" / "demo.yaml").read_text()
    for member in ("x", "y"):
        assert f'"{member}": "{jwk[member]}"' in text
    assert '"kid": "demo-es256"' in text
