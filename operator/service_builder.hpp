// The two Services of a LlamaFactoryJob.
#pragma once

#include "operator/job.hpp"

namespace ascend::op {

/// `<job>-workers`: headless (clusterIP None), selecting every rank, publishing addresses of
/// Pods that are not ready yet, so each rank resolves `<job>-worker-0.<job>-workers.<ns>.svc`
/// (MASTER_ADDR) before rank 0's torchrun listens.
Json build_headless_service(const Job& job);

/// `<job>`: spec.service.type, ports 7860 `webui` and 8000 `api` to rank 0.
Json build_service(const Job& job);

}  // namespace ascend::op
