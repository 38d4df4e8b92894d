/* Choosing OpenBLAS's kernels on CPUs its build does not recognize.
 *
 * OpenBLAS 0.3.21 (Debian 12) picks its kernels when the library loads, before main(), by
 * CPU model; a newer Xeon it does not know (e.g. family 6 model 207) gets the generic
 * Prescott (SSE3) kernels, 4-5x slower than its AVX-512 ones on the same machine.
 * brn_blas_select_reexec() — called first thing in main() — re-executes the program once with
 * OPENBLAS_CORETYPE set from the CPU's actual features (SkylakeX for AVX-512, Haswell for
 * AVX2+FMA). A user's own OPENBLAS_CORETYPE is always respected. Returns only when no
 * re-execution was needed or it failed. */
#ifndef BRN_BLAS_SELECT_H
#define BRN_BLAS_SELECT_H

void brn_blas_select_reexec(char **argv);

/* "SkylakeX", "Prescott", ... as OpenBLAS reports the kernels in use. */
const char *brn_blas_core_name(void);

#endif
