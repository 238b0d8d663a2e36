# syntax=docker/dockerfile:1

# --- build ---------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Manifests first, so the dependency layer is cached across source changes.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin opsmate \
 && mkdir -p /empty-data

# --- standby: two machines on LiteFS (fly.standby.toml builds this target) -------
# LiteFS mounts the replicated database over FUSE, which needs root and fuse3; it
# runs opsmate itself (litefs.yml's exec) and holds the primary lease.
FROM debian:bookworm-slim AS standby
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates fuse3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=flyio/litefs:0.5 /usr/local/bin/litefs /usr/local/bin/litefs
COPY --from=build /src/target/release/opsmate /usr/local/bin/opsmate
COPY litefs.yml /etc/litefs.yml
ENV OPSMATE_HTTP__LISTEN=0.0.0.0:8080 \
    OPSMATE_STORAGE__PATH=/litefs/opsmate.db \
    OPSMATE_STANDBY__PRIMARY_FILE=/litefs/.primary
EXPOSE 8080
ENTRYPOINT ["litefs", "mount"]

# --- run (the default target: one machine) ----------------------------------------
# distroless/cc: glibc and CA certificates, no shell, runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/opsmate /usr/local/bin/opsmate
COPY --from=build --chown=65532:65532 /empty-data /data
ENV OPSMATE_HTTP__LISTEN=0.0.0.0:8080 \
    OPSMATE_STORAGE__PATH=/data/opsmate.db
VOLUME ["/data"]
EXPOSE 8080
USER nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/opsmate", "probe"]
ENTRYPOINT ["/usr/local/bin/opsmate"]
CMD ["--log-format", "json", "serve"]
