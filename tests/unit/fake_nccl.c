/* A stand-in NCCL (and the two CUDA runtime calls the reducer makes), so the
   dlopen path of the NCCL reducer is tested without a GPU. One rank: the
   "device" buffer is host memory and the sum over one rank is the buffer. */
#include <stddef.h>
#include <string.h>

typedef struct {
  char internal[128];
} ncclUniqueId;

static int g_device = -1, g_allreduces = 0, g_synced = 0;
static size_t g_last_count = 0;

int ncclGetUniqueId(ncclUniqueId* id) {
  memset(id->internal, 0x5a, sizeof id->internal);
  return 0;
}
int ncclCommInitRank(void** comm, int nranks, ncclUniqueId id, int rank) {
  if (nranks != 1 || rank != 0 || id.internal[0] != 0x5a || g_device < 0) return 5; /* ncclInvalidUsage */
  *comm = &g_device;
  return 0;
}
int ncclAllReduce(const void* send, void* recv, size_t count, int type, int op, void* comm, void* stream) {
  (void)stream;
  if (comm != &g_device || type != 7 || op != 0) return 4; /* ncclInvalidArgument */
  if (send != recv) memcpy(recv, send, count * sizeof(float));
  g_last_count = count;
  ++g_allreduces;
  return 0;
}
int ncclCommDestroy(void* comm) { return comm == &g_device ? 0 : 4; }
const char* ncclGetErrorString(int rc) { return rc == 5 ? "invalid usage" : "invalid argument"; }
int cudaSetDevice(int device) {
  g_device = device;
  return 0;
}
int cudaStreamSynchronize(void* stream) {
  (void)stream;
  ++g_synced;
  return 0;
}
/* For the test: what the reducer did. */
int fake_nccl_allreduces(void) { return g_allreduces; }
int fake_nccl_synced(void) { return g_synced; }
size_t fake_nccl_last_count(void) { return g_last_count; }
int fake_nccl_device(void) { return g_device; }
