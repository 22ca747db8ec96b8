// Where a rank's samples sit in the global batch, so that draws keyed by element index (dropout,
// drop-connect, the PGD random start) give each sample the numbers it gets in one process holding
// the whole global batch: a data-parallel run then draws the same masks and noise whatever the
// number of ranks (issue 17, item 4).
//
// A rank's batch is made of segments of `seg` samples (AdvProp's 2N batch: the clean block, then
// the adversarial block), and segment j of every rank together form global segment j of `stride`
// samples, rank r's part starting at `base` (r × seg). Local sample s is then global sample
//   (s / seg) × stride + base + s % seg,
// and element k of a sample of d elements is element global_sample × d + k. seg 0 is the identity
// (one process, or a caller that keys its own draws), with which every kernel keeps its own
// numbering and bits.
#pragma once
#include <cstdint>

#include "advprop/hostdevice.h"

namespace advprop {

struct SampleMap {
  uint64_t seg = 0, stride = 0, base = 0;

  ADVPROP_HD bool identity() const { return seg == 0; }
  ADVPROP_HD uint64_t sample(uint64_t s) const { return seg == 0 ? s : (s / seg) * stride + base + s % seg; }
  ADVPROP_HD uint64_t element(uint64_t i, uint64_t d) const { return seg == 0 ? i : sample(i / d) * d + i % d; }
  // Samples in the global batch that n local samples belong to (whole segments).
  ADVPROP_HD uint64_t global_samples(uint64_t n) const { return seg == 0 ? n : (n + seg - 1) / seg * stride; }
};

// ERR_ARG unless seg is 0, or 0 < seg and base + seg <= stride (the rank's part inside its segment).
void check_sample_map(const SampleMap& m, const char* op);

}  // namespace advprop
