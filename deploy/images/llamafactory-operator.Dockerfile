# llamafactory-operator, for clusters that build images with a Docker engine.
# Build from the repository root:
#   docker build -f deploy/images/llamafactory-operator.Dockerfile -t <registry>/llamafactory-operator:<tag> .
# (Without an engine, deploy/oci/build-image.sh makes an equivalent image from a local build.)
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev \
      protobuf-compiler libcpprest-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev \
      prometheus-cpp-dev libcli11-dev libgtest-dev libgmock-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DASCEND_BUILD_TESTS=OFF && \
    cmake --build /build --target llamafactory-operator

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 ca-certificates && rm -rf /var/lib/apt/lists/* && \
    useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin nonroot
COPY --from=build /build/operator/llamafactory-operator /usr/local/bin/llamafactory-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/llamafactory-operator"]
