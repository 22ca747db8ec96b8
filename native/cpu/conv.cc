// CPU im2col / col2im and the implicit-GEMM forward (conv.h). im2col and col2im are pure data
// movement plus, for col2im, a fixed-order sum, so results do not depend on the thread count.
// conv2d_gemm_forward gathers the same rows tile by tile into the GEMM (gemm_rows.h): B0's stem
// spent twice as long writing and rereading its column matrix as multiplying it.
//
// im2col: one parallel chunk of output rows (n, oh, ow); each row is KH*KW runs of Cg contiguous
// channels, copied from the NHWC input or zeroed where the tap falls in the padding (one run of
// KW*Cg per ky where the KW taps are adjacent input pixels). Source positions come from per-call
// tables, so the per-row loops do no division.
// col2im: one parallel chunk of input rows (n, ih); each pixel's Cg channels of the group are the
// sum, in ascending (ky, kx) order starting from zero, of the cols runs that read it; each row is
// written by one chunk only, so no two threads touch the same element. The cuda/cuda-sim kernels
// sum in the same order and match bit for bit.
// bf16 and f16: im2col copies 16-bit values as they are (the GEMM reads 16-bit patches); col2im
// sums each pixel's terms in f32 (Accum<T>) in the same order and rounds once.
// No contraction: the input affine rounds x * scale and then + shift, as binary mul and add do.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "advprop/conv.h"
#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/invariants.h"
#include "advprop/parallel.h"
#include "gemm_rows.h"

namespace advprop {
namespace cpu {
namespace {

// Source index of each (tap, output position) along one axis: o * stride - pad + k * dil, or -1
// when that falls in the padding. Computed once per call so the per-pixel loops do no division.
std::vector<int64_t> tap_table(int64_t k, int64_t out, int64_t in, int64_t stride, int64_t pad, int64_t dil) {
  std::vector<int64_t> t(static_cast<size_t>(k * out));
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t o = 0; o < out; ++o) {
      const int64_t i = o * stride - pad + kk * dil;
      t[kk * out + o] = i >= 0 && i < in ? i : -1;
    }
  return t;
}

// The inverse: for each (tap, input position) the output position that reads it, or -1.
std::vector<int64_t> source_table(int64_t k, int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t dil) {
  std::vector<int64_t> t(static_cast<size_t>(k * in), -1);
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t o = 0; o < out; ++o) {
      const int64_t i = o * stride - pad + kk * dil;
      if (i >= 0 && i < in) t[kk * in + i] = o;
    }
  return t;
}

// cg channels: a plain loop for the few-channel stem (a memcpy call per 12 bytes costs more than
// the copy), memcpy otherwise. The 3x3 RGB stem's runs of kw * cg = 9 are one fixed-size copy,
// which the compiler emits as two moves: the element loop was the stem's largest cost (more than
// its GEMM).
template <typename T>
inline void copy_run(T* dst, const T* src, int64_t cg) {
  if (cg == 9)
    std::memcpy(dst, src, 9 * sizeof(T));
  else if (cg <= 16)
    for (int64_t c = 0; c < cg; ++c) dst[c] = src[c];
  else
    std::memcpy(dst, src, static_cast<size_t>(cg) * sizeof(T));
}

// What the rows of one group's column matrix are gathered with: the source tables of both axes.
struct Im2colGeom {
  const Conv2dParams* p;
  int64_t group, cg, row_len;
  std::vector<int64_t> ih_of, iw_of;
  bool whole_rows;  // one group and dil_w 1: a row's kx taps are kw adjacent pixels, one run of kw * cg
  Im2colGeom(const Conv2dParams& pp, int64_t grp)
      : p(&pp),
        group(grp),
        cg(pp.c_in / pp.groups),
        row_len(pp.kh * pp.kw * cg),
        ih_of(tap_table(pp.kh, pp.out_h, pp.h, pp.stride_h, pp.pad_top, pp.dil_h)),
        iw_of(tap_table(pp.kw, pp.out_w, pp.w, pp.stride_w, pp.pad_left, pp.dil_w)),
        whole_rows(pp.groups == 1 && pp.dil_w == 1) {}
};

// dst[i] = src[i] * scale[i] + shift[i]: a run's copy with the input affine, whose scale and shift
// are tiled to the run's channels (ConvRows), so the loop vectorises (cycling a channel index per
// value kept it scalar: 2.5 cycles per value). The 3x3 RGB stem's runs of 9 take a fixed count.
// (16-bit columns never take one: the implicit GEMM is f32 and f64 only.)
template <typename T>
inline void affine_copy(T* __restrict dst, const T* __restrict src, int64_t n, const T* __restrict scale,
                        const T* __restrict shift) {
  if constexpr (std::is_floating_point_v<T>) {
    if (n == 9)
      for (int64_t i = 0; i < 9; ++i) dst[i] = src[i] * scale[i] + shift[i];
    else
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * scale[i] + shift[i];
  }
}

// Rows [lo, hi) of the column matrix (conv.h) to dst, row stride row_len. affine non-null
// (groups 1): each copied value read as x * scale[c] + shift[c], padding left 0, with affine the
// scale then the shift tiled kw times ([2][kw * c_in], ConvRows): every run starts at channel 0.
template <typename T>
void im2col_rows(const Im2colGeom& q, const T* x, int64_t lo, int64_t hi, T* dst, const T* affine = nullptr) {
  const Conv2dParams& p = *q.p;
  const int64_t cg = q.cg;
  const T* shift = affine ? affine + p.kw * p.c_in : nullptr;
  int64_t ow = lo % p.out_w, oh = (lo / p.out_w) % p.out_h, n = lo / (p.out_w * p.out_h);
  for (int64_t r = lo; r < hi; ++r) {
    const T* xn = x + n * p.h * p.w * p.c_in + q.group * cg;
    const bool inside = q.iw_of[ow] >= 0 && q.iw_of[(p.kw - 1) * p.out_w + ow] >= 0;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t ih = q.ih_of[ky * p.out_h + oh];
      if (q.whole_rows && inside && ih >= 0) {
        const T* src = xn + (ih * p.w + q.iw_of[ow]) * p.c_in;
        if (affine) affine_copy(dst, src, p.kw * cg, affine, shift);
        else copy_run(dst, src, p.kw * cg);
        dst += p.kw * cg;
        continue;
      }
      for (int64_t kx = 0; kx < p.kw; ++kx, dst += cg) {
        const int64_t iw = q.iw_of[kx * p.out_w + ow];
        if (ih >= 0 && iw >= 0) {
          const T* src = xn + (ih * p.w + iw) * p.c_in;
          if (affine) affine_copy(dst, src, cg, affine, shift);
          else copy_run(dst, src, cg);
        } else {
          std::fill(dst, dst + cg, T{});
        }
      }
    }
    if (++ow == p.out_w) {
      ow = 0;
      if (++oh == p.out_h) oh = 0, ++n;
    }
  }
}

template <typename T>
void im2col_typed(const Conv2dParams& p, const T* x, int64_t group, T* cols) {
  const Im2colGeom q(p, group);
  const int64_t rows = p.n * p.out_h * p.out_w;
  if (rows == 0 || q.row_len == 0) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / q.row_len);
  parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) { im2col_rows(q, x, lo, hi, cols + lo * q.row_len); });
}

// The implicit GEMM's A: rows of the column matrix of group 0, gathered tile by tile (gemm_rows.h).
template <typename T>
struct ConvRows {
  const Im2colGeom* q;
  const T* x;
  const T* affine;  // epi->in_affine tiled (im2col_rows), or null
  static void fill(const void* ctx, int64_t row0, int64_t rows, T* dst) {
    const auto* c = static_cast<const ConvRows*>(ctx);
    im2col_rows(*c->q, c->x, row0, row0 + rows, dst, c->affine);
  }
};

// One parallel chunk of input rows (n, ih). Each row's group slice is zeroed, then for each tap
// (ky, kx) in ascending order every output column ow that reads the row through that tap adds its
// cols run to input column ow*sw - pl + kx*dw. A tap reaches each input pixel from at most one ow,
// so every element still receives its terms in ascending (ky, kx) order starting from zero (the
// order documented above), without a per-pixel search for the taps. A 16-bit dx row is summed in
// an f32 buffer (stride cg instead of c_in) and rounded into dx at the end.
template <typename T>
void col2im_typed(const Conv2dParams& p, const T* cols, int64_t group, T* dx) {
  using A = Accum<T>;
  constexpr bool kInPlace = std::is_same_v<T, A>;
  const int64_t cg = p.c_in / p.groups;
  const int64_t rows = p.n * p.h;
  const int64_t row_len = p.kh * p.kw * cg;
  if (rows == 0 || p.w == 0 || cg == 0) return;
  const std::vector<int64_t> oh_of = source_table(p.kh, p.h, p.out_h, p.stride_h, p.pad_top, p.dil_h);
  const std::vector<int64_t> iw_of = tap_table(p.kw, p.out_w, p.w, p.stride_w, p.pad_left, p.dil_w);
  // Per tap kx, the output columns [ow_lo, ow_hi) whose input column is inside (a contiguous range).
  std::vector<int64_t> ow_lo(static_cast<size_t>(p.kw)), ow_hi(static_cast<size_t>(p.kw));
  for (int64_t kx = 0; kx < p.kw; ++kx) {
    int64_t lo = 0, hi = p.out_w;
    while (lo < hi && iw_of[kx * p.out_w + lo] < 0) ++lo;
    while (hi > lo && iw_of[kx * p.out_w + hi - 1] < 0) --hi;
    ow_lo[kx] = lo, ow_hi[kx] = hi;
  }
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, p.w * row_len));
  parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    std::vector<A> buf(kInPlace ? 0 : static_cast<size_t>(p.w * cg));
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t n = r / p.h, ih = r % p.h;
      T* row = dx + r * p.w * p.c_in + group * cg;
      A* acc;
      int64_t stride;
      if constexpr (kInPlace) acc = row, stride = p.c_in;
      else acc = buf.data(), stride = cg;
      for (int64_t iw = 0; iw < p.w; ++iw)
        for (int64_t c = 0; c < cg; ++c) acc[iw * stride + c] = A(0);
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const int64_t oh = oh_of[ky * p.h + ih];
        if (oh < 0) continue;
        const T* src_row = cols + (n * p.out_h + oh) * p.out_w * row_len + ky * p.kw * cg;
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          for (int64_t ow = ow_lo[kx]; ow < ow_hi[kx]; ++ow) {
            A* out = acc + iw_of[kx * p.out_w + ow] * stride;
            const T* src = src_row + ow * row_len + kx * cg;
            for (int64_t c = 0; c < cg; ++c) out[c] += to_accum(src[c]);
          }
        }
      }
      if constexpr (!kInPlace)
        for (int64_t iw = 0; iw < p.w; ++iw)
          for (int64_t c = 0; c < cg; ++c) row[iw * p.c_in + c] = from_accum<T>(acc[iw * cg + c]);
    }
  });
}

}  // namespace

void conv2d_gemm_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, Tensor& y, const Epilogue* epi) {
  ADVPROP_ASSERT(passes(check_conv2d_gemm_forward, "conv2d", p, DeviceType::cpu, x, w, y, epi));
  const Im2colGeom q(p, 0);
  GemmArgs g;
  g.trans_b = true;
  g.m = p.n * p.out_h * p.out_w, g.n = p.c_out, g.k = q.row_len;
  g.lda = g.k, g.ldb = g.k, g.ldc = p.c_out;
  dispatch_dtype<FloatTypes>(y.dtype(), "conv2d", [&](auto t) {
    using T = decltype(t);
    // The input affine ([2, c_in]) tiled kw times for im2col_rows.
    std::vector<T> tiled;
    if (epi && epi->in_affine) {
      const T* a = epi->in_affine->data_as<const T>();
      const int64_t L = p.kw * p.c_in;
      tiled.resize(static_cast<size_t>(2 * L));
      for (int64_t i = 0; i < L; ++i) tiled[i] = a[i % p.c_in], tiled[L + i] = a[p.c_in + i % p.c_in];
    }
    const ConvRows<T> src{&q, x.data_as<const T>(), tiled.empty() ? nullptr : tiled.data()};
    gemm_rows(g, GemmRows<T>{&ConvRows<T>::fill, &src}, w, y, epi);
  });
}

void im2col(const Conv2dParams& p, const Tensor& x, int64_t group, Tensor& cols) {
  ADVPROP_ASSERT(passes(check_im2col_args, "im2col", p, x, cols, group, DeviceType::cpu));
  dispatch_dtype<MixedFloatTypes>(x.dtype(), "im2col", [&](auto t) {
    using T = decltype(t);
    im2col_typed<T>(p, x.data_as<const T>(), group, cols.data_as<T>());
  });
}

void col2im(const Conv2dParams& p, const Tensor& cols, int64_t group, Tensor& dx) {
  ADVPROP_ASSERT(passes(check_im2col_args, "col2im", p, dx, cols, group, DeviceType::cpu));
  dispatch_dtype<MixedFloatTypes>(dx.dtype(), "col2im", [&](auto t) {
    using T = decltype(t);
    col2im_typed<T>(p, cols.data_as<const T>(), group, dx.data_as<T>());
  });
}

}  // namespace cpu
}  // namespace advprop
