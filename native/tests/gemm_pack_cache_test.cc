// The cpu GEMM's packed-weights cache (native/cpu/gemm_pack_cache.h): a GEMM with an epilogue
// keeps its B's pack between calls, keyed on the storage's stamp. Checked here: a kept pack gives
// the bits of a fresh one; a write by an op (copy_into, the optimizer and EMA updates) renews the
// stamp, and the next call reads the new weights; a view at another offset of the same storage
// has its own pack; borrowed memory is never kept; a storage's packs go with it; emptyCache drops
// every pack.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/cuda_graph.h"
#include "advprop/epilogue.h"
#include "advprop/gemm.h"
#include "advprop/ops.h"
#include "advprop/optim.h"
#include "elements.h"
#include "harness.h"
#include "../cpu/gemm_pack_cache.h"

namespace advprop {
namespace {

const Device kCpu{};
using test::random_cpu;

// C = A B^T with an eval batch norm + SiLU epilogue, A [m, k], B [n, k] (a 1x1 convolution's
// weights), C [m, n].
Tensor fused(const Tensor& a, const Tensor& b, const Tensor& affine) {
  GemmArgs g;
  g.trans_b = true, g.m = a.dim(0), g.n = b.dim(0), g.k = a.dim(1), g.lda = g.k, g.ldb = g.k, g.ldc = g.n;
  Epilogue e;
  e.affine = &affine, e.act = BnAct::silu;
  Tensor c = Tensor::empty({g.m, g.n}, a.dtype(), kCpu);
  cpu::gemm(g, a, b, c, &e);
  return c;
}

// The same product with no pack kept: B copied to a fresh storage first.
Tensor fresh(const Tensor& a, const Tensor& b, const Tensor& affine) {
  Tensor copy = Tensor::empty(b.shape(), b.dtype(), kCpu);
  std::memcpy(copy.data(), b.data(), b.nbytes());
  return fused(a, copy, affine);
}

bool same_bits(const Tensor& x, const Tensor& y) {
  return x.nbytes() == y.nbytes() && std::memcmp(x.data(), y.data(), x.nbytes()) == 0;
}

// An eval batch norm's [3, n] affine (mean, scale, shift), all in [0.5, 1.5).
Tensor affine_for(int64_t n, uint64_t seed) { return random_cpu({3, n}, DType::f32, seed, 0.5, 1.5); }

ADVPROP_NATIVE_TEST(gemm_pack_cache_keeps_and_renews_packs) {
  cpu::clear_packed_weights();
  // k over two of the GEMM's k blocks, n over several column panels and not a multiple of them.
  const int64_t m = 150, n = 70, k = 300;
  const Tensor a = random_cpu({m, k}, DType::f32, 1), affine = affine_for(n, 2);
  Tensor b = random_cpu({n, k}, DType::f32, 3);
  const Tensor first = fused(a, b, affine);
  EXPECT_EQ(cpu::packed_weights_stats().entries, int64_t(1));
  EXPECT_MSG(same_bits(first, fresh(a, b, affine)), "a pack made for this call = the per-call packing");
  EXPECT_MSG(same_bits(fused(a, b, affine), first), "the kept pack gives the same bits");
  // fresh()'s copy is gone, and its pack with it.
  EXPECT_EQ(cpu::packed_weights_stats().entries, int64_t(1));

  // Each in-place op renews the stamp; the next product reads the new weights.
  Tensor prev = first;
  const auto after_write = [&](const char* what) {
    const Tensor got = fused(a, b, affine);
    EXPECT_MSG(same_bits(got, fresh(a, b, affine)), std::string("after ") + what + ": the weights as written now");
    EXPECT_MSG(!same_bits(got, prev), std::string(what) + " changed the product");
    prev = got;
  };
  ops::copy_into(b, random_cpu({n, k}, DType::f32, 4));
  after_write("copy_into");
  SgdHyper h;
  h.lr = 0.25;
  Tensor buf = Tensor::empty({n, k}, DType::f32, kCpu);
  std::memset(buf.data(), 0, buf.nbytes());
  ops::sgd_update({b}, {random_cpu({n, k}, DType::f32, 5)}, {buf}, {}, h);
  after_write("sgd_update");
  ops::ema_update({b}, {random_cpu({n, k}, DType::f32, 6)}, 0.5);
  after_write("ema_update");

  // A view at another offset of the same storage has a pack of its own.
  const Tensor rows = b.slice0(10, 30), affine30 = affine_for(30, 7);
  EXPECT_MSG(same_bits(fused(a, rows, affine30), fresh(a, rows, affine30)), "a view's own pack");
  EXPECT_MSG(same_bits(fused(a, b, affine), prev), "the whole tensor's pack, still kept");
  EXPECT_EQ(cpu::packed_weights_stats().entries, int64_t(2));

  // Borrowed memory can change without an op: never kept.
  std::vector<float> host(static_cast<size_t>(n * k));
  std::memcpy(host.data(), b.data(), b.nbytes());
  const Tensor borrowed = Tensor::from_blob(host.data(), {n, k}, {k, 1}, DType::f32, kCpu);
  EXPECT_MSG(same_bits(fused(a, borrowed, affine), prev), "borrowed weights, the same values");
  EXPECT_EQ(cpu::packed_weights_stats().entries, int64_t(2));
  for (float& v : host) v = -v;
  EXPECT_MSG(same_bits(fused(a, borrowed, affine), fresh(a, borrowed, affine)), "borrowed weights written behind advprop's back");

  // A storage's packs go when it does.
  {
    const Tensor other = random_cpu({n, k}, DType::f32, 8);
    fused(a, other, affine);
    EXPECT_EQ(cpu::packed_weights_stats().entries, int64_t(3));
  }
  EXPECT_EQ(cpu::packed_weights_stats().entries, int64_t(2));

  // emptyCache frees every pack.
  EXPECT(cpu::packed_weights_stats().bytes > 0);
  backend(DeviceType::cpu).empty_cache();
  EXPECT_EQ(cpu::packed_weights_stats().entries, int64_t(0));
  EXPECT_EQ(cpu::packed_weights_stats().bytes, int64_t(0));
  EXPECT_MSG(same_bits(fused(a, b, affine), prev), "packed again after emptyCache");
}

}  // namespace
}  // namespace advprop
