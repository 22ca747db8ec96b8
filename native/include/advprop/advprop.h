/* The advprop C API (libadvprop.so): the multi-domain batch norm, the PGD step and the 2-D
 * convolutions on caller-owned memory, and dtype conversion (advprop_cast), for frameworks other
 * than Node. Pure C (C99), no C++ types; every function returns a status and never lets a C++
 * exception out.
 *
 * Tensors are described by advprop_tensor: a data pointer, dtype, device, shape and strides in
 * elements. Layouts are the library's: activations NHWC [N, H, W, C], convolution weights OHWI
 * [Cout, KH, KW, Cin/groups]. Every tensor must be contiguous (row-major strides; a size-1
 * dimension's stride is free): other strides are refused with ADVPROP_ERR_ARG.
 *
 * Outputs other than the running statistics are written only when the call succeeds. They are
 * computed into library scratch memory and then copied to the caller's buffers, so an output may
 * alias an input (e.g. x_adv updated in place by advprop_pgd_step). running_mean / running_var
 * are updated in place, so in ADVPROP_BN_TRAIN they must not share memory with each other or with
 * x, gamma or beta (ADVPROP_ERR_ARG).
 *
 * Streams: `stream` is a cudaStream_t for device_type ADVPROP_DEVICE_CUDA (NULL: the legacy
 * default stream) and is ignored on cpu and cuda-sim. The kernels run on the library's own stream
 * for that device, ordered after the work already queued on `stream` and with `stream` made to
 * wait for them (events; the host does not block), so the call behaves as if it ran on `stream`.
 * The stream must belong to device_index; the caller's current CUDA device is restored before
 * returning. cpu and cuda-sim calls are complete when they return.
 *
 * Errors: a non-zero advprop_status; advprop_last_error() returns the message (naming the
 * function, the argument and the shapes) of the last advprop_* call made on this thread, "" after
 * a success. The string stays valid until the next advprop_* call on the same thread. */
#ifndef ADVPROP_ADVPROP_H
#define ADVPROP_ADVPROP_H

#include <stdint.h>

#if defined(_WIN32)
#define ADVPROP_API __declspec(dllexport)
#else
#define ADVPROP_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The numbers equal advprop::ErrorCode (and the JS codes ERR_SHAPE, ...); never renumbered. */
typedef enum advprop_status {
  ADVPROP_OK = 0,
  ADVPROP_ERR_SHAPE = 1,
  ADVPROP_ERR_DTYPE = 2,
  ADVPROP_ERR_DEVICE = 3,
  ADVPROP_ERR_DISPOSED = 4,
  ADVPROP_ERR_OOM = 5,
  ADVPROP_ERR_CUDA = 6,
  ADVPROP_ERR_IO = 7,
  ADVPROP_ERR_FORMAT = 8,
  ADVPROP_ERR_ARG = 9,
  ADVPROP_ERR_INTERNAL = 10,
  ADVPROP_ERR_DIST = 11
} advprop_status;

/* Element types; the numbers are advprop's own dtype numbers (appended, never renumbered). F16 and
 * BF16 elements are 16-bit patterns (uint16_t): IEEE binary16, and bfloat16 (the upper half of an
 * IEEE binary32). Descriptors of every dtype here are accepted; advprop_cast converts between all
 * of them, the kernels take ADVPROP_F32 and ADVPROP_F64, and F16/BF16 where their comments say
 * so, refusing the others with ADVPROP_ERR_DTYPE. */
typedef enum advprop_dtype {
  ADVPROP_F32 = 0,
  ADVPROP_F64 = 1,
  ADVPROP_I32 = 2,
  ADVPROP_F16 = 3,
  ADVPROP_BF16 = 4
} advprop_dtype;
typedef enum advprop_device_type {
  ADVPROP_DEVICE_CPU = 0,
  ADVPROP_DEVICE_CUDA = 1,
  ADVPROP_DEVICE_CUDA_SIM = 2 /* the CPU simulator of the CUDA kernels (host memory) */
} advprop_device_type;

#define ADVPROP_MAX_DIMS 8

typedef struct advprop_tensor {
  void* data;            /* host pointer (cpu, cuda-sim) or device pointer (cuda) */
  int32_t dtype;         /* advprop_dtype */
  int32_t device_type;   /* advprop_device_type */
  int32_t device_index;  /* 0 for cpu */
  int32_t ndim;          /* 0 .. ADVPROP_MAX_DIMS */
  int64_t shape[ADVPROP_MAX_DIMS];
  int64_t strides[ADVPROP_MAX_DIMS]; /* in elements */
} advprop_tensor;

/* "1.2.3", the library's version (package.json's). */
ADVPROP_API const char* advprop_version(void);
ADVPROP_API const char* advprop_last_error(void);

/* ---- dtype conversion and copy ------------------------------------------------------------ */
/* dst = src converted to dst's dtype; any pair of ADVPROP_F32, F64, I32, F16 and BF16, the same
 * dtype being a copy. To F16/BF16: rounded once to nearest, ties to even (from F64 and I32
 * directly, never through F32); F16 overflows to infinity from 65520; a NaN becomes the canonical
 * NaN 0x7fff. From F16/BF16: exact. Floats to I32: truncated toward zero, saturated, NaN to 0.
 * src and dst have the same shape and device; dst may alias src. */
ADVPROP_API advprop_status advprop_cast(const advprop_tensor* src, const advprop_tensor* dst, void* stream);

/* ---- multi-domain batch norm (see native/include/advprop/batchnorm.h for the formulas) ------ */
typedef enum advprop_bn_mode { ADVPROP_BN_TRAIN = 0, ADVPROP_BN_TRAIN_FROZEN = 1, ADVPROP_BN_EVAL = 2 } advprop_bn_mode;
typedef enum advprop_bn_act { ADVPROP_ACT_NONE = 0, ADVPROP_ACT_SILU = 1, ADVPROP_ACT_RELU = 2 } advprop_bn_act;

/* Samples [start, start + count) of the batch use domain `domain`'s parameters. Segments must
 * cover [0, N) in order, each count >= 1 and domain < K. AdvProp: {{0, 0, B}, {1, B, B}}. */
typedef struct advprop_bn_segment {
  int64_t domain, start, count;
} advprop_bn_segment;

/* x [N, H, W, C]; gamma, beta, running_mean, running_var [K, C]; outputs y [N, H, W, C],
 * mean and invstd [S, C] (S = num_segments: the batch statistics used, which the backward
 * takes). momentum uses the TF convention (running = m * running + (1 - m) * batch).
 * x, y (and the backward's dy, dx) may be ADVPROP_BF16 or ADVPROP_F16; the parameters, the
 * running and batch statistics and dgamma/dbeta are then ADVPROP_F32. */
ADVPROP_API advprop_status advprop_multi_batch_norm_forward(
    const advprop_tensor* x, const advprop_tensor* gamma, const advprop_tensor* beta,
    const advprop_tensor* running_mean, const advprop_tensor* running_var,
    const advprop_bn_segment* segments, int32_t num_segments, int32_t mode, int32_t act,
    double momentum, double eps, const advprop_tensor* y, const advprop_tensor* mean,
    const advprop_tensor* invstd, void* stream);

/* dy, x [N, H, W, C]; gamma, beta [K, C]; mean, invstd [S, C] from the forward; outputs
 * dx [N, H, W, C], dgamma, dbeta [K, C]. */
ADVPROP_API advprop_status advprop_multi_batch_norm_backward(
    const advprop_tensor* dy, const advprop_tensor* x, const advprop_tensor* gamma,
    const advprop_tensor* beta, const advprop_tensor* mean, const advprop_tensor* invstd,
    const advprop_bn_segment* segments, int32_t num_segments, int32_t mode, int32_t act, double eps,
    const advprop_tensor* dx, const advprop_tensor* dgamma, const advprop_tensor* dbeta, void* stream);

/* ---- PGD step (see native/include/advprop/attack.h) -------------------------------------- */
typedef enum advprop_attack_norm { ADVPROP_LINF = 0, ADVPROP_L2 = 1 } advprop_attack_norm;

/* x_adv, grad, x, out: one shape [N, ...]. L∞: out = clamp(clamp(x_adv + alpha * sign(grad),
 * x - eps, x + eps), lo, hi). eps_per_sample / alpha_per_sample: NULL to use the scalars, or [N]
 * tensors. x_adv, x, out and the per-sample tensors are F32 or F64; grad is of their dtype, or
 * BF16 / F16 (a 16-bit network's gradient, widened exactly). */
ADVPROP_API advprop_status advprop_pgd_step(const advprop_tensor* x_adv, const advprop_tensor* grad,
                                            const advprop_tensor* x, int32_t norm, double eps, double alpha,
                                            double lo, double hi, const advprop_tensor* eps_per_sample,
                                            const advprop_tensor* alpha_per_sample, const advprop_tensor* out,
                                            void* stream);

/* ---- 2-D convolution: x NHWC [N, H, W, Cin], w OHWI [Cout, KH, KW, Cin/groups] ------------- */
typedef enum advprop_padding {
  ADVPROP_PAD_SAME = 0,     /* TensorFlow: out = ceil(in / stride), the odd pixel at bottom/right */
  ADVPROP_PAD_VALID = 1,
  ADVPROP_PAD_EXPLICIT = 2  /* pad = {top, bottom, left, right} */
} advprop_padding;

typedef struct advprop_conv2d_options {
  int32_t padding; /* advprop_padding */
  int64_t pad[4];
  int64_t stride_h, stride_w, dil_h, dil_w, groups; /* >= 1 */
} advprop_conv2d_options;

/* y [N, OH, OW, Cout] = conv(x, w) (+ bias [Cout] when bias is not NULL). Every tensor of a call
 * has one dtype: ADVPROP_F32, F64, or BF16/F16 (products summed in f32, each output rounded once;
 * an im2col input gradient twice, its column matrix and its sums). */
ADVPROP_API advprop_status advprop_conv2d_forward(const advprop_tensor* x, const advprop_tensor* w,
                                                  const advprop_tensor* bias, const advprop_conv2d_options* options,
                                                  const advprop_tensor* y, void* stream);
/* dx (its shape is the input's) from dy [N, OH, OW, Cout] and w. */
ADVPROP_API advprop_status advprop_conv2d_backward_input(const advprop_tensor* dy, const advprop_tensor* w,
                                                         const advprop_conv2d_options* options,
                                                         const advprop_tensor* dx, void* stream);
/* dw (its shape is the weights') from dy and x. */
ADVPROP_API advprop_status advprop_conv2d_backward_weight(const advprop_tensor* dy, const advprop_tensor* x,
                                                          const advprop_conv2d_options* options,
                                                          const advprop_tensor* dw, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* ADVPROP_ADVPROP_H */
