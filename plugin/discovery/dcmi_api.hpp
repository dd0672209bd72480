#pragma once

// The part of Huawei's DCMI C API (libdcmi.so, shipped with the Ascend driver) this plugin
// calls, written from the published signatures. Every call returns 0 on success and a negative
// DCMI error code otherwise. Ids: a card holds one or more devices (chips); card_id/device_id
// address a chip in most calls; logic and physical ids are the driver's two numberings.

inline constexpr int kDcmiChipNameLength = 32;  // MAX_CHIP_NAME_LEN in dcmi_interface_api.h

extern "C" {

struct dcmi_chip_info {
  unsigned char chip_type[kDcmiChipNameLength];  // e.g. "Ascend"
  unsigned char chip_name[kDcmiChipNameLength];  // e.g. "910B3"
  unsigned char chip_ver[kDcmiChipNameLength];   // e.g. "V1"
  unsigned int aicore_cnt;
};

using DcmiInitFn = int (*)();
using DcmiGetCardNumListFn = int (*)(int* card_num, int* card_list, int list_len);
using DcmiGetDeviceNumInCardFn = int (*)(int card_id, int* device_num);
using DcmiGetDeviceLogicIdFn = int (*)(int* device_logic_id, int card_id, int device_id);
using DcmiGetDevicePhyidFromLogicidFn = int (*)(unsigned int logicid, unsigned int* phyid);
using DcmiGetDeviceHealthFn = int (*)(int card_id, int device_id, unsigned int* health);
using DcmiGetDeviceErrorcodeV2Fn = int (*)(int card_id, int device_id, int* error_count,
                                           unsigned int* error_code_list, unsigned int list_len);
using DcmiGetDeviceChipInfoFn = int (*)(int card_id, int device_id, dcmi_chip_info* chip_info);

}  // extern "C"
