"""Writes fixture.json: a JWT config with RS256, ES256, EdDSA and HS256 keys and
one valid token each (exp far in the future; the fake host's clock is fixed)."""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
from harness import keys  # noqa: E402

ISS, AUD = "https://idp.bench", "bench-api"
kps = {alg: keys.cached_keypair(alg) for alg in ("RS256", "ES256", "EdDSA", "HS256")}
claims = keys.standard_claims(ISS, AUD, sub="bench-user", ttl=10 ** 9, tenant_id="acme",
                              scope="orders:read orders:write")
claims["iat"] = 1_700_000_000
claims["exp"] = 4_000_000_000
out = {"tokens": {alg: keys.mint(kp, claims) for alg, kp in kps.items()}, "configs": {}}
for alg, kp in kps.items():
    for cache in (0, 1000):
        out["configs"][f"{alg}-{cache}"] = {
            "providers": {"idp": {"issuer": ISS, "audiences": [AUD], "algorithms": [alg],
                                  "jwks": {"inline": keys.jwks(kp)}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}],
            "token_cache_size": cache,
        }
# The edge module's configuration as benches/load.py's edge case has it:
# the JWT filter (tenant from `tenant_id`) then one tenant rule binding the
# path's tenant, needing scope orders:read, setting x-tenant-id.
jwt = dict(out["configs"]["RS256-1000"])
jwt["providers"] = {"idp": dict(jwt["providers"]["idp"], tenant_claim="tenant_id")}
out["configs"]["edge"] = {"jwt": jwt, "tenant": {
    "identity_headers": [{"header": "x-tenant-id", "value": "tenant"}],
    "rules": [{"name": "orders", "match": {"template": "/v1/tenants/{tenant}/orders", "methods": ["GET"]},
               "scopes": {"all_of": ["orders:read"]}, "tenant": {"path": "tenant"}}],
}}
Path(__file__).with_name("fixture.json").write_text(json.dumps(out))
