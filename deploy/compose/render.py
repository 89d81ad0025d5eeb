#!/usr/bin/env python3
"""Render the harness's Envoy configs (and the k8s examples) from filters.yaml.

    python3 deploy/compose/render.py           # rewrite deploy/compose/generated/ and deploy/k8s/
    python3 deploy/compose/render.py --check   # exit 1 if a committed file differs

The gateways' chain is exactly `filters.yaml`, in order, then the router. Everything
else (routes, clusters, the edge load balancer, the IdP stub, the echo upstream) is
fixed here. Configs are JSON-compatible YAML documents so that `envoy --mode validate`
and Python both read them as they are.

Gateways load their listener from `lds.yaml` in a watched directory: a rolling config
update is an atomic rename of a new `lds.yaml` into that directory (Envoy drains the
old listener; no restart, no dropped request).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
GENERATED = HERE / "generated"
K8S = REPO_ROOT / "deploy" / "k8s"
FILTERS_FILE = HERE / "filters.yaml"
STATS_TAGS = json.loads((REPO_ROOT / "envoy" / "stats_tags.json").read_text())
DEMO_KEY = REPO_ROOT / "envoy" / "demo" / "demo-es256-private.pem"
DEMO_KID = "demo-es256"

WASM_DIR = "/opt/edgeward"          # in the envoy image (images/envoy.Dockerfile)
CONF_DIR = "/etc/edgeward"          # the gateway's mounted, watched config directory
LISTEN_PORT = 10000                 # every Envoy's HTTP listener inside its container
ADMIN_PORT = 9901
RLS_PORT = 8081
OCI_REGISTRY = "registry.example.com/edgeward"   # placeholder in the k8s examples
VERSION = "0.1.0"

# README's recommended connection-manager settings (tests/e2e/harness/envoy.py has
# the same; test_deploy_examples checks they agree).
RECOMMENDED_HCM = {
    "normalize_path": True,
    "merge_slashes": True,
    "path_with_escaped_slashes_action": "REJECT_REQUEST",
    "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
}

ACCESS_LOG = ('[%START_TIME%] %HOSTNAME% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%" '
              "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %FILTER_STATE(wasm.edgeward.identity:PLAIN)%\n")


def load_filters(path: Path = FILTERS_FILE) -> list[dict]:
    doc = yaml.safe_load(path.read_text())
    filters = doc["filters"]
    names = [f["name"] for f in filters]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate filter names in {names}")
    for i, f in enumerate(filters):
        kind = f.get("kind")
        if kind == "wasm":
            missing = {"module", "config", "fail_closed", "istio"} - set(f)
        elif kind == "native":
            missing = {"typed_config"} - set(f)
        else:
            raise ValueError(f"{path}: filters[{i}] ({f.get('name')}): kind must be wasm or native")
        if missing:
            raise ValueError(f"{path}: filters[{i}] ({f['name']}): missing {sorted(missing)}")
    return filters


# --------------------------------------------------------------------------
# Envoy pieces
# --------------------------------------------------------------------------

def _addr(host: str, port: int) -> dict:
    return {"socket_address": {"address": host, "port_value": port}}


def dns_cluster(name: str, host: str, port: int, http2: bool = False, timeout: str = "1s",
                health_path: str | None = None) -> dict:
    """A cluster resolved through Docker's DNS every second (a restarted container
    can come back with another address)."""
    c = {
        "name": name,
        "type": "STRICT_DNS",
        "dns_refresh_rate": "1s",
        "respect_dns_ttl": False,
        "dns_lookup_family": "V4_ONLY",
        "connect_timeout": timeout,
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _addr(h, port)}} for h in host.split(",")]}]},
    }
    if http2:
        c["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }}
    if health_path:
        c["health_checks"] = [{
            "timeout": "0.5s", "interval": "0.5s", "unhealthy_threshold": 1, "healthy_threshold": 1,
            "no_traffic_interval": "0.5s", "http_health_check": {"path": health_path},
        }]
        c["common_lb_config"] = {"healthy_panic_threshold": {"value": 0}}
    return c


def wasm_http_filter(f: dict) -> dict:
    plugin = {
        "name": f["name"],
        "root_id": f.get("root_id", ""),
        "vm_config": {"vm_id": f["name"], "runtime": "envoy.wasm.runtime.v8",
                      "code": {"local": {"filename": f"{WASM_DIR}/{f['module']}.wasm"}}},
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                          "value": json.dumps(f["config"], sort_keys=True, separators=(",", ":"))},
        "allow_on_headers_stop_iteration": bool(f.get("body", False)),
        "failure_policy": "FAIL_CLOSED" if f["fail_closed"] else "FAIL_OPEN",
    }
    return {"name": f"edgeward.{f['name']}", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", "config": plugin}}


def http_filters(filters: list[dict]) -> list[dict]:
    out = []
    for f in filters:
        if f["kind"] == "wasm":
            out.append(wasm_http_filter(f))
        else:
            out.append({"name": f["name"], "typed_config": copy.deepcopy(f["typed_config"])})
    out.append({"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
    return out


def gateway_routes() -> list[dict]:
    upstream = {"cluster": "echo", "timeout": "5s"}
    return [
        {"match": {"path": "/health"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}},
        # /api/... and /catalog/... are rate limited by edgeward's rate-limit filter
        # (filters.yaml: its policies match these prefixes; /api/ fails closed,
        # /catalog/ fails open). Own routes so the access log and stats tell them apart.
        {"name": "api", "match": {"prefix": "/api/"}, "route": upstream},
        {"name": "catalog", "match": {"prefix": "/catalog/"}, "route": upstream},
        {"match": {"prefix": "/"}, "route": upstream},
    ]


def gateway_listener(filters: list[dict]) -> dict:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "edgeward",
        "codec_type": "AUTO",
        **copy.deepcopy(RECOMMENDED_HCM),
        "access_log": [{"name": "envoy.access_loggers.stdout", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {"text_format_source": {"inline_string": ACCESS_LOG}}}}],
        "route_config": {"name": "gateway", "virtual_hosts": [{
            "name": "all", "domains": ["*"], "routes": gateway_routes(),
            # Which gateway answered (tests through the edge, and curl users, see it).
            "response_headers_to_add": [{"header": {"key": "x-edgeward-gateway", "value": "%HOSTNAME%"},
                                         "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
        }]},
        "http_filters": http_filters(filters),
    }
    return {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": "gateway",
        "address": _addr("0.0.0.0", LISTEN_PORT),
        "enable_reuse_port": False,
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": hcm}]}],
    }


def gateway_lds(filters: list[dict]) -> dict:
    return {"resources": [gateway_listener(filters)]}


def gateway_bootstrap() -> dict:
    lds = f"{CONF_DIR}/lds.yaml"
    return {
        "node": {"id": "edgeward-gateway", "cluster": "edgeward"},
        "admin": {"address": _addr("0.0.0.0", ADMIN_PORT)},
        "stats_config": {"stats_tags": STATS_TAGS},
        "dynamic_resources": {"lds_config": {"resource_api_version": "V3", "path_config_source": {
            "path": lds, "watched_directory": {"path": CONF_DIR}}}},
        "static_resources": {"clusters": [
            dns_cluster("echo", "echo", LISTEN_PORT),
            dns_cluster("idp", "idp", LISTEN_PORT),
            dns_cluster("rls", "rls", RLS_PORT, http2=True),
        ]},
    }


def _simple_bootstrap(node: str, routes: list, clusters: list, extra_vhost: dict | None = None) -> dict:
    vhost = {"name": "all", "domains": ["*"], "routes": routes}
    vhost.update(extra_vhost or {})
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": node, "codec_type": "AUTO", **copy.deepcopy(RECOMMENDED_HCM),
        "route_config": {"name": node, "virtual_hosts": [vhost]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        "node": {"id": node, "cluster": node},
        "admin": {"address": _addr("0.0.0.0", ADMIN_PORT)},
        "stats_config": {"stats_tags": STATS_TAGS},
        "static_resources": {
            "listeners": [{"name": node, "address": _addr("0.0.0.0", LISTEN_PORT), "enable_reuse_port": False,
                           "filter_chains": [{"filters": [{
                               "name": "envoy.filters.network.http_connection_manager",
                               "typed_config": hcm}]}]}],
            "clusters": clusters,
        },
    }


def edge_bootstrap() -> dict:
    """The front door: both gateways behind one port, health-checked, retried on a
    failed connection, so one gateway going away costs no request."""
    retry = {"retry_on": "connect-failure,refused-stream,reset", "num_retries": 2,
             "per_try_timeout": "3s",
             "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                       "typed_config": {"@type": "type.googleapis.com/envoy.extensions."
                                                        "retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
             "host_selection_retry_max_attempts": 3}
    routes = [{"match": {"prefix": "/"}, "route": {"cluster": "gateways", "timeout": "10s",
                                                   "retry_policy": retry}}]
    return _simple_bootstrap("edge", routes, [dns_cluster("gateways", "gw1,gw2", LISTEN_PORT,
                                                          health_path="/health")])


def echo_bootstrap() -> dict:
    """The upstream: answers 200 and reflects what reached it in response headers."""
    reflect = [("x-echo-tenant", "%REQ(x-tenant-id)%"), ("x-echo-authorization", "%REQ(authorization)%"),
               ("x-echo-path", "%REQ(:path)%"), ("x-echo-served-by", "%HOSTNAME%")]
    routes = [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "echo\n"}}}]
    vh = {"response_headers_to_add": [{"header": {"key": k, "value": v},
                                       "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"} for k, v in reflect]}
    return _simple_bootstrap("echo", routes, [], vh)


def idp_bootstrap() -> dict:
    """The identity provider stub: serves /etc/idp/jwks.json (read at start-up: to
    rotate keys, rewrite the file and restart the container)."""
    routes = [{"match": {"path": "/.well-known/jwks.json"}, "direct_response": {
        "status": 200, "body": {"filename": "/etc/idp/jwks.json"}},
        "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}]},
        {"match": {"prefix": "/"}, "direct_response": {"status": 404}}]
    return _simple_bootstrap("idp", routes, [])


def demo_jwks() -> dict:
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key(DEMO_KEY.read_bytes(), password=None)
    nums = key.public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
    return {"keys": [{"kty": "EC", "crv": "P-256", "x": b64(nums.x), "y": b64(nums.y),
                      "kid": DEMO_KID, "alg": "ES256", "use": "sig"}]}


# --------------------------------------------------------------------------
# Kubernetes examples (Istio WasmPlugin, Envoy Gateway EnvoyExtensionPolicy)
# --------------------------------------------------------------------------

def oci_ref(module: str) -> str:
    return f"oci://{OCI_REGISTRY}/{module.replace('_', '-')}:{VERSION}"


def istio_wasmplugin(f: dict) -> dict:
    return {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": f"edgeward-{f['name']}", "namespace": "istio-system"},
        "spec": {
            "selector": {"matchLabels": {"istio": "ingressgateway"}},
            "url": oci_ref(f["module"]),
            "imagePullPolicy": "IfNotPresent",
            "phase": f["istio"]["phase"],
            "priority": f["istio"]["priority"],
            "failStrategy": "FAIL_CLOSE" if f["fail_closed"] else "FAIL_OPEN",
            "type": "HTTP",
            **({"pluginName": f["root_id"]} if f.get("root_id") else {}),
            "pluginConfig": copy.deepcopy(f["config"]),
        },
    }


def envoy_gateway_policy(filters: list[dict]) -> dict:
    """One EnvoyExtensionPolicy with one `wasm` entry per filter, in chain order:
    Envoy Gateway runs a policy's list in order, and several policies on the same
    target do not compose (one of them wins)."""
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyExtensionPolicy",
        "metadata": {"name": "edgeward", "namespace": "default"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "backend"}],
            "wasm": [{
                "name": f["name"],
                **({"rootID": f["root_id"]} if f.get("root_id") else {}),
                "code": {"type": "Image", "image": {"url": oci_ref(f["module"]).removeprefix("oci://")}},
                "config": copy.deepcopy(f["config"]),
                "failOpen": not f["fail_closed"],
            } for f in filters if f["kind"] == "wasm"],
        },
    }


# --------------------------------------------------------------------------

HEADER = "# GENERATED by deploy/compose/render.py from deploy/compose/filters.yaml: do not edit.\n"


def _dump(doc) -> str:
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=100)


def outputs(filters: list[dict] | None = None) -> dict[Path, str]:
    filters = load_filters() if filters is None else filters
    out = {
        GENERATED / "gateway-bootstrap.yaml": _dump(gateway_bootstrap()),
        GENERATED / "gateway-lds.yaml": _dump(gateway_lds(filters)),
        GENERATED / "edge.yaml": _dump(edge_bootstrap()),
        GENERATED / "echo.yaml": _dump(echo_bootstrap()),
        GENERATED / "idp.yaml": _dump(idp_bootstrap()),
        GENERATED / "jwks.json": json.dumps(demo_jwks(), indent=2) + "\n",
    }
    for f in filters:
        if f["kind"] == "wasm":
            out[K8S / "istio" / f"wasmplugin-{f['name']}.yaml"] = _dump(istio_wasmplugin(f))
    out[K8S / "envoy-gateway" / "envoyextensionpolicy.yaml"] = _dump(envoy_gateway_policy(filters))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare with the committed files")
    args = p.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(REPO_ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run python3 deploy/compose/render.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
