# edgeward's Rate Limit Service (services/ratelimit-service, `make rls`) + its libraries.
FROM scratch
COPY base/ /
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/edgeward-ratelimit-service"]
