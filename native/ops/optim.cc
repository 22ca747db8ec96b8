// Front-ends of the fused optimizer updates: every list checked element by element, with
// errors that name the list and the index, before one kernel call updates them all in place.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "advprop/optim.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

struct Named {
  const TensorList* list;
  const char* name;
  bool written;
};

std::string at(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

void check_hyper(const char* op, const char* arg, double v, double lo, double hi, bool lo_open = false) {
  if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
    fail(ErrorCode::Arg, std::string(op) + ": '" + arg + "' must be a finite number in " + (lo_open ? "(" : "[") +
                             std::to_string(lo) + ", " + (std::isfinite(hi) ? std::to_string(hi) : "inf") +
                             "], got " + std::to_string(v));
}

// Lengths, then each tensor against lists[0][0] (dtype, device) and lists[0][i] (shape), then
// that no written tensor shares memory with another tensor of the call.
void check_lists(const char* op, const std::vector<Named>& lists, const std::vector<uint8_t>* decay) {
  const Named& lead = lists[0];
  const size_t n = lead.list->size();
  for (const Named& l : lists)
    if (l.list->size() != n)
      fail(ErrorCode::Arg, std::string(op) + ": '" + l.name + "' has " + std::to_string(l.list->size()) +
                               " tensors but '" + lead.name + "' has " + std::to_string(n));
  if (decay && !decay->empty() && decay->size() != n)
    fail(ErrorCode::Arg, std::string(op) + ": 'decay' has " + std::to_string(decay->size()) + " flags but '" +
                             lead.name + "' has " + std::to_string(n) + " tensors");
  if (n == 0) return;
  struct Range {
    uintptr_t lo, hi;
    bool written;
    uint32_t list, index;  // named only if it clashes: names cost more than the checks
  };
  std::vector<Range> ranges;
  ranges.reserve(lists.size() * n);
  const Tensor& first = (*lead.list)[0];
  for (uint32_t li = 0; li < lists.size(); ++li) {
    const Named& l = lists[li];
    for (size_t i = 0; i < n; ++i) {
      const Tensor& t = (*l.list)[i];
      const bool ok = t.defined() && t.is_contiguous() && is_float(t.dtype()) && t.dtype() == first.dtype() &&
                      t.device() == first.device() && t.shape() == (*lead.list)[i].shape();
      if (!ok) {
        // The named checks report the first failing property with its usual message.
        const std::string name = at(l.name, i);
        check_float_input(t, op, name.c_str());
        const std::string first_name = at(lead.name, 0);
        check_same_dtype(t, first, op, name.c_str(), first_name.c_str());
        check_same_device(t, first, op, name.c_str(), first_name.c_str());
        check_same_shape(t, (*lead.list)[i], op, name.c_str(), at(lead.name, i).c_str());
      }
      if (t.numel() == 0) continue;
      const auto lo = reinterpret_cast<uintptr_t>(t.data());
      ranges.push_back({lo, lo + t.nbytes(), l.written, li, static_cast<uint32_t>(i)});
    }
  }
  require_device(first.device(), op);
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  // An earlier range overlaps r exactly when it ends after r.lo, so it is enough to remember the
  // earlier range reaching furthest, and the written one reaching furthest.
  const Range* far_any = nullptr;
  const Range* far_written = nullptr;
  for (const Range& r : ranges) {
    const Range* clash = far_written && r.lo < far_written->hi ? far_written
                         : r.written && far_any && r.lo < far_any->hi ? far_any
                                                                     : nullptr;
    if (clash)
      fail(ErrorCode::Arg, std::string(op) + ": " + at(lists[r.list].name, r.index) + " and " +
                               at(lists[clash->list].name, clash->index) +
                               " share memory; the tensors of one update must be distinct (a tensor listed twice?)");
    if (!far_any || r.hi > far_any->hi) far_any = &r;
    if (r.written && (!far_written || r.hi > far_written->hi)) far_written = &r;
  }
}

// A device scalar for a hyper-parameter: f64 [1] on the lists' device.
void check_scalar_at(const char* op, const char* arg, const Tensor& at, const TensorList& lead, const char* lead_name) {
  if (!at.defined() || lead.empty()) return;
  const std::string first = std::string(lead_name) + "[0]";
  TensorArg(op, arg, at).contiguous().dtype(DType::f64).shape({1}).same_device_as(lead[0], first.c_str());
}

// The flags the kernels take: none when the weight decay is 0, so they test one flag per tensor.
const std::vector<uint8_t>& decay_flags(const std::vector<uint8_t>& decay, double weight_decay) {
  static const std::vector<uint8_t> none;
  return weight_decay != 0 ? decay : none;
}

}  // namespace

void rmsprop_update(const TensorList& params, const TensorList& grads, const TensorList& ms, const TensorList& mom,
                    const std::vector<uint8_t>& decay, const RmspropHyper& h) {
  const char* op = "rmspropUpdate";
  if (!h.lr_at.defined()) check_hyper(op, "lr", h.lr, 0, INFINITY);
  check_hyper(op, "rho", h.rho, 0, 1);
  check_hyper(op, "momentum", h.momentum, 0, INFINITY);
  check_hyper(op, "eps", h.eps, 0, INFINITY, true);
  check_hyper(op, "weightDecay", h.weight_decay, 0, INFINITY);
  check_lists(op, {{&params, "params", true}, {&grads, "grads", false}, {&ms, "ms", true}, {&mom, "mom", true}}, &decay);
  check_scalar_at(op, "lr", h.lr_at, params, "params");
  if (params.empty()) return;
  mark_written(params), mark_written(ms), mark_written(mom);
  ADVPROP_DISPATCH(params[0].device(), rmsprop_update, params, grads, ms, mom, decay_flags(decay, h.weight_decay), h);
}

void sgd_update(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                const std::vector<uint8_t>& decay, const SgdHyper& h) {
  const char* op = "sgdUpdate";
  if (!h.lr_at.defined()) check_hyper(op, "lr", h.lr, 0, INFINITY);
  check_hyper(op, "momentum", h.momentum, 0, INFINITY);
  check_hyper(op, "weightDecay", h.weight_decay, 0, INFINITY);
  check_lists(op, {{&params, "params", true}, {&grads, "grads", false}, {&bufs, "bufs", true}}, &decay);
  check_scalar_at(op, "lr", h.lr_at, params, "params");
  if (params.empty()) return;
  mark_written(params), mark_written(bufs);
  ADVPROP_DISPATCH(params[0].device(), sgd_update, params, grads, bufs, decay_flags(decay, h.weight_decay), h);
}

void ema_update(const TensorList& emas, const TensorList& sources, double decay, const Tensor& decay_at) {
  const char* op = "emaUpdate";
  if (!decay_at.defined()) check_hyper(op, "decay", decay, 0, 1);
  check_lists(op, {{&emas, "emas", true}, {&sources, "sources", false}}, nullptr);
  check_scalar_at(op, "decay", decay_at, emas, "emas");
  if (emas.empty()) return;
  mark_written(emas);
  ADVPROP_DISPATCH(emas[0].device(), ema_update, emas, sources, decay, decay_at);
}

void ema_update(const TensorList& emas, const TensorList& sources, double decay) {
  ema_update(emas, sources, decay, Tensor());
}

}  // namespace ops
}  // namespace advprop
