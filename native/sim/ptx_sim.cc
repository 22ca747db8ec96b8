// cuda-sim's models of mma.sync, ldmatrix and cp.async (what they model: cuda_sim_ptx.h). The
// warp-wide ones gather the warp's registers through detail::warp_collective and compute the
// instruction once, in lane order, so results never depend on scheduling.
#define ADVPROP_SIM 1
#include "cuda_sim.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/error.h"
#include "advprop/half.h"
#include "cuda_sim_ptx.h"

namespace advprop {
namespace sim {
namespace ptx {
namespace {

using detail::LaneWords;

// Lane words of an mma: a[0..3], b[0..1], c[0..3].
constexpr int kA = 0, kB = 4, kC = 6, kMmaWords = 10;


// D = A * B + C over the warp's fragments, A m x k and B k x n held as doubles (exact: every
// operand type converts exactly). The sum starts at C and adds the products in k order, in
// double; one rounding to f32 at the end.
template <int M, int N, int K>
void accumulate(LaneWords* w, const double (&a)[M][K], const double (&b)[K][N]) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
      double s = half_detail::f32_from_bits(w[lane].in[kC + i]);
      for (int k = 0; k < K; ++k) s += a[row][k] * b[k][col];
      const float d = static_cast<float>(s);
      w[lane].out[i] = d != d ? 0x7fffffffu : half_detail::f32_bits(d);  // the GPU's canonical NaN
    }
  }
}

template <float (*Decode)(uint16_t)>
void run_mma_m16n8k16(LaneWords* w) {
  double a[16][16], b[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < 2; ++h)
        a[g + 8 * (r & 1)][2 * t + h + 8 * (r >> 1)] = Decode(static_cast<uint16_t>(w[lane].in[kA + r] >> (16 * h)));
    for (int r = 0; r < 2; ++r)
      for (int h = 0; h < 2; ++h)
        b[2 * t + h + 8 * r][g] = Decode(static_cast<uint16_t>(w[lane].in[kB + r] >> (16 * h)));
  }
  accumulate<16, 8, 16>(w, a, b);
}

// tf32: the f32 pattern with its low 13 mantissa bits dropped.
double tf32(uint32_t bits) { return half_detail::f32_from_bits(bits & 0xffffe000u); }

void run_mma_m16n8k8_tf32(LaneWords* w) {
  double a[16][8], b[8][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    for (int r = 0; r < 4; ++r) a[g + 8 * (r & 1)][t + 4 * (r >> 1)] = tf32(w[lane].in[kA + r]);
    for (int r = 0; r < 2; ++r) b[t + 4 * r][g] = tf32(w[lane].in[kB + r]);
  }
  accumulate<16, 8, 8>(w, a, b);
}

const detail::WarpCollective kMmaBf16{"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
                                      run_mma_m16n8k16<bf16_bits_to_f32>};
const detail::WarpCollective kMmaF16{"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
                                     run_mma_m16n8k16<f16_bits_to_f32>};
const detail::WarpCollective kMmaTf32{"mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", run_mma_m16n8k8_tf32};

// Lane words of an ldmatrix: the row address in in[0] (low) and in[1] (high).
const uint16_t* row_of(const LaneWords& w) {
  const uint64_t p = static_cast<uint64_t>(w.in[0]) | static_cast<uint64_t>(w.in[1]) << 32;
  return reinterpret_cast<const uint16_t*>(static_cast<uintptr_t>(p));
}

template <int Num, bool Trans>
void run_ldmatrix(LaneWords* w) {
  for (int j = 0; j < Num; ++j) {
    uint16_t m[8][8];  // matrix j as stored: row r from lane 8j + r
    for (int r = 0; r < 8; ++r) std::memcpy(m[r], row_of(w[8 * j + r]), 16);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2, t = lane & 3;
      const uint16_t lo = Trans ? m[2 * t][g] : m[g][2 * t];
      const uint16_t hi = Trans ? m[2 * t + 1][g] : m[g][2 * t + 1];
      w[lane].out[j] = static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16;
    }
  }
}

const detail::WarpCollective kLdmatrix[2][3] = {
    {{"ldmatrix.sync.aligned.m8n8.x1.shared.b16", run_ldmatrix<1, false>},
     {"ldmatrix.sync.aligned.m8n8.x2.shared.b16", run_ldmatrix<2, false>},
     {"ldmatrix.sync.aligned.m8n8.x4.shared.b16", run_ldmatrix<4, false>}},
    {{"ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16", run_ldmatrix<1, true>},
     {"ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16", run_ldmatrix<2, true>},
     {"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", run_ldmatrix<4, true>}}};

std::string hex_ptr(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

int lane_id() { return static_cast<int>(detail::tl_current.linear_tid & 31u); }

// ---- cp.async: per simulated thread, in a table indexed by its linear id -------------------

struct PendingCopy {
  unsigned char* dst;
  unsigned char data[16];  // the source as read at issue, zero-filled past src_size
  uint32_t bytes;
  uint32_t group;
};
struct ThreadCopies {
  uint64_t block = 0;       // detail::CurrentThread::block_serial of the block these belong to
  uint32_t next_group = 0;  // the group that copies issued now join
  std::vector<PendingCopy> pending;  // in issue order, so groups ascend
};
thread_local std::vector<ThreadCopies> tl_copies;

// This thread's queue; a queue left by a thread of an earlier block is dropped.
ThreadCopies& my_copies() {
  const detail::CurrentThread& cur = detail::tl_current;
  if (tl_copies.empty()) tl_copies.resize(rt::kMaxThreadsPerBlock);
  ThreadCopies& q = tl_copies[cur.linear_tid];
  if (q.block != cur.block_serial) {
    q.block = cur.block_serial;
    q.next_group = 0;
    q.pending.clear();
  }
  return q;
}

[[noreturn]] void fail_copy(const std::string& what) {
  throw Error(ErrorCode::Cuda, "cp.async by thread " + std::to_string(detail::tl_current.linear_tid) + ": " + what);
}

}  // namespace

void mma(Mma shape, float* d, const uint32_t* a, const uint32_t* b, const float* c) {
  uint32_t in[kMmaWords], out[4];
  std::memcpy(in + kA, a, 16);
  std::memcpy(in + kB, b, 8);
  std::memcpy(in + kC, c, 16);
  const detail::WarpCollective& op =
      shape == Mma::m16n8k16_bf16 ? kMmaBf16 : shape == Mma::m16n8k16_f16 ? kMmaF16 : kMmaTf32;
  detail::warp_collective(op, in, kMmaWords, out, 4);
  std::memcpy(d, out, 16);
}

void ldmatrix(int num, bool trans, uint32_t* r, const void* row) {
  const int which = num == 1 ? 0 : num == 2 ? 1 : 2;
  const detail::WarpCollective& op = kLdmatrix[trans ? 1 : 0][which];
  // Lanes past 8 * num supply no address; theirs is not read, so not checked.
  if (lane_id() < 8 * num && reinterpret_cast<uintptr_t>(row) % 16 != 0)
    throw Error(ErrorCode::Cuda, std::string(op.name) + ": lane " + std::to_string(lane_id()) + "'s row address " +
                                     hex_ptr(row) + " is not 16-byte aligned (misaligned address)");
  const uint64_t p = reinterpret_cast<uintptr_t>(row);
  const uint32_t in[2] = {static_cast<uint32_t>(p), static_cast<uint32_t>(p >> 32)};
  uint32_t out[4];
  detail::warp_collective(op, in, 2, out, num);
  std::memcpy(r, out, 4 * static_cast<size_t>(num));
}

void cp_async(void* dst, const void* src, int cp_size, int src_size) {
  if (cp_size != 4 && cp_size != 8 && cp_size != 16) fail_copy("cp-size " + std::to_string(cp_size) + " is not 4, 8 or 16");
  if (src_size < 0 || src_size > cp_size)
    fail_copy("src-size " + std::to_string(src_size) + " outside [0, " + std::to_string(cp_size) + "]");
  if (reinterpret_cast<uintptr_t>(dst) % cp_size || reinterpret_cast<uintptr_t>(src) % cp_size)
    fail_copy("addresses " + hex_ptr(dst) + " <- " + hex_ptr(src) + " are not aligned to " + std::to_string(cp_size) +
              " bytes (misaligned address)");
  ThreadCopies& q = my_copies();
  PendingCopy c{static_cast<unsigned char*>(dst), {}, static_cast<uint32_t>(cp_size), q.next_group};
  if (src_size) std::memcpy(c.data, src, static_cast<size_t>(src_size));
  std::memset(dst, 0xFF, static_cast<size_t>(cp_size));
  q.pending.push_back(c);
}

void cp_async_commit() { ++my_copies().next_group; }

void cp_async_wait(int pending) {
  ThreadCopies& q = my_copies();
  // Groups below `done` are complete; the uncommitted one (next_group) is never waited for.
  const int64_t done = static_cast<int64_t>(q.next_group) - pending;
  size_t n = 0;
  while (n < q.pending.size() && static_cast<int64_t>(q.pending[n].group) < done) {
    std::memcpy(q.pending[n].dst, q.pending[n].data, q.pending[n].bytes);
    ++n;
  }
  q.pending.erase(q.pending.begin(), q.pending.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace ptx
}  // namespace sim
}  // namespace advprop
