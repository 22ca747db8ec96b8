// Arithmetic rounded one operation at a time on every backend (host and device), for formulas
// whose bits must agree between the cpu, cuda and cuda-sim.
#pragma once
#include "advprop/hostdevice.h"

namespace advprop {

// One multiplication or addition rounded on its own on every backend: nvcc contracts a * b + c
// into an FMA unless told otherwise with the _rn intrinsics, and host files with such formulas
// turn contraction off (cpu/simd.h).
ADVPROP_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ADVPROP_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
ADVPROP_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
ADVPROP_HD double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// Correctly rounded on every backend already (nvcc's default -prec-div=true); spelled out so a
// fast-math flag cannot change it.
ADVPROP_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

}  // namespace advprop
