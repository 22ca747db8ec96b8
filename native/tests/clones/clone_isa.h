// Force-included (-include) into every file of one advprop_clone_bits_* executable: the cloned
// loops are compiled for the one ISA that ADVPROP_CLONE_ISA names (1 baseline, 2 AVX2, 3 AVX-512)
// instead of as target_clones, so each executable runs what that clone runs. See clone_bits.cc.
#pragma once
#if ADVPROP_CLONE_ISA == 3
#define ADVPROP_CPU_CLONES __attribute__((target("avx512f")))
#elif ADVPROP_CLONE_ISA == 2
#define ADVPROP_CPU_CLONES __attribute__((target("arch=x86-64-v3")))
#else
#define ADVPROP_CPU_CLONES
#endif
