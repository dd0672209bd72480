# llamafactory-operator, for clusters that build images with a Docker engine.
# Build from the repository root:
#   docker build -f deploy/images/llamafactory-operator.Dockerfile -t <registry>/llamafactory-operator:<tag> .
# (Without an engine, deploy/oci/build-image.sh makes an equivalent image from a local build.)
# tests/chart/dockerfile_test.sh checks this file without an engine: the sources copied below
# configure the target, and the final stage's packages hold every library the binary loads.

# --- build: Debian's compilers and -dev packages, only the sources the program needs
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev \
      protobuf-compiler libcpprest-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev \
      prometheus-cpp-dev libcli11-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY kube/ kube/
COPY operator/ operator/
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DASCEND_BUILD_TESTS=OFF && \
    cmake --build /build --target llamafactory-operator && \
    strip /build/operator/llamafactory-operator

# --- final: bookworm-slim with only the runtime libraries, running as a non-root user
# (uid 65532, as in deploy/oci/build-image.sh and the chart's securityContext)
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 ca-certificates && rm -rf /var/lib/apt/lists/* && \
    useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin nonroot
COPY --from=build /build/operator/llamafactory-operator /usr/local/bin/llamafactory-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/llamafactory-operator"]
