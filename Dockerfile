# The production image: the release server (no sandbox), its browser bundle,
# and nothing else; migrations are compiled into the binary and run at start.
# Build: docker build -t contact-manager .   (docs/deploy.md)
#
# Stage 1 builds with the project's own script, which installs the pinned
# tools it needs (the wasm target, wasm-bindgen-cli, wasm-opt from the npm
# registry) exactly as on a developer's machine.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash scripts/build

# Stage 2: a small runtime, run as a user without privileges.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --home-dir /app contact-manager
WORKDIR /app
COPY --from=build /src/target/release/contact-manager /app/contact-manager
COPY --from=build /src/target/site /app/site
USER 10001
ENV CM_BIND=0.0.0.0:3000 \
    CM_SITE_ROOT=/app/site \
    CM_LOG_FORMAT=json
EXPOSE 3000
# Liveness; the load balancer asks /readyz (the database answers) itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
# SIGTERM: in-flight requests get CM_SHUTDOWN_GRACE_SECS, held deliveries finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/contact-manager"]
CMD ["serve"]
