/* tensor.c - heap tensors (parameters, owned inputs) and shape helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

void *nn_aligned_alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63; /* aligned_alloc wants a multiple of the alignment */
    return aligned_alloc(64, bytes);
}

void nn_aligned_free(void *p) { free(p); }

/* Returns 0 for a bad shape (ndim out of range, a dimension < 1, or too many elements). */
size_t nn_shape_numel(int ndim, const int *shape) {
    if (ndim < 0 || ndim > NN_MAX_DIMS) return 0;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) return 0;
        if (n > NN_MAX_TENSOR_ELEMS / (size_t)shape[i]) return 0;
        n *= (size_t)shape[i];
    }
    return n;
}

nn_tensor *nn_tensor_new(int ndim, const int *shape) {
    size_t numel = nn_shape_numel(ndim, shape);
    if (numel == 0) return NULL;
    nn_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->data = nn_aligned_alloc(numel * sizeof(float));
    if (!t->data) {
        free(t);
        return NULL;
    }
    memset(t->data, 0, numel * sizeof(float));
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->numel = numel;
    t->on_heap = true;
    return t;
}

nn_tensor *nn_tensor_new4(int n, int c, int h, int w) {
    int s[4] = {n, c, h, w};
    return nn_tensor_new(4, s);
}
nn_tensor *nn_tensor_new2(int rows, int cols) {
    int s[2] = {rows, cols};
    return nn_tensor_new(2, s);
}
nn_tensor *nn_tensor_new1(int n) { return nn_tensor_new(1, &n); }

void nn_tensor_free(nn_tensor *t) {
    if (!t) return;
    if (t->on_heap) {
        nn_aligned_free(t->data);
        nn_aligned_free(t->grad);
        free(t);
    }
}

nn_status nn_tensor_set_requires_grad(nn_tensor *t, bool requires_grad) {
    if (!t || !t->on_heap) return NN_ERR_ARG; /* only heap tensors can be leaves */
    t->requires_grad = requires_grad;
    if (requires_grad && !t->grad) {
        t->grad = nn_aligned_alloc(t->numel * sizeof(float));
        if (!t->grad) return NN_ERR_NOMEM;
        memset(t->grad, 0, t->numel * sizeof(float));
    }
    return NN_OK;
}

void nn_tensor_zero_grad(nn_tensor *t) {
    if (t && t->grad) memset(t->grad, 0, t->numel * sizeof(float));
}

bool nn_tensor_same_shape(const nn_tensor *a, const nn_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

void nn_tensor_fill(nn_tensor *t, float value) {
    for (size_t i = 0; i < t->numel; i++) t->data[i] = value;
}

char *nn_shape_str(const nn_tensor *t, char *buf, size_t len) {
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    used += (size_t)snprintf(buf + used, len - used, "[");
    for (int i = 0; i < t->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %d" : "%d", t->shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}
