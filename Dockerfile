# syntax=docker/dockerfile:1
# One image for every berth service: `berth serve clock`, `berth serve rates`,
# `berth worker multivac`, `berth rates load FILE`, ...
#
#   docker build -t berth .                      # builds the static binary inside
#   podman build --format docker -t berth \      # packages a binary built outside
#     --build-arg BINARY_FROM=prebuilt --build-arg PREBUILT_DIR=target/prebuilt .
#
# The prebuilt way needs $PREBUILT_DIR/berth (a static x86_64-unknown-linux-musl
# binary) and $PREBUILT_DIR/ca-certificates.crt in the build context; scripts/e2e
# prepares both. `--format docker` with Podman, or HEALTHCHECK is dropped.
#
# Multi-arch (the release workflow): one static binary per platform, built outside,
# under $PREBUILT_DIR/$TARGETARCH/ (scripts/release-dist lays them out):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg BINARY_FROM=prebuilt-multiarch --build-arg PREBUILT_DIR=target/prebuilt .
# All ways end in the same final stage.

ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
# "build" (compile in the image), "prebuilt" (package $PREBUILT_DIR/berth) or
# "prebuilt-multiarch" (package $PREBUILT_DIR/$TARGETARCH/berth).
ARG BINARY_FROM=build

# ---- toolchain: musl target, C compiler and make (bundled SQLite, jemalloc), cargo-chef ----
FROM ${RUST_IMAGE} AS chef
ARG CARGO_CHEF_VERSION=0.1.71
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools make ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl \
 && cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}"
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_BUILD_TARGET=x86_64-unknown-linux-musl
WORKDIR /src

# ---- the dependency recipe: changes only when a Cargo.toml/Cargo.lock does ----
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- dependencies in their own cached layer, then the workspace ----
FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --profile image --locked --recipe-path recipe.json -p berth
COPY . .
ARG BERTH_GIT_SHA=unknown
ENV BERTH_GIT_SHA=${BERTH_GIT_SHA}
RUN cargo build --profile image --locked -p berth \
 && mkdir -p /out \
 && cp target/x86_64-unknown-linux-musl/image/berth /out/berth \
 && cp /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt

# ---- or: a binary built outside the image ----
FROM scratch AS prebuilt
ARG PREBUILT_DIR=target/prebuilt
COPY ${PREBUILT_DIR}/berth ${PREBUILT_DIR}/ca-certificates.crt /out/

# ---- or: one binary per target platform, built outside ($PREBUILT_DIR/amd64, /arm64) ----
FROM scratch AS prebuilt-multiarch
ARG TARGETARCH
ARG PREBUILT_DIR=target/prebuilt
COPY ${PREBUILT_DIR}/${TARGETARCH}/berth ${PREBUILT_DIR}/${TARGETARCH}/ca-certificates.crt /out/

# ---- the chosen source of /out ----
# hadolint ignore=DL3006
FROM ${BINARY_FROM} AS binary

# ---- the image: nothing but the binary, CA certificates and a passwd entry ----
FROM scratch
ARG BERTH_VERSION=dev
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.description="Five small HTTP services and their tools, one static binary" \
      org.opencontainers.image.version="${BERTH_VERSION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY deploy/image/passwd deploy/image/group /etc/
COPY --from=binary /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /out/berth /berth
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    BERTH_DATA_DIR=/data \
    BERTH_LOG_FORMAT=json \
    BERTH_HEALTHCHECK_URL=http://127.0.0.1:8080/healthcheck
USER 65532:65532
# clock, users, rates, kv, multivac, multivac worker (metrics/health)
EXPOSE 8080 8300 3000 5000 5001 9101
# Each container sets BERTH_HEALTHCHECK_URL to its own service's /healthcheck.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/berth", "healthcheck"]
ENTRYPOINT ["/berth"]
CMD ["serve"]
