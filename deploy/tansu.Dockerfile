# syntax=docker/dockerfile:1
#
# The Kafka-compatible broker tansu, for the compose stack
# (deploy/compose.yaml). Built from crates.io with the same version and
# features as scripts/broker.sh installs; the build takes several minutes.
#
#     docker build -f deploy/tansu.Dockerfile -t ratewire-tansu:0.6.0 deploy

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
ARG TANSU_VERSION=0.6.0
# libsql's bundled SQLite build may use cmake and libclang (bindgen).
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake clang libclang-dev \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo install tansu --locked --version "${TANSU_VERSION}" \
        --features dynostore,libsql --root /opt/tansu

FROM debian:${DEBIAN_RELEASE}-slim
RUN groupadd --system --gid 10002 tansu \
    && useradd --system --uid 10002 --gid 10002 --home-dir /var/lib/tansu \
        --no-create-home --shell /usr/sbin/nologin tansu \
    && install -d -o 10002 -g 10002 -m 0750 /var/lib/tansu
COPY --from=build /opt/tansu/bin/tansu /usr/local/bin/tansu
USER 10002:10002
# tansu reads a sqlite:// storage path relative to its working directory.
WORKDIR /var/lib/tansu
EXPOSE 9092
ENTRYPOINT ["tansu"]
# Memory storage: fast, and gone when the container stops. For a broker
# that keeps its messages, use --storage-engine sqlite://tansu.db with a
# volume on /var/lib/tansu.
CMD ["broker", "--storage-engine", "memory://tansu/"]
