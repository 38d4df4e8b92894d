/* Fuzz target: a checkpoint file as brnd reads it back: the safetensors reader (lengths,
 * shapes, offsets, checksum), the checkpoint policy, the run state and diagnostics in the
 * metadata, the state's ranges against a run, and the stored spec. Every refusal must come
 * with a message; nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_file.h"
#include "errors.h"

#define N_NORMS 8

static void must(int cond)
{
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brn_st_file f;
    char err[1024] = "";
    int rc = brn_st_parse(&f, data, size, "fuzz", err, sizeof err);
    must(rc == 0 || (rc < 0 && err[0] && f.blob == NULL && f.n == 0));
    if (rc) return 0;
    for (int i = 0; i < f.n; i++) { /* every tensor's bytes lie inside the file */
        const brn_st_tensor *t = &f.tensors[i];
        must((const uint8_t *)t->data >= f.blob && (const uint8_t *)t->data + t->nbytes <= f.blob + f.blob_size);
    }
    if (brn_checkpoint_file_check(&f, "fuzz", err, sizeof err) == 0) {
        brn_run_state st;
        brn_diag_acc diag[N_NORMS];
        if (brn_checkpoint_state_from_meta(&f, "fuzz", &st, diag, N_NORMS, err, sizeof err) == 0) {
            brn_job_spec spec;
            brn_spec_defaults(&spec);
            spec.batch_size = 32;
            const brn_run_geometry g = {.steps_per_epoch = 8, .total_steps = 24, .epochs = 3};
            rc = brn_run_state_check(&st, &spec, &g, "fuzz", err, sizeof err);
            must(rc == 0 || err[0]);
            if (rc == 0) must(st.batch >= 0 && st.batch <= 8 && st.step >= 0 && st.step <= 24);
        }
        const char *stored = brn_st_meta(&f, "spec");
        brn_job_spec spec;
        brn_spec_defaults(&spec);
        if (stored && brn_checkpoint_spec_check(stored, &spec, "fuzz", err, sizeof err) == 0) {
            brn_job_spec was;
            if (brn_spec_from_json_text(stored, &was, err, sizeof err) == 0) brn_spec_validate(&was, err, sizeof err);
        }
    }
    brn_st_free(&f);
    return 0;
}
