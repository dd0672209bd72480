# LLaMA-Factory for Huawei Ascend NPUs (910B), the workload image LlamaFactoryJob pods run.
#
# Build on a machine with a Docker engine (or buildah/kaniko), from a LLaMA-Factory
# checkout as the context:
#   docker build -f /path/to/ascend-factory/deploy/images/llamafactory-npu.Dockerfile \
#     --build-context ascendfactory=/path/to/ascend-factory \
#     --build-arg INSTALL_DEEPSPEED=false -t <registry>/llamafactory-npu:<tag> .
# (the named context `ascendfactory` brings our progress reporter's source, reporter/).
# then point jobs at it with `spec.image` or the operator's --default-image.
#
# The base image carries CANN (the Ascend toolkit); choose the variant that matches the
# host driver. Other published variants of the same base:
#   ascendai/cann:8.0.rc1-910b-ubuntu22.04-py3.8
#   ascendai/cann:8.0.rc1-910b-openeuler22.03-py3.8
#   ascendai/cann:8.0.rc1-910b-openeuler22.03-py3.9
#   ascendai/cann:8.0.0-910b-ubuntu22.04-py3.10
ARG BASE_IMAGE=ascendai/cann:8.0.rc1-910b-ubuntu22.04-py3.9
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive

# Extra dependencies: DeepSpeed for ZeRO configs, off by default.
ARG INSTALL_DEEPSPEED=false
# Python package index and the index torch / torch-npu come from (a mirror, if you have one).
ARG PIP_INDEX=https://pypi.org/simple
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

WORKDIR /app

# Requirements first, so that a source change does not reinstall every dependency.
COPY requirements.txt /app/
RUN pip config set global.index-url "$PIP_INDEX" && \
    pip config set global.extra-index-url "$TORCH_INDEX" && \
    python -m pip install --upgrade pip && \
    python -m pip install -r requirements.txt

# The source, installed editable with the NPU extras.
COPY . /app
RUN EXTRA_PACKAGES="torch-npu,metrics"; \
    if [ "$INSTALL_DEEPSPEED" = "true" ]; then EXTRA_PACKAGES="${EXTRA_PACKAGES},deepspeed"; fi; \
    pip install -e ".[$EXTRA_PACKAGES]"

# lfjob-progress, the progress reporter the operator runs beside llamafactory-cli on rank 0 of
# a training job: it follows trainer_log.jsonl and posts to the operator's status server
# (status.progress). Built here against the base image's own libcurl; LLaMA-Factory is unchanged.
COPY --from=ascendfactory reporter/ /opt/ascend-factory/reporter/
RUN apt-get update && \
    apt-get install -y --no-install-recommends g++ libcurl4-openssl-dev nlohmann-json3-dev && \
    g++ -std=c++20 -O2 -I/opt/ascend-factory -o /usr/local/bin/lfjob-progress \
      /opt/ascend-factory/reporter/main.cpp /opt/ascend-factory/reporter/follower.cpp \
      /opt/ascend-factory/reporter/poster.cpp -lcurl && \
    apt-get purge -y g++ libcurl4-openssl-dev nlohmann-json3-dev && \
    apt-get install -y --no-install-recommends libcurl4 && \
    rm -rf /var/lib/apt/lists/* /opt/ascend-factory

# Model caches, datasets and training output live on volumes (the operator mounts them).
VOLUME [ "/root/.cache/huggingface", "/root/.cache/modelscope", "/app/data", "/app/output" ]

# LLaMA Board (web UI) and the OpenAI-style API.
ENV GRADIO_SERVER_PORT=7860
EXPOSE 7860
ENV API_PORT=8000
EXPOSE 8000
