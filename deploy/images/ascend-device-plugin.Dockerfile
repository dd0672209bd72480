# ascend-device-plugin, for clusters that build images with a Docker engine.
# Build from the repository root:
#   docker build -f deploy/images/ascend-device-plugin.Dockerfile -t <registry>/ascend-device-plugin:<tag> .
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
COPY plugin/ plugin/
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DASCEND_BUILD_TESTS=OFF && \
    cmake --build /build --target ascend-device-plugin && \
    strip /build/plugin/ascend-device-plugin

# --- final: bookworm-slim with only the runtime libraries (gRPC, protobuf and abseil are
# linked into the binary from Debian's static archives: ASCEND_PLUGIN_STATIC_GRPC; cpprestsdk
# and OpenSSL carry the chip-fault annotations to the API server)
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/plugin/ascend-device-plugin /usr/local/bin/ascend-device-plugin
# The plugin runs as root: it opens /dev/davinci*, the kubelet's socket folder and libdcmi.
USER 0:0
EXPOSE 9110
ENTRYPOINT ["/usr/local/bin/ascend-device-plugin"]
