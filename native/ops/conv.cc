// Front-ends of the convolutions: the output-size and padding rules, checks, and the choice of
// path (one GEMM for 1x1 stride 1, depthwise kernels, the implicit GEMM for f32 and f64 with one
// group, or im2col + GEMM per group). x, w, the bias and dy may be bf16 or f16 (all of one dtype):
// the patches and the GEMM operands stay 16-bit, and the GEMM accumulates in f32 (gemm.h).
#include <algorithm>
#include <string>

#include "advprop/conv.h"
#include "advprop/gemm.h"
#include "advprop/ops.h"
#include "checks.h"
#include "dispatch.h"
#include "conv_checked.h"
#include "gemm_call.h"

namespace advprop {
namespace ops {
namespace {

std::string describe(const Conv2dOptions& o) {
  const std::string pad = o.padding != ConvPadding::explicit_
                              ? enum_name(o.padding)
                              : "[" + std::to_string(o.pad[0]) + ", " + std::to_string(o.pad[1]) + ", " +
                                    std::to_string(o.pad[2]) + ", " + std::to_string(o.pad[3]) + "]";
  return "stride [" + std::to_string(o.stride_h) + ", " + std::to_string(o.stride_w) + "], dilation [" +
         std::to_string(o.dil_h) + ", " + std::to_string(o.dil_w) + "], groups " + std::to_string(o.groups) +
         ", padding " + pad;
}

// Output size and leading padding along one axis.
void axis_plan(const char* op, const char* axis, int64_t in, int64_t k, int64_t stride, int64_t dil,
               const Conv2dOptions& o, int64_t pad_lo, int64_t pad_hi, int64_t* out, int64_t* lead) {
  const int64_t span = (k - 1) * dil + 1;
  if (o.padding == ConvPadding::same) {
    *out = (in + stride - 1) / stride;
    int64_t total = (*out - 1) * stride + span - in;
    if (total < 0) total = 0;
    *lead = total / 2;  // TensorFlow puts the odd pixel at the end
    return;
  }
  if (o.padding == ConvPadding::valid) pad_lo = pad_hi = 0;
  const int64_t padded = in + pad_lo + pad_hi;
  if (padded < span)
    fail(ErrorCode::Shape, std::string(op) + ": the kernel's " + axis + " extent " + std::to_string(span) +
                               " is larger than the padded input " + std::to_string(padded) + " (" + describe(o) + ")");
  *out = (padded - span) / stride + 1;
  *lead = pad_lo;
}

Conv2dParams make_params(const char* op, const Shape& xs, const Shape& ws, const Conv2dOptions& o) {
  check_enum(o.padding, op);
  if (xs.size() != 4) fail(ErrorCode::Shape, std::string(op) + ": x must be NHWC [N, H, W, C], got " + shape_str(xs));
  if (ws.size() != 4)
    fail(ErrorCode::Shape, std::string(op) + ": w must be OHWI [Cout, KH, KW, Cin/groups], got " + shape_str(ws));
  if (o.stride_h < 1 || o.stride_w < 1 || o.dil_h < 1 || o.dil_w < 1 || o.groups < 1)
    fail(ErrorCode::Arg, std::string(op) + ": strides, dilations and groups must be >= 1 (" + describe(o) + ")");
  for (int i = 0; i < 4; ++i)
    if (o.pad[i] < 0) fail(ErrorCode::Arg, std::string(op) + ": negative padding (" + describe(o) + ")");
  Conv2dParams p;
  p.n = xs[0], p.h = xs[1], p.w = xs[2], p.c_in = xs[3];
  p.c_out = ws[0], p.kh = ws[1], p.kw = ws[2];
  p.stride_h = o.stride_h, p.stride_w = o.stride_w, p.dil_h = o.dil_h, p.dil_w = o.dil_w, p.groups = o.groups;
  if (p.kh < 1 || p.kw < 1) fail(ErrorCode::Shape, std::string(op) + ": empty kernel w " + shape_str(ws));
  if (p.c_in % p.groups != 0 || p.c_out % p.groups != 0)
    fail(ErrorCode::Shape, std::string(op) + ": groups " + std::to_string(p.groups) + " must divide Cin " +
                               std::to_string(p.c_in) + " (x " + shape_str(xs) + ") and Cout " +
                               std::to_string(p.c_out) + " (w " + shape_str(ws) + ")");
  if (ws[3] != p.c_in / p.groups)
    fail(ErrorCode::Shape, std::string(op) + ": w " + shape_str(ws) + " expects " + std::to_string(ws[3] * p.groups) +
                               " input channels but x " + shape_str(xs) + " has " + std::to_string(p.c_in) +
                               " (groups " + std::to_string(p.groups) + ")");
  axis_plan(op, "height", p.h, p.kh, p.stride_h, p.dil_h, o, o.pad[0], o.pad[1], &p.out_h, &p.pad_top);
  axis_plan(op, "width", p.w, p.kw, p.stride_w, p.dil_w, o, o.pad[2], o.pad[3], &p.out_w, &p.pad_left);
  return p;
}

bool is_pointwise(const Conv2dParams& p) {
  return p.kh == 1 && p.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.groups == 1 && p.pad_top == 0 &&
         p.pad_left == 0 && p.out_h == p.h && p.out_w == p.w;
}
bool is_depthwise(const Conv2dParams& p) { return p.groups > 1 && p.groups == p.c_in && p.groups == p.c_out; }

// A view of `t` starting `offset` elements in, for GEMM operands that are column blocks of a
// row-major matrix (the leading dimension steps over the other groups' columns).
Tensor from_offset(const Tensor& t, int64_t offset) {
  Tensor flat = t.reshape({t.numel()});
  return flat.slice0(offset, t.numel() - offset);
}

// c = the product (gemm.h), then the epilogue if any; returns c.
Tensor gemm(const char* op, const Device& d, const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c,
            const Epilogue* epi = nullptr) {
  ADVPROP_ASSERT(c.device() == d);
  return call_gemm(op, g, a, b, c, epi);
}

// Images per im2col chunk. On cpu the column matrix of the whole batch (the stem's is 8 x 1.35 MB)
// would go out to memory and come back for the GEMM; a chunk of about 2 MiB stays in cache. Other
// devices take the batch at once (fewer, larger launches), and so does a 16-bit weight gradient,
// whose chunks would each round the running sum to 16 bits (one GEMM over the batch rounds once).
int64_t images_per_chunk(const Device& d, const Conv2dParams& p, int64_t k, DType dt, bool sums_over_images) {
  if (d.type != DeviceType::cpu || (sums_over_images && accum_dtype(dt) != dt)) return p.n;
  const int64_t per_image = p.out_h * p.out_w * k * static_cast<int64_t>(dtype_size(dt));
  return std::max<int64_t>(1, std::min<int64_t>(p.n, (int64_t(2) << 20) / std::max<int64_t>(1, per_image)));
}

// Calls chunk(pc, i0, cols) for the chunks of images in order: pc the params of images
// [i0, i0 + pc.n), cols the first pc.n*OH*OW rows of one column matrix [rows, k] that every chunk
// reuses.
template <typename Chunk>
void for_each_chunk(const Device& d, const Conv2dParams& p, int64_t k, DType dt, bool sums_over_images, Chunk&& chunk) {
  const int64_t per = images_per_chunk(d, p, k, dt, sums_over_images);
  Tensor cols_all = Tensor::empty({per * p.out_h * p.out_w, k}, dt, d);
  for (int64_t i0 = 0; i0 < p.n; i0 += per) {
    Conv2dParams pc = p;
    pc.n = std::min(per, p.n - i0);
    chunk(pc, i0, cols_all.slice0(0, pc.n * p.out_h * p.out_w));
  }
}

// Two float inputs (f32, f64, bf16 or f16) on one device, of one dtype.
void check_io(const char* op, const Tensor& a, const Tensor& b, const char* an, const char* bn) {
  TensorArg(op, an, a).float_input<MixedFloatTypes>();
  TensorArg(op, bn, b).float_input<MixedFloatTypes>().like(a, an);
}

// A gradient's checks: dy and `other` (w or x) as check_io, the params from the shapes of x and
// w, and dy [N, OH, OW, Cout].
Conv2dParams grad_params(const char* op, const Tensor& dy, const Tensor& other, const char* other_name,
                         const Shape& xs, const Shape& ws, const Conv2dOptions& o) {
  check_io(op, dy, other, "dy", other_name);
  const Conv2dParams p = make_params(op, xs, ws, o);
  TensorArg(op, "dy", dy).shape(conv_y_shape(p), "[N, OH, OW, Cout]");
  return p;
}

// The implicit GEMM of one group: m output pixels, og output channels, k = KH*KW*Cg columns
// of the column matrix (Cg input channels); and its product in each direction (gemm.h), over all
// m rows, the group's columns of y and dy strided by Cout.
struct GroupGemm {
  int64_t m, og, k;
};
GroupGemm group_gemm(const Conv2dParams& p) {
  return {p.n * p.out_h * p.out_w, p.c_out / p.groups, p.kh * p.kw * (p.c_in / p.groups)};
}
GemmArgs gemm_args(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
  GemmArgs g;
  g.trans_a = trans_a, g.trans_b = trans_b;
  g.m = m, g.n = n, g.k = k;
  g.lda = lda, g.ldb = ldb, g.ldc = ldc;
  return g;
}
// y_g[m, og] = cols[m, k] · w_g[og, k]^T
GemmArgs forward_gemm(const Conv2dParams& p, const GroupGemm& s) {
  return gemm_args(false, true, s.m, s.og, s.k, s.k, s.k, p.c_out);
}
// dcols[m, k] = dy_g[m, og] · w_g[og, k]
GemmArgs input_grad_gemm(const Conv2dParams& p, const GroupGemm& s) {
  return gemm_args(false, false, s.m, s.k, s.og, p.c_out, s.k, s.k);
}
// dw_g[og, k] = dy_g[m, og]^T · cols[m, k]
GemmArgs weight_grad_gemm(const Conv2dParams& p, const GroupGemm& s) {
  return gemm_args(true, false, s.og, s.k, s.m, p.c_out, s.k, s.k);
}

}  // namespace

Conv2dParams conv2d_params(const char* op, const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  check_io(op, x, w, "x", "w");
  return make_params(op, x.shape(), w.shape(), o);
}

bool conv2d_is_pointwise(const Conv2dParams& p) { return is_pointwise(p); }

bool conv2d_is_implicit_gemm(const Conv2dParams& p, DType dt) {
  return (dt == DType::f32 || dt == DType::f64) && !gemm_tf32_for(dt) && p.groups == 1 && !is_pointwise(p);
}

bool conv2d_takes_epilogue(const Conv2dParams& p, DType dt) {
  return (dt == DType::f32 || dt == DType::f64) && !gemm_tf32_for(dt) && (p.groups == 1 || is_depthwise(p));
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dOptions& o) {
  const Conv2dParams p = conv2d_params("conv2d", x, w, o);
  return conv2d_checked(x, w, b, p, nullptr);
}

Tensor conv2d_checked(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p, const Epilogue* epi) {
  const char* op = "conv2d";
  ADVPROP_ASSERT(!epi || (!b && conv2d_takes_epilogue(p, x.dtype())));
  if (b) TensorArg(op, "b", *b).float_input<MixedFloatTypes>().like(x, "x").shape({p.c_out}, "[Cout]", "w", &w.shape());
  const Device& dev = x.device();
  Tensor y = Tensor::empty({p.n, p.out_h, p.out_w, p.c_out}, x.dtype(), dev);
  if (!y.numel()) return y;
  if (is_depthwise(p)) {
    ADVPROP_DISPATCH(dev, depthwise_forward, p, x, w, b, y, epi);
    return y;
  }
  const GroupGemm gg = group_gemm(p);
  const int64_t og = gg.og, k = gg.k;
  GemmArgs g = forward_gemm(p, gg);
  g.tf32 = gemm_tf32_for(x.dtype());
  if (is_pointwise(p)) {
    gemm(op, dev, g, x, w, y, epi);
  } else if (conv2d_is_implicit_gemm(p, x.dtype())) {
    // Every convolution that takes an epilogue and is neither 1x1 nor depthwise comes here.
    ADVPROP_DISPATCH(dev, conv2d_gemm_forward, p, x, w, y, epi);
  } else {
    ADVPROP_ASSERT(!epi);
    for_each_chunk(dev, p, k, x.dtype(), false, [&](const Conv2dParams& pc, int64_t i0, Tensor cols) {
      g.m = cols.dim(0);
      const Tensor xi = x.slice0(i0, pc.n), yi = y.slice0(i0, pc.n);
      for (int64_t grp = 0; grp < p.groups; ++grp) {
        ADVPROP_DISPATCH(dev, im2col, pc, xi, grp, cols);
        Tensor yg = from_offset(yi, grp * og);
        gemm(op, dev, g, cols, from_offset(w, grp * og * k), yg);
      }
    });
  }
  return b ? binary(BinaryOp::add, y, *b) : y;
}

Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dOptions& o) {
  const char* op = "conv2dBackwardInput";
  const Conv2dParams p = grad_params(op, dy, w, "w", x_shape, w.shape(), o);
  const Device& dev = dy.device();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dev);
  if (!dx.numel()) return dx;
  if (dy.numel() == 0) return full(x_shape, dy.dtype(), dev, 0.0);
  if (is_depthwise(p)) {
    ADVPROP_DISPATCH(dev, depthwise_backward_input, p, dy, w, dx);
    return dx;
  }
  const GroupGemm gg = group_gemm(p);
  const int64_t og = gg.og, k = gg.k;
  GemmArgs g = input_grad_gemm(p, gg);
  g.tf32 = gemm_tf32_for(dy.dtype());
  if (is_pointwise(p)) return gemm(op, dev, g, dy, w, dx);
  for_each_chunk(dev, p, k, dy.dtype(), false, [&](const Conv2dParams& pc, int64_t i0, Tensor dcols) {
    g.m = dcols.dim(0);
    Tensor dyi = dy.slice0(i0, pc.n), dxi = dx.slice0(i0, pc.n);
    for (int64_t grp = 0; grp < p.groups; ++grp) {
      gemm(op, dev, g, from_offset(dyi, grp * og), from_offset(w, grp * og * k), dcols);
      ADVPROP_DISPATCH(dev, col2im, pc, dcols, grp, dxi);
    }
  });
  return dx;
}

Tensor conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dOptions& o) {
  const char* op = "conv2dBackwardWeight";
  const Conv2dParams p = grad_params(op, dy, x, "x", x.shape(), w_shape, o);
  const Device& dev = dy.device();
  if (dy.numel() == 0) return full(w_shape, dy.dtype(), dev, 0.0);
  Tensor dw = Tensor::empty(w_shape, dy.dtype(), dev);
  if (is_depthwise(p)) {
    ADVPROP_DISPATCH(dev, depthwise_backward_weight, p, x, dy, dw);
    return dw;
  }
  const GroupGemm gg = group_gemm(p);
  const int64_t og = gg.og, k = gg.k;
  GemmArgs g = weight_grad_gemm(p, gg);
  g.tf32 = gemm_tf32_for(dy.dtype());
  if (is_pointwise(p)) return gemm(op, dev, g, dy, x, dw);
  // Chunks of images add into dw in order (beta = 1 after the first), so the sum over the batch
  // is still in a fixed order.
  for_each_chunk(dev, p, k, x.dtype(), true, [&](const Conv2dParams& pc, int64_t i0, Tensor cols) {
    g.k = cols.dim(0);
    g.beta = i0 == 0 ? 0.0 : 1.0;
    const Tensor xi = x.slice0(i0, pc.n), dyi = dy.slice0(i0, pc.n);
    for (int64_t grp = 0; grp < p.groups; ++grp) {
      ADVPROP_DISPATCH(dev, im2col, pc, xi, grp, cols);
      Tensor dwg = from_offset(dw, grp * og * k);
      gemm(op, dev, g, from_offset(dyi, grp * og), cols, dwg);
    }
  });
  return dw;
}

}  // namespace ops
}  // namespace advprop
