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


def _connection_managers(node):
    """Every HttpConnectionManager typed_config in a bootstrap document."""
    if isinstance(node, dict):
        if str(node.get("@type", "")).endswith("HttpConnectionManager"):
            yield node
        for v in node.values():
            yield from _connection_managers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _connection_managers(v)


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c.relative_to(REPO_ROOT)) for c in CONFIGS])
def test_configs_ship_the_recommended_settings_and_stats_tags(config):
    """README's recommended connection-manager settings and the stats_tags
    rules (envoy/stats_tags.json) are in every config, so a copied example
    is safe and its metrics are labelled."""
    import yaml

    from harness.envoy import RECOMMENDED_HCM, STATS_TAGS

    doc = yaml.safe_load(config.read_text())
    assert doc.get("stats_config", {}).get("stats_tags") == STATS_TAGS, config
    hcms = list(_connection_managers(doc))
    assert hcms, f"{config}: no HTTP connection manager"
    for hcm in hcms:
        for key, want in RECOMMENDED_HCM.items():
            assert hcm.get(key) == want, f"{config}: {key} is {hcm.get(key)!r}, want {want!r}"
