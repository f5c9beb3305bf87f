# syntax=docker/dockerfile:1
# One image serves every function; each Cloud Run service sets FUNCTION_TARGET.

# --- build: release binary with the Swift standard library linked in statically ---
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Examples ./Examples
COPY Benchmarks ./Benchmarks
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib -Xlinker -s --product functions \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/functions" /out/functions

# --- runtime: slim Debian, CA certificates for TLS to Postgres and providers, a non-root user ---
# The binary needs only glibc, libstdc++, libgcc_s and zlib beyond itself (ldd; all in bookworm-slim, libstdc++6
# named for clarity); the Swift runtime is linked in. Tests/Image/prove-image.sh runs it on such a root filesystem.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 functions \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin functions
COPY --from=build /out/functions /usr/local/bin/functions
USER 1000:1000
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/functions"]
CMD ["serve"]
