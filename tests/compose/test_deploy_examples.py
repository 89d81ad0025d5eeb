"""The deployment examples cannot drift from what the compose tests run (no Docker needed).

- deploy/compose/generated/ and deploy/k8s/ are exactly what render.py makes of
  filters.yaml (the file the compose stack mounts comes from the same function);
- every Wasm filter's Istio WasmPlugin and its Envoy Gateway entry carry the very
  plugin config, order and failure policy of the gateway chain; auth filters fail closed;
- the rendered gateway config is valid for Envoy 1.40 with the built modules;
- `make oci` layouts read back to the exact module, every digest checked.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "deploy" / "compose"))
sys.path.insert(0, str(REPO_ROOT / "deploy"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

import oci  # noqa: E402
import render  # noqa: E402

# Filters that decide who may pass: a broken VM must refuse, never wave through.
AUTH_FILTERS = {"jwt", "tenant"}
FILTERS = render.load_filters()
WASM_FILTERS = [f for f in FILTERS if f["kind"] == "wasm"]


def test_generated_files_are_fresh():
    r = subprocess.run([sys.executable, str(render.HERE / "render.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_one_example_per_wasm_filter():
    istio = sorted(p.name for p in (render.K8S / "istio").glob("*.yaml"))
    assert istio == sorted(f"wasmplugin-{f['name']}.yaml" for f in WASM_FILTERS)


def test_auth_filters_fail_closed_everywhere():
    for f in WASM_FILTERS:
        if f["name"] in AUTH_FILTERS:
            assert f["fail_closed"] is True, f["name"]
    lds = render.gateway_lds(FILTERS)
    hcm = lds["resources"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    by_name = {h["name"]: h for h in hcm["http_filters"]}
    for f in WASM_FILTERS:
        plugin = by_name[f"edgeward.{f['name']}"]["typed_config"]["config"]
        assert plugin["failure_policy"] == ("FAIL_CLOSED" if f["fail_closed"] else "FAIL_OPEN")


def _gateway_plugin_configs() -> dict[str, dict]:
    lds = yaml.safe_load((render.GENERATED / "gateway-lds.yaml").read_text())
    hcm = lds["resources"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    out = {}
    for h in hcm["http_filters"]:
        cfg = h["typed_config"].get("config")
        if cfg and "vm_config" in cfg:
            out[cfg["name"]] = json.loads(cfg["configuration"]["value"])
    return out


def test_istio_wasmplugins_match_the_gateway_chain():
    gateway = _gateway_plugin_configs()
    for f in WASM_FILTERS:
        doc = yaml.safe_load((render.K8S / "istio" / f"wasmplugin-{f['name']}.yaml").read_text())
        spec = doc["spec"]
        assert doc["kind"] == "WasmPlugin" and doc["apiVersion"] == "extensions.istio.io/v1alpha1"
        assert spec["pluginConfig"] == gateway[f["name"]] == f["config"]
        assert spec["failStrategy"] == ("FAIL_CLOSE" if f["fail_closed"] else "FAIL_OPEN")
        assert spec["phase"] in ("AUTHN", "AUTHZ", "STATS", "UNSPECIFIED_PHASE")
        assert spec["url"] == render.oci_ref(f["module"])
    # Istio orders by phase, then priority (higher first): that must give the chain order.
    phase_rank = {"AUTHN": 0, "AUTHZ": 1, "UNSPECIFIED_PHASE": 2, "STATS": 3}
    istio_order = sorted(WASM_FILTERS, key=lambda f: (phase_rank[f["istio"]["phase"]],
                                                      -f["istio"]["priority"]))
    assert [f["name"] for f in istio_order] == [f["name"] for f in WASM_FILTERS]


def test_envoy_gateway_policy_matches_the_gateway_chain():
    doc = yaml.safe_load((render.K8S / "envoy-gateway" / "envoyextensionpolicy.yaml").read_text())
    assert doc["kind"] == "EnvoyExtensionPolicy"
    gateway = _gateway_plugin_configs()
    entries = doc["spec"]["wasm"]
    assert [e["name"] for e in entries] == [f["name"] for f in WASM_FILTERS]
    for e, f in zip(entries, WASM_FILTERS):
        assert e["config"] == gateway[f["name"]] == f["config"]
        assert e["failOpen"] is (not f["fail_closed"])
        assert e["code"]["type"] == "Image"


def test_gateway_config_has_the_recommended_settings():
    from harness.envoy import RECOMMENDED_HCM, STATS_TAGS
    assert render.RECOMMENDED_HCM == RECOMMENDED_HCM
    boot = yaml.safe_load((render.GENERATED / "gateway-bootstrap.yaml").read_text())
    assert boot["stats_config"]["stats_tags"] == STATS_TAGS
    hcm = yaml.safe_load((render.GENERATED / "gateway-lds.yaml").read_text())[
        "resources"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    for key, want in RECOMMENDED_HCM.items():
        assert hcm[key] == want, key


def test_gateway_config_validates_with_the_built_modules(tmp_path):
    """`envoy --mode validate` on the gateway config, with the listener inlined and the
    container paths pointed at dist/."""
    from harness.envoy import envoy_binary
    mods = {f["module"] for f in WASM_FILTERS}
    missing = [m for m in mods if not (REPO_ROOT / "dist" / f"{m}.wasm").exists()]
    if missing:
        pytest.fail(f"run `make wasm` first: missing {missing}")
    boot = copy.deepcopy(render.gateway_bootstrap())
    del boot["dynamic_resources"]
    listener = render.gateway_listener(FILTERS)
    text = json.dumps(listener).replace(render.WASM_DIR + "/", str(REPO_ROOT / "dist") + "/")
    listener = json.loads(text)
    listener.pop("@type")
    boot["static_resources"]["listeners"] = [listener]
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(boot))
    r = subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(path), "-l", "error"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_another_wasm_filter_is_one_more_entry(tmp_path):
    """What the integrator does for tenant/schema/ratelimit/pii: one entry more. Here a
    second instance of the JWT module stands in for it; the chain, the k8s examples and
    Envoy's validation follow with no other change."""
    from harness.envoy import envoy_binary
    extra = copy.deepcopy(next(f for f in WASM_FILTERS if f["module"] == "edgeward_jwt"))
    extra.update(name="second", istio={"phase": "AUTHZ", "priority": 10})
    filters = FILTERS[:1] + [extra] + FILTERS[1:]
    out = render.outputs(filters)
    assert render.K8S / "istio" / "wasmplugin-second.yaml" in out
    eg = yaml.safe_load(out[render.K8S / "envoy-gateway" / "envoyextensionpolicy.yaml"])
    assert [e["name"] for e in eg["spec"]["wasm"]] == \
        ["jwt", "second"] + [f["name"] for f in WASM_FILTERS[1:]]
    hcm = render.gateway_listener(filters)["filter_chains"][0]["filters"][0]["typed_config"]
    assert [h["name"] for h in hcm["http_filters"]][:2] == ["edgeward.jwt", "edgeward.second"]
    # Envoy validates the new entry next to the one it copies; the whole chain is
    # validated above (compiling every module again under `--mode validate` would cost
    # ~20 s of CPU on 2 cores for nothing new).
    boot = copy.deepcopy(render.gateway_bootstrap())
    del boot["dynamic_resources"]
    listener = json.loads(json.dumps(render.gateway_listener(filters[:2])).replace(
        render.WASM_DIR + "/", str(REPO_ROOT / "dist") + "/"))
    listener.pop("@type")
    boot["static_resources"]["listeners"] = [listener]
    (tmp_path / "g.json").write_text(json.dumps(boot))
    r = subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(tmp_path / "g.json"),
                        "-l", "error"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("module", sorted({f["module"] for f in WASM_FILTERS}))
def test_oci_layout_reads_back(tmp_path, module):
    wasm = REPO_ROOT / "dist" / f"{module}.wasm"
    if not wasm.exists():
        pytest.fail(f"run `make wasm` first: missing {wasm}")
    a = oci.pack(wasm, tmp_path / "a")
    b = oci.pack(wasm, tmp_path / "b")
    assert a == b  # reproducible: same digests
    assert oci.read_plugin(tmp_path / "a") == wasm.read_bytes()
    # A corrupted blob is caught.
    layer = tmp_path / "a" / "blobs" / "sha256" / a["layers"][0]["digest"].split(":")[1]
    data = bytearray(layer.read_bytes())
    data[-5] ^= 1
    layer.write_bytes(bytes(data))
    with pytest.raises(oci.LayoutError):
        oci.read_plugin(tmp_path / "a")


def test_make_oci_output_reads_back():
    """The layouts `make oci` wrote (if it ran) hold the current modules."""
    out = REPO_ROOT / "dist" / "oci"
    if not out.exists():
        pytest.skip("make oci has not run (test_oci_layout_reads_back covers the format)")
    for f in WASM_FILTERS:
        layout = out / f["module"]
        wasm = REPO_ROOT / "dist" / f"{f['module']}.wasm"
        if layout.exists():
            assert oci.read_plugin(layout) == wasm.read_bytes(), f"{layout} is stale: run make oci"
