/* Tests that drive a whole model: a backend, the model on it, one step, and host copies of
 * what the model holds in backend memory. Include after check.h. */
#ifndef BRN_MODEL_FIXTURE_H
#define BRN_MODEL_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"

/* A CPU backend with the given threads, or NULL (a failed CHECK). */
static inline brn_backend *fixture_cpu(int threads)
{
    brn_backend *be = NULL;
    char err[256];
    CHECK_EQ_INT(brn_cpu_backend_create(threads, &be, err, sizeof err), 0);
    return be;
}

/* One training step on (x, labels) with the given scalars; loss and hits of the step. */
static inline int fixture_train_step(brn_model *m, const float *x, const int *labels, int n,
                                     const brn_step_scalars *sc, double *loss, int *correct, char *err,
                                     size_t errlen)
{
    brn_model_set_batch(m, x, labels, n);
    brn_model_set_scalars(m, sc);
    int rc = brn_model_train_step(m, n, err, errlen);
    return rc ? rc : brn_model_step_result(m, loss, correct, err, errlen);
}

/* bytes of backend memory into host */
static inline void fixture_read(brn_model *m, void *host, const void *src, size_t bytes)
{
    char err[256];
    CHECK_EQ_INT(m->be->ops->download(m->be, host, src, bytes, err, sizeof err), 0);
}

/* Every parameter (kind BRN_TENSOR_PARAM) or buffer in one flat host array at the tensors'
 * offsets, in PyTorch's layout. */
static inline void fixture_read_flat(brn_model *m, brn_tensor_kind kind, brn_tensor_view view, float *host)
{
    char err[256];
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].kind == kind)
            CHECK_EQ_INT(brn_model_read_tensor(m, &m->tensors[i], view, host + m->tensors[i].offset, err, sizeof err),
                         0);
}

static inline void fixture_write_flat(brn_model *m, brn_tensor_kind kind, brn_tensor_view view, const float *host)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].kind == kind) brn_model_write_tensor(m, &m->tensors[i], view, host + m->tensors[i].offset);
}

#endif
