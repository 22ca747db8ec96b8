/* The C API on CUDA device memory with the caller's own stream: inputs are copied to the GPU
 * asynchronously on a non-blocking stream, the batch norm forward, the PGD step and the
 * convolution are called with that stream, and the results are copied back on it; only then does
 * the host wait (cudaStreamSynchronize). Had the library not ordered its work after and before
 * the caller's stream, the kernels would read half-copied inputs or the copies would read
 * unfinished outputs. The results are compared with the same calls on the CPU.
 * Needs a GPU; mocha's test/capi.test.ts builds and runs it when the cuda device is available:
 *
 *   cc -std=c99 -I native/include -I /usr/local/cuda/include examples/c/cuda_stream.c \
 *      -L build/Release -ladvprop -L /usr/local/cuda/lib64 -lcudart \
 *      -Wl,-rpath,$PWD/build/Release -Wl,-rpath,/usr/local/cuda/lib64 -lm -o cuda_stream
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "advprop/advprop.h"

enum { N = 8, H = 5, W = 5, C = 32, K = 2, S = 2, NX = N * H * W * C };
enum { CN = 2, CH = 9, CW = 9, CI = 16, CO = 8, KS = 3, NCX = CN * CH * CW * CI, NCW = CO * KS * KS * CI, NCY = CN * CH * CW * CO };

static int failures = 0, checks = 0;

#define CUDA_OK(call)                                                             \
  do {                                                                            \
    cudaError_t e_ = (call);                                                      \
    if (e_ != cudaSuccess) {                                                      \
      printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      return 2;                                                                   \
    }                                                                             \
  } while (0)

static void api_ok(const char* what, advprop_status st) {
  ++checks;
  if (st != ADVPROP_OK) {
    printf("FAILED %s: status %d: %s\n", what, (int)st, advprop_last_error());
    ++failures;
  }
}

/* cpu and cuda sum in different orders in f32 (batch norm: f64 partials rounded once; the
 * convolution: f32 GEMM over KS*KS*CI = 144 products of values in [-1, 1]), so results agree to
 * a few f32 ulps of the magnitudes involved: 1e-4 * (1 + |want|) is far above that and far below
 * any real error. */
static void compare(const char* what, const float* got, const float* want, int n, int exact) {
  int i;
  for (i = 0; i < n; ++i) {
    const int ok = exact ? memcmp(&got[i], &want[i], sizeof(float)) == 0 : fabs(got[i] - want[i]) <= 1e-4 * (1 + fabs(want[i]));
    ++checks;
    if (!ok) {
      if (failures < 20) printf("MISMATCH %s[%d]: cuda %.9g, cpu %.9g\n", what, i, got[i], want[i]);
      ++failures;
    }
  }
}

static advprop_tensor desc(void* data, int device_type, int ndim, const int64_t* shape) {
  advprop_tensor t;
  int64_t stride = 1;
  int i;
  memset(&t, 0, sizeof t);
  t.data = data, t.dtype = ADVPROP_F32, t.device_type = device_type, t.ndim = ndim;
  for (i = ndim - 1; i >= 0; --i) t.shape[i] = shape[i], t.strides[i] = stride, stride *= shape[i];
  return t;
}

static unsigned lcg_state = 777u;
static float next_value(void) {
  lcg_state = lcg_state * 1103515245u + 12345u;
  return (float)((lcg_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* One buffer of n floats on the host (pinned, so that async copies really are async) and on the
 * device. */
typedef struct { float *h, *d; size_t bytes; } buffer;

int main(void) {
  enum { X, Y, G, B, RM, RV, M, IS, XA, GR, IMG, OUT, CX, CWT, CY, NBUF };
  static const size_t counts[NBUF] = {NX, NX, K * C, K * C, K * C, K * C, S * C, S * C, NX, NX, NX, NX, NCX, NCW, NCY};
  buffer b[NBUF];
  float *cpu[NBUF], *host_in[NBUF];
  const int64_t xs[4] = {N, H, W, C}, ps[2] = {K, C}, ss[2] = {S, C};
  const int64_t cxs[4] = {CN, CH, CW, CI}, cws[4] = {CO, KS, KS, CI}, cys[4] = {CN, CH, CW, CO};
  const advprop_bn_segment segs[S] = {{0, 0, N / 2}, {1, N / 2, N / 2}};
  advprop_conv2d_options co;
  cudaStream_t stream;
  int i, k, pass;
  int dev_count = 0;

  if (cudaGetDeviceCount(&dev_count) != cudaSuccess || dev_count == 0) {
    printf("no CUDA device\n");
    return 2;
  }
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  for (k = 0; k < NBUF; ++k) {
    b[k].bytes = counts[k] * sizeof(float);
    CUDA_OK(cudaMallocHost((void**)&b[k].h, b[k].bytes));
    CUDA_OK(cudaMalloc((void**)&b[k].d, b[k].bytes));
    CUDA_OK(cudaMallocHost((void**)&cpu[k], b[k].bytes));
    CUDA_OK(cudaMallocHost((void**)&host_in[k], b[k].bytes));
    for (i = 0; i < (int)counts[k]; ++i) host_in[k][i] = next_value();
  }
  for (i = 0; i < K * C; ++i) host_in[G][i] += 1.5f, host_in[RV][i] += 2.0f;
  for (i = 0; i < NX; ++i) host_in[IMG][i] = 0.5f + 0.5f * host_in[IMG][i];
  memset(&co, 0, sizeof co);
  co.padding = ADVPROP_PAD_SAME, co.stride_h = co.stride_w = co.dil_h = co.dil_w = co.groups = 1;

  /* pass 0: cpu reference; pass 1: cuda on `stream`. */
  for (pass = 0; pass < 2; ++pass) {
    const int dt = pass ? ADVPROP_DEVICE_CUDA : ADVPROP_DEVICE_CPU;
    float* p[NBUF];
    advprop_tensor tx, ty, tg, tb, trm, trv, tm, ti, txa, tgr, timg, tout, tcx, tcw, tcy;
    for (k = 0; k < NBUF; ++k) {
      p[k] = pass ? b[k].d : cpu[k];
      if (pass) CUDA_OK(cudaMemcpyAsync(b[k].d, host_in[k], b[k].bytes, cudaMemcpyHostToDevice, stream));
      else memcpy(cpu[k], host_in[k], b[k].bytes);
    }
    tx = desc(p[X], dt, 4, xs), ty = desc(p[Y], dt, 4, xs), tg = desc(p[G], dt, 2, ps), tb = desc(p[B], dt, 2, ps);
    trm = desc(p[RM], dt, 2, ps), trv = desc(p[RV], dt, 2, ps), tm = desc(p[M], dt, 2, ss), ti = desc(p[IS], dt, 2, ss);
    txa = desc(p[XA], dt, 4, xs), tgr = desc(p[GR], dt, 4, xs), timg = desc(p[IMG], dt, 4, xs), tout = desc(p[OUT], dt, 4, xs);
    tcx = desc(p[CX], dt, 4, cxs), tcw = desc(p[CWT], dt, 4, cws), tcy = desc(p[CY], dt, 4, cys);
    api_ok("batch norm forward", advprop_multi_batch_norm_forward(&tx, &tg, &tb, &trm, &trv, segs, S, ADVPROP_BN_TRAIN,
                                                                  ADVPROP_ACT_SILU, 0.9, 1e-3, &ty, &tm, &ti, stream));
    api_ok("pgd step", advprop_pgd_step(&txa, &tgr, &timg, ADVPROP_LINF, 0.05, 0.01, 0.0, 1.0, NULL, NULL, &tout, stream));
    api_ok("conv2d forward", advprop_conv2d_forward(&tcx, &tcw, NULL, &co, &tcy, stream));
    if (pass) {
      for (k = 0; k < NBUF; ++k) CUDA_OK(cudaMemcpyAsync(b[k].h, b[k].d, b[k].bytes, cudaMemcpyDeviceToHost, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
    }
  }
  compare("y", b[Y].h, cpu[Y], NX, 0);
  compare("mean", b[M].h, cpu[M], S * C, 0);
  compare("invstd", b[IS].h, cpu[IS], S * C, 0);
  compare("running_mean", b[RM].h, cpu[RM], K * C, 0);
  compare("running_var", b[RV].h, cpu[RV], K * C, 0);
  compare("pgd out", b[OUT].h, cpu[OUT], NX, 1);
  compare("conv y", b[CY].h, cpu[CY], NCY, 0);
  printf("checked batch norm, PGD step (bit-exact) and conv2d on cuda with the caller's stream against cpu\n");

  /* The NULL stream (legacy default stream) works too. */
  {
    advprop_tensor txa = desc(b[XA].d, ADVPROP_DEVICE_CUDA, 4, xs), tgr = desc(b[GR].d, ADVPROP_DEVICE_CUDA, 4, xs),
                   timg = desc(b[IMG].d, ADVPROP_DEVICE_CUDA, 4, xs), tout = desc(b[OUT].d, ADVPROP_DEVICE_CUDA, 4, xs);
    CUDA_OK(cudaMemset(b[OUT].d, 0, b[OUT].bytes));
    api_ok("pgd step, NULL stream",
           advprop_pgd_step(&txa, &tgr, &timg, ADVPROP_LINF, 0.05, 0.01, 0.0, 1.0, NULL, NULL, &tout, NULL));
    CUDA_OK(cudaMemcpy(b[OUT].h, b[OUT].d, b[OUT].bytes, cudaMemcpyDeviceToHost));
    compare("pgd out, NULL stream", b[OUT].h, cpu[OUT], NX, 1);
  }

  for (k = 0; k < NBUF; ++k) cudaFreeHost(b[k].h), cudaFree(b[k].d), cudaFreeHost(cpu[k]), cudaFreeHost(host_in[k]);
  cudaStreamDestroy(stream);
  printf("c-example-cuda: %d checks, %d mismatches\n", checks, failures);
  return failures ? 1 : 0;
}
