# Debian's redis-server (7.0) + the libraries ldd names. No persistence (flags in
# docker-compose.yml): a restarted Redis starts empty, as the tests expect.
FROM scratch
COPY base/ /
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/redis-server"]
