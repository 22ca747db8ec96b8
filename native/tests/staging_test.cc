// Host-to-device uploads (advprop/staging.h, native/cuda/staging.cu) on cpu and cuda-sim, here so
// that the sanitizer job runs them under ASan and UBSan: a Stager's uploads through both slots
// with the buffers growing, the small-copy ring wrapped several times with every tensor keeping
// its bytes, and the Stager's refusals.
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/ops.h"
#include "advprop/staging.h"
#include "half_check.h"
#include "harness.h"

namespace advprop {
namespace {

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> b(n);
  uint32_t x = seed * 2654435761u + 1u;
  for (size_t i = 0; i < n; ++i) x ^= x << 13, x ^= x >> 17, x ^= x << 5, b[i] = static_cast<uint8_t>(x);
  return b;
}

std::vector<uint8_t> read(const Tensor& t) {
  std::vector<uint8_t> out(t.nbytes());
  ops::to_host(t, out.data(), out.size());
  return out;
}

void stager_round_trips(const Device& d) {
  Stager s(d, 2);
  // Sizes that grow and shrink, so each slot's pinned buffer is replaced and then reused.
  const size_t sizes[] = {5, 700, 64, 70000, 3, 70001, 1};
  std::vector<Tensor> kept;
  std::vector<std::vector<uint8_t>> wanted;
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
    const int slot = static_cast<int>(k % 2);
    std::vector<uint8_t> host = pattern(sizes[k], static_cast<uint32_t>(k + 1));
    Tensor dst = ops::from_host(std::vector<uint8_t>(sizes[k]).data(), sizes[k], {static_cast<int64_t>(sizes[k])}, DType::u8, d);
    s.upload(slot, host.data(), host.size(), dst);
    wanted.push_back(host);
    std::fill(host.begin(), host.end(), 0);  // the caller may reuse its buffer at once
    s.release(slot);
    kept.push_back(dst);
  }
  for (size_t k = 0; k < kept.size(); ++k) EXPECT_MSG(read(kept[k]) == wanted[k], device_str(d) + " upload " + std::to_string(k));
  Tensor f = ops::from_host(std::vector<float>(4).data(), 16, {4}, DType::f32, d);
  Tensor u = ops::from_host(std::vector<uint8_t>(4).data(), 4, {4}, DType::u8, d);
  const uint8_t b[4] = {1, 2, 3, 4};
  EXPECT_THROWS(s.upload(2, b, 4, u), ErrorCode::Arg);
  EXPECT_THROWS(s.upload(0, b, 3, u), ErrorCode::Shape);
  EXPECT_THROWS(s.upload(0, b, 16, f), ErrorCode::DType);
  EXPECT_THROWS(s.release(-1), ErrorCode::Arg);
  EXPECT_THROWS(Stager(d, 0), ErrorCode::Arg);
  EXPECT_THROWS(Stager(d, 9), ErrorCode::Arg);
}

ADVPROP_NATIVE_TEST(stager_uploads_through_both_slots_cpu) { stager_round_trips(Device{}); }

ADVPROP_NATIVE_TEST(stager_uploads_through_both_slots_cuda_sim) {
  if (!test::kWithSim) return;
  stager_round_trips(Device{DeviceType::cuda_sim, 0});
  // A destination on another device is refused.
  Stager s(Device{DeviceType::cuda_sim, 0}, 1);
  Tensor c = ops::from_host(std::vector<uint8_t>(4).data(), 4, {4}, DType::u8, Device{});
  const uint8_t b[4] = {1, 2, 3, 4};
  EXPECT_THROWS(s.upload(0, b, 4, c), ErrorCode::Device);
}

// The ring holds 16 segments of 256 KiB: 40 copies of 150 KiB take a segment each (2.5 turns), the
// odd sizes between them share segments, and a 300 KiB copy takes the synchronising path.
ADVPROP_NATIVE_TEST(small_uploads_keep_their_bytes_while_the_ring_wraps_cuda_sim) {
  if (!test::kWithSim) return;
  const Device d{DeviceType::cuda_sim, 0};
  std::vector<Tensor> kept;
  std::vector<std::vector<uint8_t>> wanted;
  for (uint32_t k = 0; k < 40; ++k)
    for (size_t n : {size_t(150) << 10, size_t(1 + k), size_t(300) << 10}) {
      if (n == (size_t(300) << 10) && k % 10 != 0) continue;
      std::vector<uint8_t> host = pattern(n, k * 3 + static_cast<uint32_t>(n % 7));
      kept.push_back(ops::from_host(host.data(), n, {static_cast<int64_t>(n)}, DType::u8, d));
      wanted.push_back(host);
    }
  for (size_t k = 0; k < kept.size(); ++k) EXPECT_MSG(read(kept[k]) == wanted[k], "tensor " + std::to_string(k));
}

}  // namespace
}  // namespace advprop
