# The zeebe-authz image: a Rust builder stage, then a small non-root runtime image.
#
#   docker build -t zeebe-authz:0.1.0 .
#
# The builder runs exactly the command the project's own checks run for a release binary
# (`cargo build --release --locked --bin zeebe-authz`); the generated manifests in istio/
# reference the image as zeebe-authz:<crate version> (change it with `zeebe-authz istio --image`).

ARG RUST_VERSION=1.95
# The two bases, as build arguments so a check can put local bases in their place without
# editing this file (scripts/image builds it on debootstrapped Debian bookworm bases):
# BUILDER_IMAGE needs cargo and a C compiler on PATH, RUNTIME_IMAGE glibc and libgcc_s.
ARG BUILDER_IMAGE=docker.io/library/rust:${RUST_VERSION}-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
# Everything the build reads: the workspace manifest and lock file, the core and server crates
# (with the core's build script), the protos it
# compiles, the sources, the policies embedded with include_str!, and the bench targets that
# Cargo.toml declares (cargo refuses a manifest whose declared targets are missing).
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY proto ./proto
COPY policies ./policies
COPY benches ./benches
COPY src ./src
RUN cargo build --release --locked --bin zeebe-authz \
    && cp target/release/zeebe-authz /zeebe-authz

# glibc, libgcc and CA certificates, no shell, no package manager; runs as uid/gid 65532.
FROM ${RUNTIME_IMAGE}
COPY --from=builder /zeebe-authz /usr/local/bin/zeebe-authz
USER 65532:65532
# 9000: ext_authz gRPC (Check); 9001: admin HTTP (/healthz, /readyz, /metrics).
EXPOSE 9000 9001
ENV ZEEBE_AUTHZ_LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/zeebe-authz"]
CMD ["serve", "--config", "/etc/zeebe-authz/config.yaml"]
