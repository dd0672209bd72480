/* A fake libdcmi.so for the plugin's tests: the real dlopen path runs against it.
 *
 * The inventory is a text file, read again on every call so a test can change a chip's health
 * between two scans. Its path comes from fake_dcmi_set_inventory() or, failing that, the
 * FAKE_DCMI_INVENTORY environment variable. Lines:
 *
 *   chip <card> <device> <logic id> <physical id> <name> <health> [<hex code>,<hex code>...]
 *   fail <dcmi function name> <return code>
 *
 * A "fail" line makes that function return the code for every chip (an injected fault).
 * Blank lines and lines starting with '#' are ignored. An unreadable inventory makes every
 * call return FAKE_DCMI_NO_INVENTORY, like a driver that is not loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_DCMI_NO_INVENTORY (-8005)
#define FAKE_MAX_CHIPS 64
#define FAKE_MAX_FAULTS 16
#define FAKE_MAX_CODES 8
#define FAKE_NAME_LEN 32

struct dcmi_chip_info {
  unsigned char chip_type[FAKE_NAME_LEN];
  unsigned char chip_name[FAKE_NAME_LEN];
  unsigned char chip_ver[FAKE_NAME_LEN];
  unsigned int aicore_cnt;
};

struct fake_chip {
  int card, device, logic, physical;
  char name[FAKE_NAME_LEN];
  unsigned int health;
  int code_count;
  unsigned int codes[FAKE_MAX_CODES];
};

struct fake_fault {
  char function[64];
  int code;
};

struct fake_inventory {
  int chip_count;
  struct fake_chip chips[FAKE_MAX_CHIPS];
  int fault_count;
  struct fake_fault faults[FAKE_MAX_FAULTS];
};

static char inventory_path[4096];

/* Test hook: where the inventory lives. NULL or "" falls back to FAKE_DCMI_INVENTORY. */
void fake_dcmi_set_inventory(const char* path) {
  if (path == NULL) path = "";
  snprintf(inventory_path, sizeof inventory_path, "%s", path);
}

static void parse_codes(const char* text, struct fake_chip* chip) {
  char buffer[256];
  char* save = NULL;
  snprintf(buffer, sizeof buffer, "%s", text);
  for (char* token = strtok_r(buffer, ",", &save);
       token != NULL && chip->code_count < FAKE_MAX_CODES; token = strtok_r(NULL, ",", &save)) {
    chip->codes[chip->code_count++] = (unsigned int)strtoul(token, NULL, 16);
  }
}

/* Returns 0 and fills *inv, or FAKE_DCMI_NO_INVENTORY. */
static int load(struct fake_inventory* inv) {
  const char* path = inventory_path;
  if (path[0] == '\0') path = getenv("FAKE_DCMI_INVENTORY"); /* NOLINT(concurrency-mt-unsafe) */
  memset(inv, 0, sizeof *inv);
  if (path == NULL || path[0] == '\0') return FAKE_DCMI_NO_INVENTORY;
  FILE* file = fopen(path, "r");
  if (file == NULL) return FAKE_DCMI_NO_INVENTORY;
  char line[512];
  while (fgets(line, sizeof line, file) != NULL) {
    struct fake_chip chip;
    char codes[256] = "";
    memset(&chip, 0, sizeof chip);
    if (strncmp(line, "chip ", 5) == 0 && inv->chip_count < FAKE_MAX_CHIPS) {
      int fields = sscanf(line + 5, "%d %d %d %d %31s %u %255s", &chip.card, &chip.device,
                          &chip.logic, &chip.physical, chip.name, &chip.health, codes);
      if (fields >= 6) {
        if (fields == 7) parse_codes(codes, &chip);
        inv->chips[inv->chip_count++] = chip;
      }
    } else if (strncmp(line, "fail ", 5) == 0 && inv->fault_count < FAKE_MAX_FAULTS) {
      struct fake_fault* fault = &inv->faults[inv->fault_count];
      if (sscanf(line + 5, "%63s %d", fault->function, &fault->code) == 2) ++inv->fault_count;
    }
  }
  fclose(file);
  return 0;
}

/* Loads the inventory and applies an injected fault for `function`; 0 when the call may go on. */
static int begin(const char* function, struct fake_inventory* inv) {
  int rc = load(inv);
  if (rc != 0) return rc;
  for (int i = 0; i < inv->fault_count; ++i) {
    if (strcmp(inv->faults[i].function, function) == 0) return inv->faults[i].code;
  }
  return 0;
}

static const struct fake_chip* find(const struct fake_inventory* inv, int card, int device) {
  for (int i = 0; i < inv->chip_count; ++i) {
    if (inv->chips[i].card == card && inv->chips[i].device == device) return &inv->chips[i];
  }
  return NULL;
}

#define FAKE_DCMI_NO_DEVICE (-8001)

int dcmi_init(void) {
  struct fake_inventory inv;
  return begin("dcmi_init", &inv);
}

int dcmi_get_card_num_list(int* card_num, int* card_list, int list_len) {
  struct fake_inventory inv;
  int rc = begin("dcmi_get_card_num_list", &inv);
  if (rc != 0) return rc;
  int count = 0;
  for (int i = 0; i < inv.chip_count; ++i) {
    int seen = 0;
    for (int j = 0; j < count; ++j)
      seen |= card_list[j] == inv.chips[i].card;
    if (!seen && count < list_len) card_list[count++] = inv.chips[i].card;
  }
  *card_num = count;
  return 0;
}

int dcmi_get_device_num_in_card(int card_id, int* device_num) {
  struct fake_inventory inv;
  int rc = begin("dcmi_get_device_num_in_card", &inv);
  if (rc != 0) return rc;
  *device_num = 0;
  for (int i = 0; i < inv.chip_count; ++i)
    *device_num += inv.chips[i].card == card_id;
  return 0;
}

int dcmi_get_device_logic_id(int* device_logic_id, int card_id, int device_id) {
  struct fake_inventory inv;
  int rc = begin("dcmi_get_device_logic_id", &inv);
  if (rc != 0) return rc;
  const struct fake_chip* chip = find(&inv, card_id, device_id);
  if (chip == NULL) return FAKE_DCMI_NO_DEVICE;
  *device_logic_id = chip->logic;
  return 0;
}

int dcmi_get_device_phyid_from_logicid(unsigned int logicid, unsigned int* phyid) {
  struct fake_inventory inv;
  int rc = begin("dcmi_get_device_phyid_from_logicid", &inv);
  if (rc != 0) return rc;
  for (int i = 0; i < inv.chip_count; ++i) {
    if ((unsigned int)inv.chips[i].logic == logicid) {
      *phyid = (unsigned int)inv.chips[i].physical;
      return 0;
    }
  }
  return FAKE_DCMI_NO_DEVICE;
}

#ifndef FAKE_DCMI_WITHOUT_HEALTH
int dcmi_get_device_health(int card_id, int device_id, unsigned int* health) {
  struct fake_inventory inv;
  int rc = begin("dcmi_get_device_health", &inv);
  if (rc != 0) return rc;
  const struct fake_chip* chip = find(&inv, card_id, device_id);
  if (chip == NULL) return FAKE_DCMI_NO_DEVICE;
  *health = chip->health;
  return 0;
}
#endif

int dcmi_get_device_errorcode_v2(int card_id, int device_id, int* error_count,
                                 unsigned int* error_code_list, unsigned int list_len) {
  struct fake_inventory inv;
  int rc = begin("dcmi_get_device_errorcode_v2", &inv);
  if (rc != 0) return rc;
  const struct fake_chip* chip = find(&inv, card_id, device_id);
  if (chip == NULL) return FAKE_DCMI_NO_DEVICE;
  int n = chip->code_count < (int)list_len ? chip->code_count : (int)list_len;
  for (int i = 0; i < n; ++i)
    error_code_list[i] = chip->codes[i];
  *error_count = n;
  return 0;
}

int dcmi_get_device_chip_info(int card_id, int device_id, struct dcmi_chip_info* chip_info) {
  struct fake_inventory inv;
  int rc = begin("dcmi_get_device_chip_info", &inv);
  if (rc != 0) return rc;
  const struct fake_chip* chip = find(&inv, card_id, device_id);
  if (chip == NULL) return FAKE_DCMI_NO_DEVICE;
  memset(chip_info, 0, sizeof *chip_info);
  snprintf((char*)chip_info->chip_type, FAKE_NAME_LEN, "Ascend");
  snprintf((char*)chip_info->chip_name, FAKE_NAME_LEN, "%s", chip->name);
  snprintf((char*)chip_info->chip_ver, FAKE_NAME_LEN, "V1");
  chip_info->aicore_cnt = 24;
  return 0;
}
