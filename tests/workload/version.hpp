// What the stand-in calls itself, everywhere it names itself.
#pragma once

namespace ascend::standin {

#ifndef STANDIN_VERSION
#define STANDIN_VERSION "0.0.0"
#endif

inline constexpr const char* kStandinVersion = STANDIN_VERSION;
inline constexpr const char* kStandinBanner =
    "ascend-factory LLaMA-Factory stand-in: a test workload with LLaMA-Factory's command "
    "surface; it loads no model and runs no NPU kernels";

}  // namespace ascend::standin
