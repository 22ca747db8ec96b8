// GEMM throughput per EfficientNet-B0 GEMM shape at 224 x 224: for every distinct 1x1
// convolution (expand, project, head) the forward product Y = X W^T, the input gradient
// dX = dY W and the weight gradient dW = dY^T X, plus the classifier, and one large square
// product as the card's practical peak; in bf16 and f16 (tensor cores), tf32 (tensor cores) and
// fp32 (the CUDA-core kernel), through the backend gemm entries that convolutions and linear
// layers call. Prints ms per call (best of 3 rounds of --reps calls after a warm-up) and TFLOP/s
// (2 m n k per call). With --torch FILE (bench/torch/gemm.py's output for the same --list) the
// rows gain PyTorch's ms and our/torch ratio. bench/gemm/run.sh builds this and runs both.
//
//   advprop_gemm_bench [--device cuda|cpu|cuda-sim] [--batch N] [--reps N] [--modes bf16,tf32,fp32]
//                      [--filter SUBSTR] [--square N] [--max-rows N] [--torch FILE] [--list]
// --list prints the shapes as CSV (key,ta,tb,m,n,k) for the PyTorch script and exits. Defaults:
// batch 256 on cuda, 8 on cpu, 1 on cuda-sim (where only the first --max-rows 3 rows run: the
// simulator is for checking that this runs, not for timing).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "advprop/device.h"
#include "advprop/error.h"
#include "advprop/gemm.h"
#include "advprop/half.h"
#include "advprop/ops.h"

namespace {

using namespace advprop;

struct Row {
  std::string key;  // "layer|gemm"
  GemmArgs g;
};

GemmArgs args(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
  GemmArgs g;
  g.trans_a = ta, g.trans_b = tb, g.m = m, g.n = n, g.k = k;
  g.lda = ta ? m : k, g.ldb = tb ? k : n, g.ldc = n;
  return g;
}

// The distinct 1x1 convolutions of B0 (bench/conv.ts, efficientNetB0) as (h, cin, cout), in order.
std::vector<std::vector<int64_t>> pointwise_layers() {
  std::vector<std::vector<int64_t>> out;
  auto add = [&](int64_t h, int64_t cin, int64_t cout) {
    for (const auto& l : out)
      if (l[0] == h && l[1] == cin && l[2] == cout) return;
    out.push_back({h, cin, cout});
  };
  const int64_t stages[][6] = {{1, 3, 1, 32, 16, 1},   {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2}, {6, 3, 2, 40, 80, 3},
                               {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1}};
  int64_t h = 112;
  for (const auto& s : stages)
    for (int64_t i = 0; i < s[5]; ++i) {
      const int64_t cin = i == 0 ? s[3] : s[4], stride = i == 0 ? s[2] : 1, mid = cin * s[0];
      if (s[0] != 1) add(h, cin, mid);
      const int64_t ho = (h + stride - 1) / stride;
      add(ho, mid, s[4]);
      h = ho;
    }
  add(h, 320, 1280);
  return out;
}

std::vector<Row> rows(int64_t batch, int64_t square) {
  std::vector<Row> out;
  for (const auto& l : pointwise_layers()) {
    const int64_t m = batch * l[0] * l[0], cin = l[1], cout = l[2];
    const std::string name = "1x1 " + std::to_string(l[0]) + "x" + std::to_string(l[0]) + " " + std::to_string(cin) +
                             "->" + std::to_string(cout);
    out.push_back({name + "|fwd", args(false, true, m, cout, cin)});     // y = x w^T
    out.push_back({name + "|dx", args(false, false, m, cin, cout)});     // dx = dy w
    out.push_back({name + "|dw", args(true, false, cout, cin, m)});      // dw = dy^T x
  }
  out.push_back({"classifier 1280->1000|fwd", args(false, true, batch, 1000, 1280)});
  if (square > 0) out.push_back({"square " + std::to_string(square) + "|fwd", args(false, false, square, square, square)});
  return out;
}

struct Mode {
  std::string name;
  DType dt;
  bool tf32;
};

Tensor random_tensor(int64_t n, DType dt, const Device& d, uint32_t seed) {
  std::vector<unsigned char> host(static_cast<size_t>(n) * dtype_size(dt));
  uint32_t s = seed;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    const float v = static_cast<float>(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    if (dt == DType::bf16) reinterpret_cast<bf16*>(host.data())[i] = to_bf16(v);
    else if (dt == DType::f16) reinterpret_cast<f16*>(host.data())[i] = to_f16(v);
    else reinterpret_cast<float*>(host.data())[i] = v;
  }
  return ops::from_host(host.data(), host.size(), {n}, dt, d);
}

void run_gemm(const Device& d, const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  switch (d.type) {
    case DeviceType::cpu: return cpu::gemm(g, a, b, c);
#if ADVPROP_WITH_CUDA
    case DeviceType::cuda: return cuda::gemm(g, a, b, c);
#endif
#if ADVPROP_WITH_SIM
    case DeviceType::cuda_sim: return cudasim::gemm(g, a, b, c);
#endif
    default: fail(ErrorCode::Device, "gemm bench: " + device_str(d) + " is not in this build");
  }
}

// Best of three rounds of `reps` calls, after one warm-up call; ms per call.
double time_ms(const std::function<void()>& fn, const Device& d, int reps) {
  DeviceBackend& be = backend(d.type);
  fn();
  be.synchronize(d.index);
  double best = std::numeric_limits<double>::infinity();
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) fn();
    be.synchronize(d.index);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    best = std::min(best, ms);
  }
  return best;
}

// key,mode -> ms from bench/torch/gemm.py ("key,mode,ms" lines).
std::map<std::string, double> read_torch(const std::string& path) {
  std::map<std::string, double> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.rfind(','), b = a == std::string::npos ? a : line.rfind(',', a - 1);
    if (b == std::string::npos) continue;
    out[line.substr(0, a)] = std::atof(line.c_str() + a + 1);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cuda", modes_arg = "bf16,tf32,fp32", filter, torch_file;
  int64_t batch = -1, square = 8192, max_rows = -1;
  int reps = -1;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--device") device = next();
    else if (a == "--batch") batch = std::atoll(next().c_str());
    else if (a == "--reps") reps = std::atoi(next().c_str());
    else if (a == "--modes") modes_arg = next();
    else if (a == "--filter") filter = next();
    else if (a == "--square") square = std::atoll(next().c_str());
    else if (a == "--max-rows") max_rows = std::atoll(next().c_str());
    else if (a == "--torch") torch_file = next();
    else if (a == "--list") list = true;
    else {
      std::fprintf(stderr, "unknown argument %s (see the header of bench/gemm/gemm_bench.cc)\n", a.c_str());
      return 2;
    }
  }
  try {
    const Device d = device_from_str(device);
    const bool gpu = d.type == DeviceType::cuda, sim = d.type == DeviceType::cuda_sim;
    if (batch < 0) batch = gpu ? 256 : sim ? 1 : 8;
    if (reps < 0) reps = gpu ? 20 : sim ? 1 : 3;
    if (max_rows < 0) max_rows = sim ? 3 : std::numeric_limits<int64_t>::max();
    if (!gpu && square == 8192) square = sim ? 0 : 1024;
    std::vector<Row> all = rows(batch, square), selected;
    for (const Row& r : all)
      if (r.key.find(filter) != std::string::npos && static_cast<int64_t>(selected.size()) < max_rows) selected.push_back(r);
    if (list) {
      for (const Row& r : selected)
        std::printf("%s,%d,%d,%lld,%lld,%lld\n", r.key.c_str(), r.g.trans_a, r.g.trans_b, (long long)r.g.m,
                    (long long)r.g.n, (long long)r.g.k);
      return 0;
    }
    if (!device_available(d.type)) {
      std::printf("gemm bench skipped: %s is unavailable (%s)\n", device.c_str(),
                  backend(d.type).unavailable_reason().c_str());
      return 0;
    }
    std::vector<Mode> modes;
    std::stringstream ms(modes_arg);
    for (std::string m; std::getline(ms, m, ',');) {
      if (m == "bf16") modes.push_back({m, DType::bf16, false});
      else if (m == "f16") modes.push_back({m, DType::f16, false});
      else if (m == "tf32") modes.push_back({m, DType::f32, true});
      else if (m == "fp32") modes.push_back({m, DType::f32, false});
      else throw Error(ErrorCode::Arg, "unknown mode " + m + " (bf16, f16, tf32, fp32)");
    }
    const std::map<std::string, double> torch = torch_file.empty() ? std::map<std::string, double>{} : read_torch(torch_file);
    const DeviceInfo info = backend(d.type).info(d.index);
    std::printf("gemm bench on %s (%s), batch %lld, %d reps, best of 3 rounds%s\n", device_str(d).c_str(), info.name.c_str(),
                (long long)batch, reps, torch.empty() ? "" : "; torch = PyTorch matmul (cuBLAS) on the same device");
    std::printf("%-28s %-4s %-5s %9s %6s %6s %9s %9s%s\n", "layer", "gemm", "mode", "m", "n", "k", "ms", "TFLOP/s",
                torch.empty() ? "" : "  torch ms  TFLOP/s  ours/torch");
    for (const Row& r : selected) {
      const size_t bar = r.key.find('|');
      const GemmArgs& g0 = r.g;
      const int64_t na = g0.trans_a ? g0.k * g0.lda : g0.m * g0.lda, nb = g0.trans_b ? g0.n * g0.ldb : g0.k * g0.ldb;
      for (const Mode& md : modes) {
        GemmArgs g = g0;
        g.tf32 = md.tf32;
        const Tensor a = random_tensor(na, md.dt, d, 1), b = random_tensor(nb, md.dt, d, 2);
        Tensor c = Tensor::empty({g.m * g.ldc}, md.dt, d);
        const double t = time_ms([&] { run_gemm(d, g, a, b, c); }, d, reps);
        const double tflops = 2.0 * double(g.m) * double(g.n) * double(g.k) / (t * 1e-3) / 1e12;
        std::printf("%-28s %-4s %-5s %9lld %6lld %6lld %9.4f %9.2f", r.key.substr(0, bar).c_str(), r.key.c_str() + bar + 1,
                    md.name.c_str(), (long long)g.m, (long long)g.n, (long long)g.k, t, tflops);
        const auto it = torch.find(r.key + "," + md.name);
        if (it != torch.end() && it->second > 0)
          std::printf("  %8.4f %8.2f %10.2f", it->second, tflops * t / it->second, it->second / t);
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "gemm bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
