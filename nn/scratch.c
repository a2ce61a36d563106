/*
 * scratch.c - the conv kernels' grow-only workspace (see nn_internal.h).
 *
 * A handful of slots, each one 64-byte aligned buffer that only grows: after
 * the first call at the largest shape a kernel asks for, every later call is
 * handed the same memory and the system allocator is not called. Children are
 * independent workspaces for tasks that run kernels side by side within one
 * call (each task uses its own child, so no slot is shared between threads).
 */
#include <stdlib.h>

#include "nn_internal.h"

struct nn_scratch {
    void *buf[NN_SCRATCH_SLOTS];
    size_t bytes[NN_SCRATCH_SLOTS];
    size_t system_allocs;
    nn_scratch *children; /* n_children workspaces, or NULL */
    int n_children;
};

nn_scratch *nn_scratch_create(void) { return calloc(1, sizeof(nn_scratch)); }

/* Frees the buffers and children of s, not s itself. */
static void scratch_clear(nn_scratch *s) {
    for (int i = 0; i < NN_SCRATCH_SLOTS; i++) nn_aligned_free(s->buf[i]);
    for (int i = 0; i < s->n_children; i++) scratch_clear(&s->children[i]);
    free(s->children);
}

void nn_scratch_destroy(nn_scratch *s) {
    if (!s) return;
    scratch_clear(s);
    free(s);
}

void *nn_scratch_get(nn_scratch *s, int slot, size_t bytes) {
    if (!s) return nn_aligned_alloc(bytes);
    if (slot < 0 || slot >= NN_SCRATCH_SLOTS) return NULL;
    if (bytes <= s->bytes[slot] && s->buf[slot]) return s->buf[slot];
    /* free first: the old buffer's contents are not needed, and the peak is lower */
    nn_aligned_free(s->buf[slot]);
    s->bytes[slot] = 0;
    s->buf[slot] = nn_aligned_alloc(bytes);
    s->system_allocs++;
    if (s->buf[slot]) s->bytes[slot] = bytes;
    return s->buf[slot];
}

void nn_scratch_release(nn_scratch *s, void *p) {
    if (!s) nn_aligned_free(p);
}

bool nn_scratch_reserve_children(nn_scratch *s, int count) {
    if (!s) return false;
    if (count <= s->n_children) return true;
    nn_scratch *grown = calloc((size_t)count, sizeof *grown);
    if (!grown) return false;
    s->system_allocs++;
    /* the existing children move over with their buffers */
    for (int i = 0; i < s->n_children; i++) grown[i] = s->children[i];
    free(s->children);
    s->children = grown;
    s->n_children = count;
    return true;
}

nn_scratch *nn_scratch_child(nn_scratch *s, int index) {
    if (!s || index < 0 || index >= s->n_children) return NULL;
    return &s->children[index];
}

size_t nn_scratch_system_allocs(const nn_scratch *s) {
    if (!s) return 0;
    size_t n = s->system_allocs;
    for (int i = 0; i < s->n_children; i++) n += nn_scratch_system_allocs(&s->children[i]);
    return n;
}

size_t nn_scratch_bytes(const nn_scratch *s) {
    if (!s) return 0;
    size_t n = 0;
    for (int i = 0; i < NN_SCRATCH_SLOTS; i++) n += s->bytes[i];
    for (int i = 0; i < s->n_children; i++) n += nn_scratch_bytes(&s->children[i]);
    return n;
}
