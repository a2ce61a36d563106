/*
 * model_weights.c - a model's named parameters to and from an nn_weights set.
 * Kept apart from model.c so a program that never saves links without the
 * weights-file code.
 */
#include <string.h>

#include "nn.h"

nn_status nn_model_to_weights(const nn_model *m, nn_weights *w, nn_dtype dtype, nn_error *err) {
    for (int i = 0; i < nn_model_param_count(m); i++) {
        nn_param p = nn_model_param(m, i);
        /* batch-norm running statistics stay f32: they are few and f16 would
         * round small variances */
        nn_dtype dt = p.trainable ? dtype : NN_DTYPE_F32;
        nn_status st = nn_weights_add(w, p.name, p.tensor, dt, err);
        if (st != NN_OK) return st;
    }
    return NN_OK;
}

nn_status nn_model_load_weights(nn_model *m, const nn_weights *w, nn_error *err) {
    /* check everything first, so a failed load leaves the model untouched */
    for (int i = 0; i < nn_model_param_count(m); i++) {
        nn_param p = nn_model_param(m, i);
        const nn_tensor *t = nn_weights_find(w, p.name);
        if (!t) return nn_error_set(err, NN_ERR_NOT_FOUND, "weights have no tensor '%s'", p.name);
        if (!nn_tensor_same_shape(t, p.tensor)) {
            char a[64], b[64];
            return nn_error_set(err, NN_ERR_SHAPE, "tensor '%s': file has shape %s, model needs %s",
                                p.name, nn_shape_str(t, a, sizeof a), nn_shape_str(p.tensor, b, sizeof b));
        }
    }
    nn_model_unfreeze(m); /* packed copies of the old weights are stale */
    for (int i = 0; i < nn_model_param_count(m); i++) {
        nn_param p = nn_model_param(m, i);
        memcpy(p.tensor->data, nn_weights_find(w, p.name)->data, p.tensor->numel * sizeof(float));
    }
    return NN_OK;
}
