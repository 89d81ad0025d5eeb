# Debian's prometheus binary (a Go program that links only libc).
FROM scratch
COPY base/ /
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/prometheus"]
