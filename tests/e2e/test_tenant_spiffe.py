"""SPIFFE peer conditions through a real Envoy: a TLS listener that asks
for client certificates (a CA, a server and client certificates with URI
SANs, all made here), the JWT filter and the tenant filter. The filter
reads the peer's URI SAN from Envoy (`connection.uri_san_peer_certificate`)
and matches it exactly, by trust domain and path, and bound to the tenant.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.envoy import EnvoyProcess, free_port, gateway_config
from harness.tenant_e2e import AUTHZ_LOG_FORMAT, deployment, tenant_chain, user  # noqa: F401

POLICY = {
    "rules": [
        {"name": "billing", "match": {"path_prefix": "/svc/billing"}, "requires_identity": False,
         "peer": {"trust_domain": "corp", "path": "/ns/billing/**"}},
        {"name": "pay", "match": {"path_prefix": "/svc/pay"}, "requires_identity": False,
         "peer": {"spiffe_ids": ["spiffe://corp/ns/web/sa/frontend"]}},
        {"name": "mesh", "match": {"template": "/mesh/{tenant}/**"},
         "peer": {"trust_domain": "corp", "path": "/tenants/{tenant}/sa/*"}, "tenant": {"path": "tenant"}},
    ],
}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer_name, issuer_key, key, *, ca=False, sans=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(_name(subject)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(hours=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path, cert, key):
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture
def pki(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("edgeward test CA", _name("edgeward test CA"), ca_key, ca_key, ca=True)
    files = {"ca": _write(tmp_path / "ca", ca, ca_key)[0]}
    skey = ec.generate_private_key(ec.SECP256R1())
    server = _cert("localhost", ca.subject, ca_key, skey,
                   sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    files["server"] = _write(tmp_path / "server", server, skey)
    for label, uri in [("billing", "spiffe://corp/ns/billing/sa/api"),
                       ("frontend", "spiffe://corp/ns/web/sa/frontend"),
                       ("acme-worker", "spiffe://corp/tenants/acme/sa/worker"),
                       ("other-domain", "spiffe://evil/ns/billing/sa/api"),
                       ("lookalike", "spiffe://corp/ns/billingx/sa/api"),
                       ("no-uri", None)]:
        k = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.UniformResourceIdentifier(uri)] if uri else [x509.DNSName("client.test")]
        files[label] = _write(tmp_path / label, _cert(label, ca.subject, ca_key, k, sans=sans), k)
    # A certificate from a CA Envoy does not trust, claiming the billing ID.
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = _cert("rogue", _name("rogue"), rogue_key, rogue_key, ca=True)
    k = ec.generate_private_key(ec.SECP256R1())
    files["rogue"] = _write(tmp_path / "rogue", _cert(
        "rogue", rogue_ca.subject, rogue_key, k,
        sans=[x509.UniformResourceIdentifier("spiffe://corp/ns/billing/sa/api")]), k)
    return files


@pytest.fixture
def tls_gateway(request, pki, upstream, wasm_path, tmp_path):
    cfg = gateway_config(free_port(), free_port(), upstream.port,
                         tenant_chain(wasm_path, POLICY),
                         access_log_format=AUTHZ_LOG_FORMAT)
    chain = cfg["static_resources"]["listeners"][0]["filter_chains"][0]
    cert, key = pki["server"]
    chain["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            # Optional, so a request without one reaches the filter (and is refused there).
            "require_client_certificate": False,
            "common_tls_context": {
                "tls_certificates": [{"certificate_chain": {"filename": cert},
                                      "private_key": {"filename": key}}],
                "validation_context": {"trusted_ca": {"filename": pki["ca"]}},
            },
        },
    }
    proc = EnvoyProcess(cfg, workdir=tmp_path / "envoy")
    try:
        yield proc.start(20)
    finally:
        proc.stop()


def https_get(port: int, path: str, pki: dict, client_cert: str | None, headers=None):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if client_cert:
        ctx.load_cert_chain(*pki[client_cert])
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def reason(body: bytes) -> str:
    return json.loads(body)["reason"]


def test_spiffe_ids_by_trust_domain_and_path(tls_gateway, pki, upstream):
    port = tls_gateway.port
    assert https_get(port, "/svc/billing/charge", pki, "billing")[0] == 200
    for cert in ("frontend", "other-domain", "lookalike", "no-uri", None):
        before = len(upstream.requests)
        status, body = https_get(port, "/svc/billing/charge", pki, cert)
        assert (status, reason(body)) == (403, "condition_failed"), cert
        assert len(upstream.requests) == before, cert


def test_an_exact_spiffe_id(tls_gateway, pki, upstream):
    port = tls_gateway.port
    assert https_get(port, "/svc/pay/x", pki, "frontend")[0] == 200
    status, body = https_get(port, "/svc/pay/x", pki, "billing")
    assert (status, reason(body)) == (403, "condition_failed")


def test_a_certificate_from_an_untrusted_ca_never_gets_in(tls_gateway, pki, upstream):
    before = len(upstream.requests)
    with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.HTTPException, OSError)):
        https_get(tls_gateway.port, "/svc/billing/charge", pki, "rogue")
    assert len(upstream.requests) == before


def test_the_peer_bound_to_the_tenant(tls_gateway, pki, upstream):
    port = tls_gateway.port
    acme = user("acme")
    status, _ = https_get(port, "/mesh/acme/jobs", pki, "acme-worker", acme)
    assert status == 200
    assert upstream.last()["path"] == "/mesh/acme/jobs"
    before = len(upstream.requests)
    # acme's worker calling for globex, with a globex token.
    status, body = https_get(port, "/mesh/globex/jobs", pki, "acme-worker", user("globex"))
    assert (status, reason(body)) == (403, "tenant_mismatch")
    # A billing workload is not a tenant worker at all.
    status, body = https_get(port, "/mesh/acme/jobs", pki, "billing", acme)
    assert (status, reason(body)) == (403, "condition_failed")
    assert len(upstream.requests) == before
