/*
 * arena.c - bump allocator for activations and gradients.
 *
 * Memory is a list of blocks. Allocation bumps a pointer in the newest block
 * and adds a block when it is full. Reset does not give memory back: if the
 * pass needed more than one block, the blocks are replaced by a single block
 * of the total, so from the second pass on every allocation is a pointer bump.
 */
#include <stdlib.h>

#include "nn.h"

typedef struct block {
    struct block *next;
    size_t size, used;
    unsigned char *mem;
} block;

struct nn_arena {
    block *head;          /* newest block first */
    size_t used, peak;    /* bytes handed out in this pass / ever */
    size_t system_allocs;
};

static block *block_new(nn_arena *a, size_t size) {
    block *b = malloc(sizeof *b);
    if (!b) return NULL;
    b->mem = nn_aligned_alloc(size);
    if (!b->mem) {
        free(b);
        return NULL;
    }
    b->size = size;
    b->used = 0;
    b->next = NULL;
    a->system_allocs++;
    return b;
}

static void blocks_free(block *b) {
    while (b) {
        block *next = b->next;
        nn_aligned_free(b->mem);
        free(b);
        b = next;
    }
}

nn_arena *nn_arena_create(size_t initial_bytes) {
    nn_arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    if (initial_bytes < 4096) initial_bytes = 4096;
    a->head = block_new(a, initial_bytes);
    if (!a->head) {
        free(a);
        return NULL;
    }
    return a;
}

void nn_arena_destroy(nn_arena *a) {
    if (!a) return;
    blocks_free(a->head);
    free(a);
}

void *nn_arena_alloc(nn_arena *a, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    block *b = a->head;
    if (b->size - b->used < bytes) {
        size_t size = b->size * 2 > bytes ? b->size * 2 : bytes;
        block *nb = block_new(a, size);
        if (!nb) return NULL;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->mem + b->used;
    b->used += bytes;
    a->used += bytes;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void nn_arena_reset(nn_arena *a) {
    if (a->head->next) {
        /* more than one block: coalesce into one of the high-water size */
        size_t total = 0;
        for (block *b = a->head; b; b = b->next) total += b->size;
        block *nb = block_new(a, total);
        if (nb) {
            blocks_free(a->head);
            a->head = nb;
        }
    }
    for (block *b = a->head; b; b = b->next) b->used = 0;
    a->used = 0;
}

size_t nn_arena_used_bytes(const nn_arena *a) { return a->used; }
size_t nn_arena_peak_bytes(const nn_arena *a) { return a->peak; }
size_t nn_arena_system_allocs(const nn_arena *a) { return a->system_allocs; }
