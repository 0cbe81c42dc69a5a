# syntax=docker/dockerfile:1
# qwen3-tts-talker: the token stage (talker + code predictor).
# Build from the repository root:
#   docker build -f deploy/talker.Dockerfile -t qwen3-tts-talker:0.1.0 .
# Stage 1 builds every target with scripts/setup.sh (Debian 12 packages + cmake/ninja); stage 2
# is debian:bookworm-slim with only the shared libraries the binary links against.

FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
# setup.sh runs apt-get itself (as root here) and then cmake -G Ninja + cmake --build.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG BUILD_TYPE=Release
RUN BUILD_DIR=build BUILD_TYPE=${BUILD_TYPE} scripts/setup.sh \
 && test -x build/services/talker/qwen3-tts-talker \
 && strip build/services/talker/qwen3-tts-talker

FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# Runtime packages of the -dev packages in scripts/apt-packages.txt (apt-cache depends):
# libtorch-dev -> libtorch1.13, libgrpc++-dev -> libgrpc++1.51 (+ libgrpc29), libprotobuf-dev ->
# libprotobuf32, libabsl-dev -> libabsl20220623, prometheus-cpp-dev -> libprometheus-cpp-core1.0,
# libyaml-cpp-dev -> libyaml-cpp0.7, libicu-dev -> libicu72, libsndfile1-dev -> libsndfile1,
# libsoxr-dev -> libsoxr0, libopus-dev -> libopus0, libogg-dev -> libogg0, libmp3lame-dev ->
# libmp3lame0; libopenblas0-openmp is the BLAS libtorch uses (reference BLAS is ~17x slower).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
      ca-certificates \
      libtorch1.13 \
      libopenblas0-openmp \
      libgrpc++1.51 \
      libgrpc29 \
      libprotobuf32 \
      libabsl20220623 \
      libprometheus-cpp-core1.0 \
      libyaml-cpp0.7 \
      libicu72 \
      libsndfile1 \
      libsoxr0 \
      libopus0 \
      libogg0 \
      libmp3lame0 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 qwen3tts \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin qwen3tts
COPY --from=build /src/build/services/talker/qwen3-tts-talker /usr/local/bin/qwen3-tts-talker
# Example config (Kubernetes mounts the chart's ConfigMap over it); models are mounted at /models.
COPY deploy/config/talker.yaml /etc/qwen3-tts/talker.yaml
USER 10001:10001
# gRPC, Prometheus /metrics.
EXPOSE 50051 9101
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/qwen3-tts-talker", "--config", "/etc/qwen3-tts/talker.yaml"]
