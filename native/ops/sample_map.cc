// The check every front-end that takes a sample map (advprop/sample_map.h) shares.
#include "advprop/sample_map.h"

#include <string>

#include "advprop/error.h"

namespace advprop {

void check_sample_map(const SampleMap& m, const char* op) {
  if (m.seg == 0) return;
  if (m.stride < m.seg || m.base > m.stride - m.seg)
    fail(ErrorCode::Arg, std::string(op) + ": sample map {segment " + std::to_string(m.seg) + ", stride " +
                             std::to_string(m.stride) + ", base " + std::to_string(m.base) +
                             "} must have 0 < segment and base + segment <= stride");
}

}  // namespace advprop
