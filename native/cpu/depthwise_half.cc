// The cpu depthwise kernels in bf16 and f16 (contract: advprop/conv.h): the f32 kernels of
// depthwise.cc on f32 copies of a few images at a time, each output rounded once.
//
// Widening a whole 16-bit batch to f32 doubled the memory it took (two f32 copies of a 112x112x96
// activation at batch 8 are 77 MB), and the early depthwise layers are the largest tensors of
// the network. Every output image depends on its own input image only (the weight gradient's
// chunks on their own rows), so the f32 kernels run on f32 copies of a few images at a time and
// give the bits of the whole-batch f32 kernel for the widened operands.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "advprop/parallel.h"
#include "depthwise_f32.h"
#include "widen.h"

namespace advprop {
namespace cpu {
namespace {

using depthwise_detail::WChunkF32;
using depthwise_detail::WChunks;

// Elements per f32 slice copy (4 MiB), at least one image; a test sets it lower to cut small
// batches into many slices.
int64_t g_slice_elems = int64_t(1) << 20;
int64_t images_per_slice(int64_t per_image) {
  return std::max<int64_t>(1, g_slice_elems / std::max<int64_t>(1, per_image));
}

// run(q, src_f32, dst_f32) on every slice: q is p with q.n the slice's images; src is `src`'s
// images widened, and dst (q.n images of dst_per_image f32) is rounded into `dst`.
template <typename Run>
void by_slices(const Conv2dParams& p, const Tensor& src, int64_t src_per_image, Tensor& dst, int64_t dst_per_image,
               Run run) {
  const int64_t step = images_per_slice(std::max(src_per_image, dst_per_image));
  for (int64_t n0 = 0; n0 < p.n; n0 += step) {
    Conv2dParams q = p;
    q.n = std::min(step, p.n - n0);
    const Tensor sf = widen_to_f32(src, n0 * src_per_image, q.n * src_per_image);
    Tensor df = Tensor::empty({q.n * dst_per_image}, DType::f32, Device{});
    run(q, sf.data_as<const float>(), df.data_as<float>());
    narrow_from_f32(df, dst, n0 * dst_per_image);
  }
}

}  // namespace

// Sets the 16-bit path's f32 slice size in elements (0: the default); for the test that slicing
// changes no bits. Not in a public header.
void set_depthwise_slice_elems(int64_t elems) { g_slice_elems = elems > 0 ? elems : int64_t(1) << 20; }

namespace depthwise_detail {

void forward_half(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const Tensor wf = widen_to_f32(w), bf = bias ? widen_to_f32(*bias) : Tensor();
  const float* bp = bias ? bf.data_as<const float>() : nullptr;
  by_slices(p, x, p.h * p.w * p.c_in, y, p.out_h * p.out_w * p.c_in,
            [&](const Conv2dParams& q, const float* xs, float* ys) {
              forward_f32(q, xs, wf.data_as<const float>(), bp, ys);
            });
}

void backward_input_half(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  const Tensor wf = widen_to_f32(w);
  by_slices(p, dy, p.out_h * p.out_w * p.c_in, dx, p.h * p.w * p.c_in,
            [&](const Conv2dParams& q, const float* dys, float* dxs) {
              backward_input_f32(q, dys, wf.data_as<const float>(), dxs);
            });
}

void backward_weight_half(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw) {
  const WChunks ch = weight_chunks(p);
  const int64_t tc = p.kh * p.kw * p.c_in, OH = p.out_h;
  const int64_t x_image = p.h * p.w * p.c_in, dy_image = p.out_h * p.out_w * p.c_in;
  std::unique_ptr<float[]> partial(new float[static_cast<size_t>(ch.count * tc)]);
  const WChunkF32 chunk = wchunk_f32();
  // Chunks of one slice cover about images_per_slice images (one more where a chunk straddles).
  const int64_t per_slice = std::max<int64_t>(1, images_per_slice(std::max(x_image, dy_image)) * OH / ch.grain);
  for (int64_t k0 = 0; k0 < ch.count; k0 += per_slice) {
    const int64_t k1 = std::min(ch.count, k0 + per_slice);
    const int64_t r0 = k0 * ch.grain, r1 = std::min(ch.rows, k1 * ch.grain);
    const int64_t n0 = r0 / OH, n1 = (r1 - 1) / OH + 1;
    Conv2dParams q = p;
    q.n = n1 - n0;
    const Tensor xf = widen_to_f32(x, n0 * x_image, q.n * x_image);
    const Tensor dyf = widen_to_f32(dy, n0 * dy_image, q.n * dy_image);
    parallel_for(k0, k1, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        const int64_t a = k * ch.grain - n0 * OH, b = std::min(ch.rows, (k + 1) * ch.grain) - n0 * OH;
        chunk(q, xf.data_as<const float>(), dyf.data_as<const float>(), a, b, partial.get() + k * tc);
      }
    });
  }
  combine_chunks_half(p, partial.get(), ch.count, dw);
}

}  // namespace depthwise_detail
}  // namespace cpu
}  // namespace advprop
