# Dockerfile - tincan-server FROM scratch, as a non-root user, data in a volume.
#
#   docker build -t tincan .
#   docker run -d --name tincan -p 6380:6380 -v tincan-data:/data tincan
#   docker run ... tincan --requirepass secret --http-port 9090   (more flags)
#
# Stage 1 builds `make release` on Debian 12 with the packages of
# scripts/deps.sh build and collects its root filesystem with
# scripts/release-rootfs.sh: the binaries, the exact shared libraries ldd
# lists, the loader, the CA bundle (S3 over TLS), /etc/passwd with the user
# 10001 and the sample config. Stage 2 is that and nothing else: no shell.
#
# No HEALTHCHECK: Docker runs one inside the container, and this image has no
# shell, curl or redis-cli to probe with. Probe from outside instead: a TCP
# check of 6380 (or PING over RESP), or GET /healthz on the HTTP listener when
# --http-port is given. docs/operations.md, "Packaging", says more.
FROM debian:bookworm AS builder
COPY scripts/deps.sh /src/scripts/deps.sh
RUN sh /src/scripts/deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN make -j"$(nproc)" release && sh scripts/release-rootfs.sh /rootfs

FROM scratch
COPY --from=builder /rootfs/ /
COPY --from=builder --chown=10001:10001 /rootfs/data /data
USER 10001:10001
VOLUME /data
# The RESP port of packaging/tincan.conf (the HTTP listener is off unless
# --http-port is given; publish that port too then).
EXPOSE 6380
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tincan-server", "/etc/tincan/tincan.conf", "--dir", "/data", "--bind", "0.0.0.0"]
