// How the front-ends that multiply through the backend-internal gemm (conv.cc, linear.cc) call
// it. The backends assert check_gemm_args; the front-end runs it first, so that a dtype the
// device's GEMM lacks (this build's or a backend's) is ERR_DTYPE naming the op, never a failed
// assertion (ERR_INTERNAL). Nothing else can fail here: the front-ends build the arguments from
// checked shapes.
#pragma once
#include <string>

#include "advprop/epilogue.h"
#include "advprop/gemm.h"
#include "dispatch.h"

namespace advprop {
namespace ops {

// c = the product (gemm.h) on c's device unless it is empty; returns c.
inline Tensor& call_gemm(const char* op, const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c,
                         const Epilogue* epi = nullptr) {
  if (g.m == 0 || g.n == 0) return c;
  try {
    check_gemm_args(g, a, b, c, c.device().type, epi);
  } catch (const Error& e) {
    fail(e.code(), std::string(op) + ": " + e.what());
  }
  ADVPROP_DISPATCH(c.device(), gemm, g, a, b, c, epi);
  return c;
}

}  // namespace ops
}  // namespace advprop
