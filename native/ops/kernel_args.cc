// Validators of the backend-internal routines: gemm (gemm.h), im2col/col2im, the implicit-GEMM
// forward and the depthwise kernels (conv.h). The front-ends (conv.cc, linear.cc) build their
// arguments from checked input, so nothing the caller passes reaches these unchecked; they run
// where a test enters a routine directly, and the backends assert them (`passes`,
// advprop/invariants.h).
#include <atomic>
#include <string>

#include "advprop/conv.h"
#include "advprop/epilogue.h"
#include "advprop/gemm.h"
#include "checks.h"

namespace advprop {

using ops::TensorArg;

std::string conv_params_str(const Conv2dParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "n=" + s(p.n) + " h=" + s(p.h) + " w=" + s(p.w) + " c_in=" + s(p.c_in) + " c_out=" + s(p.c_out) + " k=" + s(p.kh) + "x" + s(p.kw) +
         " stride=" + s(p.stride_h) + "x" + s(p.stride_w) + " dil=" + s(p.dil_h) + "x" + s(p.dil_w) +
         " pad=" + s(p.pad_top) + "," + s(p.pad_left) + " groups=" + s(p.groups) + " out=" + s(p.out_h) + "x" +
         s(p.out_w);
}

namespace {

bool sizes_valid(const Conv2dParams& p) {
  return p.n >= 0 && p.h >= 0 && p.w >= 0 && p.c_in >= 0 && p.out_h >= 0 && p.out_w >= 0 && p.kh >= 1 && p.kw >= 1 &&
         p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1 && p.groups >= 1;
}

[[noreturn]] void fail_params(const char* op, const std::string& what, const Conv2dParams& p) {
  fail(ErrorCode::Shape, std::string(op) + ": " + what + " (" + conv_params_str(p) + ")");
}

// The device every tensor of a call must be on: the first tensor's when it is of the kernel's
// type, so that a message names the device expected.
Device device_for(const Tensor& first, DeviceType type) {
  return first.device().type == type ? first.device() : Device{type, 0};
}

struct DwArg {
  const char* name;
  const Tensor* t;  // skipped when null
  Shape want;
  const char* rule;
};

// The params (groups == c_in == c_out), the output's dtype, then every tensor (the output last)
// against that dtype and one device of the kernel's type.
void check_depthwise_call(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& out,
                          std::initializer_list<DwArg> args) {
  if (!sizes_valid(p)) fail_params(op, "invalid parameters", p);
  if (p.groups != p.c_in || p.c_out != p.c_in) fail_params(op, "depthwise needs groups == c_in == c_out", p);
  require_dtype<MixedFloatTypes>(out.dtype(), op);
  const Device dev = device_for(out, type);
  for (const DwArg& a : args)
    if (a.t) TensorArg(op, a.name, *a.t).dtype(out.dtype()).shape(a.want, a.rule).on(dev).contiguous();
}

constexpr const char* kX = "[N, H, W, C]", *kW = "[C, KH, KW, 1]", *kY = "[N, OH, OW, C]";

std::string gemm_dims(const GemmArgs& g) {
  return "m=" + std::to_string(g.m) + ", n=" + std::to_string(g.n) + ", k=" + std::to_string(g.k) +
         ", trans_a=" + (g.trans_a ? "true" : "false") + ", trans_b=" + (g.trans_b ? "true" : "false") +
         ", lda=" + std::to_string(g.lda) + ", ldb=" + std::to_string(g.ldb) + ", ldc=" + std::to_string(g.ldc) +
         (g.tf32 ? ", tf32" : "");
}

// A stored rows x cols matrix with leading dimension ld must fit in t.
void check_matrix(const GemmArgs& g, const char* name, const Tensor& t, int64_t rows, int64_t cols, int64_t ld) {
  const std::string ctx = std::string("gemm: ") + name;
  if (ld < cols)
    fail(ErrorCode::Shape, ctx + " leading dimension " + std::to_string(ld) + " is less than its " +
                               std::to_string(cols) + " columns (" + gemm_dims(g) + ")");
  if (rows == 0 || cols == 0) return;
  int64_t need = 0;
  if (__builtin_mul_overflow(rows - 1, ld, &need) || __builtin_add_overflow(need, cols, &need))
    fail(ErrorCode::Shape, ctx + " of " + std::to_string(rows) + "x" + std::to_string(cols) +
                               " overflows (" + gemm_dims(g) + ")");
  if (t.numel() < need)
    fail(ErrorCode::Shape, ctx + " is " + std::to_string(rows) + "x" + std::to_string(cols) + " with leading dim " +
                               std::to_string(ld) + ", needing " + std::to_string(need) + " elements, but has shape " +
                               shape_str(t.shape()) + " (" + gemm_dims(g) + ")");
}

}  // namespace

void check_im2col_args(const char* op, const Conv2dParams& p, const Tensor& img, const Tensor& cols,
                       int64_t group, DeviceType type) {
  if (!sizes_valid(p) || p.c_in % p.groups != 0) fail_params(op, "invalid parameters", p);
  if (group < 0 || group >= p.groups)
    fail_params(op, "group " + std::to_string(group) + " is out of range", p);
  const Device dev = device_for(img, type);
  TensorArg(op, "image", img).floating<MixedFloatTypes>().on(dev).shape(conv_x_shape(p), "[N, H, W, Cin]").contiguous();
  TensorArg(op, "cols", cols)
      .dtype(img.dtype())
      .on(dev)
      .shape({p.n * p.out_h * p.out_w, p.kh * p.kw * (p.c_in / p.groups)}, "[N*OH*OW, KH*KW*Cin/groups]")
      .contiguous();
  // One is read while the other is written.
  if (ops::overlaps(img, cols)) fail(ErrorCode::Arg, std::string(op) + ": the image and cols must not overlap");
}

void check_depthwise_forward(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x, const Tensor& w,
                             const Tensor* bias, const Tensor& y, const Epilogue* epi) {
  check_depthwise_call(op, p, type, y,
                       {{"x", &x, conv_x_shape(p), kX}, {"w", &w, depthwise_w_shape(p), kW}, {"bias", bias, {p.c_in}, "[C]"},
                        {"y", &y, conv_y_shape(p), kY}});
  if (epi) {
    check_epilogue(op, *epi, y, p.n * p.out_h * p.out_w, p.c_out, p.c_out);
    if (epi->in_scale) fail(ErrorCode::Arg, std::string(op) + ": no input scale in a depthwise epilogue");
    if (epi->in_affine) fail(ErrorCode::Arg, std::string(op) + ": no input affine in a depthwise epilogue");
  }
}

void check_conv2d_gemm_forward(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x, const Tensor& w,
                               const Tensor& y, const Epilogue* epi) {
  if (!sizes_valid(p) || p.c_out < 0) fail_params(op, "invalid parameters", p);
  if (p.groups != 1) fail_params(op, "the implicit GEMM takes groups 1", p);
  require_dtype<FloatTypes>(y.dtype(), op);
  const Device dev = device_for(y, type);
  TensorArg(op, "x", x).dtype(y.dtype()).shape(conv_x_shape(p), "[N, H, W, Cin]").on(dev).contiguous();
  TensorArg(op, "w", w).dtype(y.dtype()).shape({p.c_out, p.kh, p.kw, p.c_in}, "[Cout, KH, KW, Cin]").on(dev).contiguous();
  TensorArg(op, "y", y).shape(conv_y_shape(p), "[N, OH, OW, Cout]").on(dev).contiguous();
  // y is written while x and w are read.
  if (ops::overlaps(x, y) || ops::overlaps(w, y)) fail(ErrorCode::Arg, std::string(op) + ": y must not overlap x or w");
  if (epi) {
    check_epilogue(op, *epi, y, p.n * p.out_h * p.out_w, p.c_out, p.c_out);
    if (epi->in_scale) fail(ErrorCode::Arg, std::string(op) + ": no input scale in an implicit-GEMM epilogue");
    if (epi->in_affine)
      TensorArg(op, "inAffine", *epi->in_affine).dtype(y.dtype()).on(dev).contiguous().shape({2, p.c_in}, "[2, Cin]");
  }
}

void check_epilogue(const char* op, const Epilogue& e, const Tensor& out, int64_t rows, int64_t channels, int64_t ld) {
  const std::string o(op);
  if (out.dtype() != DType::f32 && out.dtype() != DType::f64)
    fail(ErrorCode::DType, o + ": the inference epilogue takes f32 or f64 outputs, not " + dtype_name(out.dtype()));
  if (!e.affine) fail(ErrorCode::Arg, o + ": an epilogue without its affine [3, C]");
  TensorArg(op, "affine", *e.affine).like(out, "out").contiguous().shape({3, channels}, "[3, C]");
  if (rows < 0 || channels < 0 || ld < channels) fail(ErrorCode::Shape, o + ": bad epilogue sizes");
  if (e.residual) {
    TensorArg(op, "residual", *e.residual).like(out, "out").contiguous();
    if (rows > 0 && e.residual->numel() < (rows - 1) * ld + channels)
      fail(ErrorCode::Shape, o + ": residual " + shape_str(e.residual->shape()) + " holds fewer than the " +
                                 std::to_string(rows) + " rows of " + std::to_string(channels) + " channels written");
  }
}

void check_depthwise_backward_input(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& dy,
                                    const Tensor& w, const Tensor& dx) {
  check_depthwise_call(op, p, type, dx,
                       {{"dy", &dy, conv_y_shape(p), kY}, {"w", &w, depthwise_w_shape(p), kW}, {"dx", &dx, conv_x_shape(p), kX}});
}

void check_depthwise_backward_weight(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x,
                                     const Tensor& dy, const Tensor& dw) {
  check_depthwise_call(op, p, type, dw,
                       {{"x", &x, conv_x_shape(p), kX}, {"dy", &dy, conv_y_shape(p), kY}, {"dw", &dw, depthwise_w_shape(p), kW}});
}

void check_gemm_args(const GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& c, DeviceType type,
                     const Epilogue* epi) {
  if (a.dtype() != c.dtype() || b.dtype() != c.dtype())
    fail(ErrorCode::DType, std::string("gemm: dtypes differ (a ") + dtype_name(a.dtype()) + ", b " +
                               dtype_name(b.dtype()) + ", c " + dtype_name(c.dtype()) + ")");
  if (c.device().type != type || a.device() != c.device() || b.device() != c.device())
    fail(ErrorCode::Device, std::string("gemm: operands must all be on one ") + device_type_name(type) + " device (a " +
                                device_str(a.device()) + ", b " + device_str(b.device()) + ", c " + device_str(c.device()) + ")");
  require_dtype<MixedFloatTypes>(c.dtype(), "gemm");
  if (g.tf32 && c.dtype() != DType::f32)
    fail(ErrorCode::DType, std::string("gemm: tf32 math applies to f32 operands, not ") + dtype_name(c.dtype()));
  if (!a.is_contiguous() || !b.is_contiguous() || !c.is_contiguous())
    fail(ErrorCode::Arg, "gemm: a, b and c must be contiguous");
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.lda < 0 || g.ldb < 0 || g.ldc < 0)
    fail(ErrorCode::Shape, "gemm: negative size (" + gemm_dims(g) + ")");
  check_matrix(g, "A", a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda);
  check_matrix(g, "B", b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb);
  check_matrix(g, "C", c, g.m, g.n, g.ldc);
  if (g.m > 0 && g.n > 0 && g.k > 0 && (ops::overlaps(c, a) || ops::overlaps(c, b)))
    fail(ErrorCode::Arg, "gemm: c must not overlap a or b");
  if (epi) {
    if (g.tf32) fail(ErrorCode::DType, "gemm: no inference epilogue with tf32 math");
    check_epilogue("gemm", *epi, c, g.m, g.n, g.ldc);
    if (epi->in_affine) fail(ErrorCode::Arg, "gemm: no input affine in a gemm epilogue (the implicit-GEMM convolution's)");
    if (epi->in_scale) {
      if (g.trans_a) fail(ErrorCode::Arg, "gemm: an input scale needs op(A) = A");
      if (epi->in_scale_rows < 1) fail(ErrorCode::Arg, "gemm: input scale rows per image must be >= 1");
      const int64_t images = (g.m + epi->in_scale_rows - 1) / epi->in_scale_rows;
      TensorArg("gemm", "in_scale", *epi->in_scale).like(c, "c").contiguous().shape({images, g.k}, "[images, k]");
    }
  }
}

namespace {
std::atomic<bool> g_gemm_tf32{false};
}  // namespace

void set_gemm_tf32(bool allowed) { g_gemm_tf32.store(allowed, std::memory_order_relaxed); }
bool gemm_tf32() { return g_gemm_tf32.load(std::memory_order_relaxed); }

}  // namespace advprop
