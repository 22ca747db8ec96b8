#include "half_check.h"

#include <cmath>
#include <cstring>
#include <random>

#include "advprop/dtype_dispatch.h"
#include "advprop/ops.h"
#include "harness.h"

namespace advprop {
namespace test {
namespace {

std::string num(double v) { return describe_double(v); }

// The bits of element i as an integer that orders like the values (sign-magnitude folded), so
// neighbouring representable values differ by 1.
int64_t ordered_bits(const Tensor& t, int64_t i) {
  const size_t es = dtype_size(t.dtype());
  const unsigned char* p = static_cast<const unsigned char*>(t.data()) + i * es;
  uint64_t u = 0;
  std::memcpy(&u, p, es);  // little-endian
  const int bits = static_cast<int>(es * 8);
  const uint64_t sign = uint64_t(1) << (bits - 1);
  const int64_t mag = static_cast<int64_t>(u & (sign - 1));
  return (u & sign) ? -mag : mag;
}

Tensor host_copy(const Tensor& t) { return t.device().type == DeviceType::cpu ? t : ops::to_device(t, Device{}); }

}  // namespace

Tensor sim_copy(const Tensor& t) { return ops::to_device(t, Device{DeviceType::cuda_sim, 0}); }
Tensor cpu_copy(const Tensor& t) { return host_copy(t); }

double round_to(DType dt, double v) {
  double out = 0;
  dispatch_dtype<MixedFloatTypes>(dt, "round_to", [&](auto tag) {
    using T = decltype(tag);
    out = static_cast<double>(to_accum(from_double<T>(v)));
  });
  return out;
}

Tensor tensor_of(const Values& v, const Shape& shape, DType dt, Device dev) {
  Tensor host = Tensor::empty(shape, dt, Device{});
  REQUIRE(host.numel() == static_cast<int64_t>(v.size()));
  dispatch_dtype<MixedFloatTypes>(dt, "tensor_of", [&](auto tag) {
    using T = decltype(tag);
    T* p = host.data_as<T>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = from_double<T>(v[i]);
  });
  return dev.type == DeviceType::cpu ? host : ops::to_device(host, dev);
}

Values values_of(const Tensor& t) {
  const Tensor h = host_copy(t);
  Values out(static_cast<size_t>(h.numel()));
  dispatch_dtype<MixedFloatTypes>(h.dtype(), "values_of", [&](auto tag) {
    using T = decltype(tag);
    const T* p = h.data_as<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(to_accum(p[i]));
  });
  return out;
}

Values uniform_values(int64_t n, uint64_t seed, double lo, double hi, DType dt) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  Values v(static_cast<size_t>(n));
  for (double& x : v) x = round_to(dt, dist(rng));
  return v;
}

double unit_roundoff(DType dt) {
  switch (dt) {
    case DType::bf16: return std::ldexp(1.0, -8);
    case DType::f16: return std::ldexp(1.0, -11);
    case DType::f32: return std::ldexp(1.0, -24);
    default: return std::ldexp(1.0, -53);
  }
}

void expect_rounded_at(const char* file, int line, const std::string& what, const Tensor& got, const Values& ref,
                       const Values& err) {
  const Values g = values_of(got);
  if (g.size() != ref.size() || (!err.empty() && err.size() != ref.size())) {
    record_failure(file, line, what + ": sizes differ");
    return;
  }
  const DType dt = got.dtype();
  int64_t bad = 0;
  std::string first;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i];
    double e = err.empty() ? 0.0 : err[i];
    if (!std::isfinite(e)) e = 0;  // an infinite reference: the f32 arithmetic overflowed as well
    bool ok;
    double lo = r, hi = r;
    if (std::isnan(r)) {
      ok = std::isnan(g[i]);
    } else {
      lo = round_to(dt, r - e);
      hi = round_to(dt, r + e);
      ok = g[i] >= lo && g[i] <= hi;
    }
    if (!ok && bad++ < 4)
      first += " [" + std::to_string(i) + "] got " + num(g[i]) + " want " + num(r) + " in [" + num(lo) + ", " + num(hi) + "];";
  }
  if (bad)
    record_failure(file, line,
                   what + " (" + dtype_name(dt) + "): " + std::to_string(bad) + " of " + std::to_string(ref.size()) +
                       " elements not a rounding of the reference:" + first);
}

void expect_same_bits_at(const char* file, int line, const std::string& what, const Tensor& got, const Tensor& want) {
  const Tensor a = host_copy(got), b = host_copy(want);
  if (a.dtype() != b.dtype() || a.numel() != b.numel()) {
    record_failure(file, line, what + ": dtype or size differs");
    return;
  }
  const size_t es = dtype_size(a.dtype());
  int64_t bad = 0;
  std::string first;
  const Values va = values_of(a), vb = values_of(b);
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(static_cast<const char*>(a.data()) + i * es, static_cast<const char*>(b.data()) + i * es, es) &&
        bad++ < 4)
      first += " [" + std::to_string(i) + "] got " + num(va[i]) + " want " + num(vb[i]) + ";";
  if (bad)
    record_failure(file, line,
                   what + " (" + dtype_name(a.dtype()) + "): " + std::to_string(bad) + " of " + std::to_string(a.numel()) +
                       " elements differ:" + first);
}

void expect_within_ulp_at(const char* file, int line, const std::string& what, const Tensor& got, const Tensor& want) {
  const Tensor a = host_copy(got), b = host_copy(want);
  if (a.dtype() != b.dtype() || a.numel() != b.numel()) {
    record_failure(file, line, what + ": dtype or size differs");
    return;
  }
  const Values va = values_of(a), vb = values_of(b);
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
    const int64_t d = ordered_bits(a, i) - ordered_bits(b, i);
    if ((d > 1 || d < -1 || std::isnan(va[i]) != std::isnan(vb[i])) && bad++ < 4)
      first += " [" + std::to_string(i) + "] got " + num(va[i]) + " want " + num(vb[i]) + ";";
  }
  if (bad)
    record_failure(file, line,
                   what + " (" + dtype_name(a.dtype()) + "): " + std::to_string(bad) + " of " + std::to_string(a.numel()) +
                       " elements more than one ulp apart:" + first);
}

}  // namespace test
}  // namespace advprop
