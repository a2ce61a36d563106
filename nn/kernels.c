/*
 * kernels.c - picks the kernel table at run time.
 *
 * The CPU-feature answer is cached in one of the library's two pieces of
 * global state (the other is the thread pool). NN_ISA in the environment, or
 * nn_set_isa, caps the choice so tests and benchmarks can compare ISAs.
 */
#include <stdlib.h>
#include <string.h>

#include "nn.h"

/* The SIMD tables, defined in kernels_avx2.c / kernels_avx512.c. */
extern const nn_kernels nn_kernels_avx2;
extern const nn_kernels nn_kernels_avx512;

static const nn_kernels *g_active; /* NULL until first use */

const char *nn_isa_name(nn_isa isa) {
    switch (isa) {
    case NN_ISA_REFERENCE: return "reference";
    case NN_ISA_AVX2: return "avx2";
    case NN_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

nn_isa nn_cpu_best_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return NN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NN_ISA_AVX2;
    return NN_ISA_REFERENCE;
}

const nn_kernels *nn_kernels_for(nn_isa isa) {
    if (isa > nn_cpu_best_isa()) return NULL;
    switch (isa) {
    case NN_ISA_REFERENCE: return &nn_kernels_reference;
    case NN_ISA_AVX2: return &nn_kernels_avx2;
    case NN_ISA_AVX512: return &nn_kernels_avx512;
    }
    return NULL;
}

nn_status nn_set_isa(nn_isa isa) {
    const nn_kernels *k = nn_kernels_for(isa);
    if (!k) return NN_ERR_ARG;
    g_active = k;
    return NN_OK;
}

const nn_kernels *nn_kernels_get(void) {
    if (!g_active) {
        nn_isa isa = nn_cpu_best_isa();
        const char *env = getenv("NN_ISA");
        if (env) {
            for (int i = NN_ISA_REFERENCE; i <= NN_ISA_AVX512; i++)
                if (strcmp(env, nn_isa_name((nn_isa)i)) == 0 && i < (int)isa) isa = (nn_isa)i;
        }
        g_active = nn_kernels_for(isa);
    }
    return g_active;
}
