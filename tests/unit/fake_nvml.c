/* A stand-in for libnvidia-ml.so.1 with the entry points motifbench loads, for
 * testing the NVML energy reader on machines without an NVIDIA driver.
 * GPU i's counter reads 1e6*(i+1) mJ + 1000 mJ x the number of reads so far, so
 * every start/stop pair sees exactly 1 J per GPU. FAKE_NVML_GPUS sets the GPU
 * count (default 2). */
#include <stdlib.h>
#include <string.h>

static unsigned long long g_reads[8];
static int g_handles[8] = {0, 1, 2, 3, 4, 5, 6, 7};

int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int* n) {
  const char* e = getenv("FAKE_NVML_GPUS");
  *n = e ? (unsigned int)atoi(e) : 2u;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void** h) {
  if (i >= 8) return 1;
  *h = &g_handles[i];
  return 0;
}
int nvmlDeviceGetTotalEnergyConsumption(void* h, unsigned long long* mj) {
  int i = *(int*)h;
  *mj = 1000000ULL * (unsigned long long)(i + 1) + 1000ULL * g_reads[i]++;
  return 0;
}
int nvmlDeviceGetName(void* h, char* name, unsigned int len) {
  (void)h;
  strncpy(name, "Fake GPU", len);
  return 0;
}
