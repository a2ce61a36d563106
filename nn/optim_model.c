/*
 * optim_model.c - nn_optim_create_for_model: an optimizer over a model's
 * trainable parameters (batch-norm running statistics are buffers, not
 * trained). Kept apart from optim.c so the optimizer itself does not depend
 * on the model code. State tensor i refers to the i-th trainable parameter
 * in nn_model_param order.
 */
#include <stdlib.h>

#include "nn.h"

nn_optim *nn_optim_create_for_model(const nn_optim_config *cfg, nn_model *m) {
    if (!cfg || !m) return NULL;
    int total = nn_model_param_count(m);
    if (total < 0) return NULL;
    nn_tensor **params = calloc((size_t)total + 1, sizeof *params);
    if (!params) return NULL;
    int n = 0;
    for (int i = 0; i < total; i++) {
        nn_param p = nn_model_param(m, i);
        if (p.trainable && p.tensor) params[n++] = p.tensor;
    }
    nn_optim *o = nn_optim_create(cfg, n, params);
    free(params);
    return o;
}
