#include "advprop/host_memory.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace advprop {
namespace host_memory {
namespace {

std::atomic<int64_t> g_reserved{0};

int64_t parse_size(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || !(v >= 0)) return -1;
  double mult = 1;
  switch (std::toupper(static_cast<unsigned char>(*end))) {
    case 'K': mult = 1024.0; ++end; break;
    case 'M': mult = 1024.0 * 1024; ++end; break;
    case 'G': mult = 1024.0 * 1024 * 1024; ++end; break;
    case 'T': mult = 1024.0 * 1024 * 1024 * 1024; ++end; break;
    default: break;
  }
  if (*end == 'B' || *end == 'b') ++end;
  if (*end != '\0' || v * mult > 9e18) return -1;
  return static_cast<int64_t>(v * mult);
}

// cgroup v2's memory.max, or v1's limit_in_bytes; 0 when unlimited or unreadable.
int64_t cgroup_limit() {
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    FILE* f = std::fopen(path, "r");
    if (!f) continue;
    char buf[64] = {0};
    const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
    std::fclose(f);
    if (!ok || std::strncmp(buf, "max", 3) == 0) continue;
    const long long v = std::atoll(buf);
    if (v > 0 && v < (1LL << 60)) return v;
  }
  return 0;
}

int64_t compute_limit() {
  if (const char* env = std::getenv("ADVPROP_HOST_MEMORY_LIMIT")) {
    const int64_t v = parse_size(env);
    if (v >= 0) return v;
    std::fprintf(stderr, "advprop: ignoring ADVPROP_HOST_MEMORY_LIMIT=%s (expected bytes, e.g. 8G)\n", env);
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  int64_t phys = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
  const int64_t cg = cgroup_limit();
  if (cg > 0 && (phys == 0 || cg < phys)) phys = cg;
  return phys / 10 * 8;
}

}  // namespace

int64_t limit() {
  static const int64_t l = compute_limit();
  return l;
}

bool reserve(size_t n) {
  const int64_t lim = limit();
  const int64_t add = static_cast<int64_t>(n);
  if (lim == 0) {
    g_reserved.fetch_add(add, std::memory_order_relaxed);
    return true;
  }
  int64_t cur = g_reserved.load(std::memory_order_relaxed);
  do {
    if (cur + add > lim) return false;
  } while (!g_reserved.compare_exchange_weak(cur, cur + add, std::memory_order_relaxed));
  return true;
}

void release(size_t n) { g_reserved.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed); }

int64_t reserved() { return g_reserved.load(std::memory_order_relaxed); }

const char* limit_note() {
  static const std::string note = limit() == 0
      ? std::string(" (no limit on host memory for tensors)")
      : " (limit " + std::to_string(limit() >> 20) + " MiB of host memory for tensors; ADVPROP_HOST_MEMORY_LIMIT changes it)";
  return note.c_str();
}

}  // namespace host_memory
}  // namespace advprop
