"""JWT filter configurations Envoy must refuse: `on_configure` returns false,
Envoy exits non-zero at start-up and the log names the field at fault
(`edgeward-jwt: invalid configuration: <field>: <message>`).

Each bad config is the valid base config with ONE change; the base configs
themselves start (so each refusal is due to that change).
"""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import client, keys
from harness.envoy import EnvoyStartError, cluster
from harness.jwt_e2e import inline_provider, jwt_config, jwt_filter, remote_provider, token

RSA = keys.cached_keypair("RS256")
PREFIX = "edgeward-jwt: invalid configuration: "


def base_inline() -> dict:
    return jwt_config(
        {"idp": inline_provider(RSA, claims_to_headers=[{"claim": "tenant_id", "header": "x-tenant-id"}])},
        [{"match": {"prefix": "/health"}, "requires": "none"},
         {"match": {"prefix": "/"}, "requires": {"provider": "idp"}}],
    )


def base_remote(idp) -> dict:
    return jwt_config({"idp": remote_provider(idp, algorithms=["RS256"])})


def rsa_1024_jwks() -> dict:
    weak = keys.KeyPair("RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024),
                        kid="weak-1024")
    return keys.jwks(weak)


def set_in(path, value):
    """A mutation: set cfg[path[0]][path[1]]... = value."""
    def mutate(cfg):
        node = cfg
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return mutate


def delete_in(path):
    def mutate(cfg):
        node = cfg
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    return mutate


# (id, remote base?, mutation, text that must follow "invalid configuration: ")
BAD = [
    ("unknown_top_level_field", False, set_in(["jwks_url"], "https://x"), "jwks_url", None),
    ("unknown_provider_field", False, set_in(["providers", "idp", "isuer"], "https://x"),
     "providers.idp.isuer", None),
    ("algorithm_none", False, set_in(["providers", "idp", "algorithms"], ["none"]),
     "providers.idp.algorithms[0]", None),
    ("algorithms_empty", False, set_in(["providers", "idp", "algorithms"], []),
     "providers.idp.algorithms", None),
    ("algorithms_missing", False, delete_in(["providers", "idp", "algorithms"]), "providers.idp",
     "algorithms"),
    ("rule_names_unknown_provider", False, set_in(["rules", 1, "requires"], {"provider": "nobody"}),
     "rules[1].requires", "nobody"),
    ("rule_any_names_unknown_provider", False, set_in(["rules", 1, "requires"], {"any": ["idp", "ghost"]}),
     "rules[1].requires", "ghost"),
    ("hs256_with_remote_jwks", True, set_in(["providers", "idp", "algorithms"], ["HS256"]),
     "providers.idp.algorithms", None),
    ("hs512_among_others_with_remote_jwks", True,
     set_in(["providers", "idp", "algorithms"], ["RS256", "HS512"]), "providers.idp.algorithms", None),
    ("inline_rsa_1024_bit_key", False, set_in(["providers", "idp", "jwks"], {"inline": rsa_1024_jwks()}),
     "providers.idp.jwks.inline", "1024"),
    ("claims_to_headers_Host", False,
     set_in(["providers", "idp", "claims_to_headers"], [{"claim": "tenant_id", "header": "Host"}]),
     "providers.idp.claims_to_headers[0].header", None),
    ("claims_to_headers_authorization", False,
     set_in(["providers", "idp", "claims_to_headers"], [{"claim": "sub", "header": "authorization"}]),
     "providers.idp.claims_to_headers[0].header", None),
    ("from_header_and_query_in_one_entry", False,
     set_in(["providers", "idp", "from"], [{"header": "authorization", "query": "t"}]),
     "providers.idp.from[0]", None),
    ("from_unknown_location", False,
     set_in(["providers", "idp", "from"], [{"header": "authorization", "prefix": "Bearer "},
                                          {"body": "token"}]),
     "providers.idp.from[1]", None),
    ("unmatched_unknown_value", False, set_in(["unmatched"], "sometimes"), "unmatched", None),
    ("requires_unknown_keyword", False, set_in(["rules", 0, "requires"], "nothing"),
     "rules[0].requires", None),
]


def test_base_configs_start_and_work(gateway, upstream, idp, wasm_path):
    gw = gateway([jwt_filter(wasm_path, base_inline())])
    assert client.get(gw.port, "/orders", client.bearer(token(RSA))).status == 200
    assert client.get(gw.port, "/orders").status == 401
    idp.set_jwks(keys.jwks(RSA))
    gw2 = gateway([jwt_filter(wasm_path, base_remote(idp))],
                  extra_clusters=[cluster("idp", idp.port)])
    assert client.get(gw2.port, "/orders", client.bearer(token(RSA))).status == 200


@pytest.mark.parametrize("case_id,remote,mutate,field,mentions", BAD, ids=[b[0] for b in BAD])
def test_envoy_refuses_bad_config(gateway, idp, wasm_path, case_id, remote, mutate, field, mentions):
    cfg = copy.deepcopy(base_remote(idp) if remote else base_inline())
    mutate(cfg)
    extra = [cluster("idp", idp.port)] if remote else []
    with pytest.raises(EnvoyStartError) as err:
        gateway([jwt_filter(wasm_path, cfg)], extra_clusters=extra, timeout=15)
    assert err.value.returncode not in (None, 0), "Envoy did not exit: it was killed after a timeout"
    lines = [ln for ln in err.value.log_tail.splitlines() if PREFIX in ln]
    assert lines, f"no '{PREFIX}' line in the log:\n{err.value.log_tail[-3000:]}"
    message = lines[0].split(PREFIX, 1)[1]
    if field is not None:
        assert message.startswith(field), f"field {field!r} not named first: {message!r}"
    if mentions is not None:
        assert mentions in message, f"{mentions!r} not in {message!r}"
    # the refusal never prints key material
    assert RSA.public_jwk()["n"][:32] not in err.value.log_tail
