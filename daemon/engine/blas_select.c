#include "blas_select.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char *openblas_get_corename(void);

#define REEXEC_GUARD "BRN_BLAS_REEXEC"

static const char *best_core(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

void brn_blas_select_reexec(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv(REEXEC_GUARD)) return;
    const char *in_use = openblas_get_corename(), *best = best_core();
    if (!best || !in_use) return;
    /* only a fallback to a generic core is corrected; a recognized CPU keeps its own kernels */
    if (strcasecmp(in_use, "Prescott") && strcasecmp(in_use, "Core2") && strcasecmp(in_use, "Nehalem") &&
        strcasecmp(in_use, "Katmai") && strcasecmp(in_use, "Northwood"))
        return;
    setenv("OPENBLAS_CORETYPE", best, 1);
    setenv(REEXEC_GUARD, "1", 1);
    execv("/proc/self/exe", argv);
    /* execv failed: carry on with the slow kernels */
}

const char *brn_blas_core_name(void) { return openblas_get_corename(); }
