#include "plugin/discovery/dcmi.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "plugin/discovery/dcmi_api.hpp"

namespace ascend::plugin {

struct DcmiDiscovery::Api {
  DcmiInitFn init = nullptr;
  DcmiGetCardNumListFn get_card_num_list = nullptr;
  DcmiGetDeviceNumInCardFn get_device_num_in_card = nullptr;
  DcmiGetDeviceLogicIdFn get_device_logic_id = nullptr;
  DcmiGetDevicePhyidFromLogicidFn get_device_phyid_from_logicid = nullptr;
  DcmiGetDeviceHealthFn get_device_health = nullptr;
  DcmiGetDeviceErrorcodeV2Fn get_device_errorcode_v2 = nullptr;
  DcmiGetDeviceChipInfoFn get_device_chip_info = nullptr;
};

namespace {

constexpr int kMaxCards = 64;
constexpr unsigned int kMaxErrorCodes = 128;

std::string call_failed(const char* function, int rc) {
  return std::string(function) + " returned " + std::to_string(rc);
}

// Resolves one symbol into a typed function pointer. dlsym returns void*; converting it to a
// function pointer is what POSIX specifies for dlsym, so the cast is the sanctioned one.
template <typename Fn>
bool resolve(void* handle, const char* name, Fn& out, std::string& missing) {
  void* symbol = ::dlsym(handle, name);
  if (symbol == nullptr) {
    if (!missing.empty()) missing += ", ";
    missing += name;
    return false;
  }
  out = reinterpret_cast<Fn>(symbol);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  return true;
}

std::string chip_name(const dcmi_chip_info& info) {
  const auto* begin = reinterpret_cast<const char*>(info.chip_name);  // NOLINT
  return std::string(begin, ::strnlen(begin, sizeof info.chip_name));
}

}  // namespace

bool dcmi_health_is_usable(unsigned int health) {
  return health == 0 || health == 1;
}

DcmiDiscovery::DcmiDiscovery(DcmiOptions options) : options_(std::move(options)) {}

DcmiDiscovery::~DcmiDiscovery() {
  unload();
}

void DcmiDiscovery::unload() {
  if (handle_ != nullptr) ::dlclose(handle_);
  handle_ = nullptr;
  api_.reset();
  library_path_.clear();
}

Status DcmiDiscovery::load() {
  if (handle_ != nullptr) return {};
  std::vector<std::string> candidates;
  for (const auto& dir : options_.library_dirs) {
    candidates.push_back((dir / "libdcmi.so").string());
  }
  if (options_.use_linker_search) candidates.emplace_back("libdcmi.so");

  void* handle = nullptr;
  std::string loaded;
  std::string tried;
  for (const std::string& candidate : candidates) {
    handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) {
      loaded = candidate;
      break;
    }
    const char* why = ::dlerror();  // NOLINT(concurrency-mt-unsafe): one caller at a time
    tried += (tried.empty() ? "" : "; ") + (why != nullptr ? std::string(why) : candidate);
  }
  if (handle == nullptr) {
    return unavailable(
        "cannot load libdcmi.so (is the Ascend driver installed? see --driver-lib-dirs): " +
        (tried.empty() ? std::string("no directories configured") : tried));
  }

  auto api = std::make_unique<Api>();
  std::string missing;
  // Every symbol is looked up (not only up to the first missing one) so the error lists them all.
  bool complete = resolve(handle, "dcmi_init", api->init, missing);
  complete &= resolve(handle, "dcmi_get_card_num_list", api->get_card_num_list, missing);
  complete &= resolve(handle, "dcmi_get_device_num_in_card", api->get_device_num_in_card, missing);
  complete &= resolve(handle, "dcmi_get_device_logic_id", api->get_device_logic_id, missing);
  complete &= resolve(handle, "dcmi_get_device_phyid_from_logicid",
                      api->get_device_phyid_from_logicid, missing);
  complete &= resolve(handle, "dcmi_get_device_health", api->get_device_health, missing);
  complete &=
      resolve(handle, "dcmi_get_device_errorcode_v2", api->get_device_errorcode_v2, missing);
  complete &= resolve(handle, "dcmi_get_device_chip_info", api->get_device_chip_info, missing);
  if (!complete) {
    ::dlclose(handle);
    return unavailable(loaded + " lacks " + missing + " (driver too old, or not the DCMI library)");
  }
  const int rc = api->init();
  if (rc != 0) {
    ::dlclose(handle);
    return unavailable(call_failed("dcmi_init", rc) + " from " + loaded +
                       " (driver not running? check `npu-smi info` on the host)");
  }
  handle_ = handle;
  api_ = std::move(api);
  library_path_ = loaded;
  return {};
}

Result<std::vector<ChipStatus>> DcmiDiscovery::scan() {
  if (const Status loaded = load(); !loaded.ok()) return loaded.error();
  int card_count = 0;
  int cards[kMaxCards] = {};
  const int rc = api_->get_card_num_list(&card_count, cards, kMaxCards);
  if (rc != 0) return unavailable(call_failed("dcmi_get_card_num_list", rc));
  card_count = std::clamp(card_count, 0, kMaxCards);

  std::vector<ChipStatus> chips;
  for (int c = 0; c < card_count; ++c) {
    const int card = cards[c];
    int device_count = 0;
    if (api_->get_device_num_in_card(card, &device_count) != 0) continue;
    for (int device = 0; device < device_count; ++device) {
      int logic_id = -1;
      if (api_->get_device_logic_id(&logic_id, card, device) != 0 || logic_id < 0) continue;
      ChipStatus status = read_chip(card, device, logic_id);
      if (status.chip.physical_id >= 0) chips.push_back(std::move(status));
    }
  }
  std::sort(chips.begin(), chips.end(), [](const ChipStatus& a, const ChipStatus& b) {
    return a.chip.physical_id < b.chip.physical_id;
  });
  return chips;
}

ChipStatus DcmiDiscovery::read_chip(int card, int device, int logic_id) const {
  ChipStatus status;
  status.chip.card_id = card;
  status.chip.device_id = device;
  status.chip.logic_id = logic_id;
  unsigned int physical = 0;
  if (api_->get_device_phyid_from_logicid(static_cast<unsigned int>(logic_id), &physical) != 0) {
    return status;  // physical_id stays -1: the caller leaves the chip out
  }
  status.chip.physical_id = static_cast<int>(physical);

  dcmi_chip_info info{};
  if (api_->get_device_chip_info(card, device, &info) == 0) status.chip.name = chip_name(info);

  unsigned int health = 0;
  const int health_rc = api_->get_device_health(card, device, &health);
  if (health_rc != 0) {
    status.healthy = false;
    status.reason = call_failed("dcmi_get_device_health", health_rc);
    return status;
  }
  if (health == 0) return status;  // no alarm, so no fault codes to read

  // A failed code read leaves the list empty: the health value alone decides then.
  std::vector<unsigned int> codes;
  int error_count = 0;
  unsigned int buffer[kMaxErrorCodes] = {};
  if (api_->get_device_errorcode_v2(card, device, &error_count, buffer, kMaxErrorCodes) == 0) {
    codes.assign(buffer, buffer + std::clamp(error_count, 0, static_cast<int>(kMaxErrorCodes)));
  }
  DcmiVerdict verdict = classify_dcmi(health, codes, options_.faults);
  status.healthy = verdict.healthy;
  status.reason = std::move(verdict.reason);
  status.faults = std::move(verdict.faults);
  return status;
}

}  // namespace ascend::plugin
