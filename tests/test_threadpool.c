/*
 * test_threadpool.c - nn_parallel_for runs every index exactly once (for any
 * n, nested, from two threads at once) and nn_threads_set/get agree.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "testutil.h"

typedef struct {
    atomic_int *hits; /* hits[i]: how often index i ran */
    int n;
    atomic_int out_of_range;
} coverage;

static void count_hit(void *arg, int i) {
    coverage *c = arg;
    if (i < 0 || i >= c->n) atomic_fetch_add(&c->out_of_range, 1);
    else atomic_fetch_add(&c->hits[i], 1);
}

/* Runs nn_parallel_for(n) and checks each index ran exactly once. */
static void check_coverage(int n) {
    coverage c = {.hits = calloc((size_t)n + 1, sizeof(atomic_int)), .n = n};
    ck_assert_ptr_nonnull(c.hits);
    atomic_init(&c.out_of_range, 0);
    nn_parallel_for(n, count_hit, &c);
    ck_assert_int_eq(atomic_load(&c.out_of_range), 0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(atomic_load(&c.hits[i]) == 1, "n=%d: index %d ran %d times", n, i,
                      atomic_load(&c.hits[i]));
    free(c.hits);
}

START_TEST(every_index_once) {
    const int sizes[] = {0, 1, 2, 3, 7, 1000, 4099};
    const int threads[] = {1, 2, 4, 5};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        nn_threads_set(threads[t]);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) check_coverage(sizes[s]);
    }
    nn_parallel_for(-5, count_hit, NULL); /* negative n: nothing runs (NULL arg untouched) */
    nn_threads_shutdown();
}
END_TEST

/* Many jobs back to back: workers must pick up each new job exactly once. */
START_TEST(repeated_jobs) {
    nn_threads_set(4);
    for (int round = 0; round < 300; round++) check_coverage(1 + round % 37);
    nn_threads_shutdown();
}
END_TEST

/* A task that itself calls nn_parallel_for: the inner loops run serially
 * on that thread, and every (outer, inner) pair runs exactly once. */
typedef struct {
    atomic_int hits[17][23];
} nested_grid;

typedef struct {
    nested_grid *grid;
    int outer;
} inner_arg;

static void inner_task(void *arg, int j) {
    inner_arg *a = arg;
    atomic_fetch_add(&a->grid->hits[a->outer][j], 1);
}

static void outer_task(void *arg, int i) {
    inner_arg a = {.grid = arg, .outer = i};
    nn_parallel_for(23, inner_task, &a);
}

START_TEST(nested_calls) {
    nn_threads_set(4);
    nested_grid *g = calloc(1, sizeof *g);
    nn_parallel_for(17, outer_task, g);
    for (int i = 0; i < 17; i++)
        for (int j = 0; j < 23; j++)
            ck_assert_msg(atomic_load(&g->hits[i][j]) == 1, "(%d, %d) ran %d times", i, j,
                          atomic_load(&g->hits[i][j]));
    free(g);
    nn_threads_shutdown();
}
END_TEST

START_TEST(thread_count) {
    nn_threads_set(3);
    ck_assert_int_eq(nn_threads_get(), 3);
    check_coverage(100);
    nn_threads_set(1); /* one thread: the caller does everything */
    ck_assert_int_eq(nn_threads_get(), 1);
    check_coverage(100);
    nn_threads_set(0); /* clamped to 1 */
    ck_assert_int_eq(nn_threads_get(), 1);
    nn_threads_set(6);
    ck_assert_int_eq(nn_threads_get(), 6);
    check_coverage(100);
    nn_threads_shutdown(); /* the pool restarts on the next call */
    check_coverage(100);
    ck_assert_int_eq(nn_threads_get(), 6);
    nn_threads_shutdown();
    nn_threads_shutdown(); /* twice is harmless */
}
END_TEST

/* Two application threads using the pool at once: one gets the pool, the
 * other runs serially; both must see all their indices exactly once. */
typedef struct {
    int rounds;
    int failures;
} caller_arg;

static void add_index(void *arg, int i) { atomic_fetch_add((atomic_long *)arg, i + 1); }

static void *caller_main(void *p) {
    caller_arg *a = p;
    for (int r = 0; r < a->rounds; r++) {
        int n = 50 + r % 200;
        atomic_long sum;
        atomic_init(&sum, 0);
        nn_parallel_for(n, add_index, &sum);
        if (atomic_load(&sum) != (long)n * (n + 1) / 2) a->failures++;
    }
    return NULL;
}

START_TEST(concurrent_callers) {
    nn_threads_set(3);
    caller_arg args[2] = {{.rounds = 400}, {.rounds = 400}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++) ck_assert_int_eq(pthread_create(&th[k], NULL, caller_main, &args[k]), 0);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    ck_assert_int_eq(args[0].failures, 0);
    ck_assert_int_eq(args[1].failures, 0);
    check_coverage(1000); /* the pool is still usable afterwards */
    nn_threads_shutdown();
}
END_TEST

Suite *threadpool_suite(void) {
    Suite *s = suite_create("threadpool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_index_once);
    tcase_add_test(tc, repeated_jobs);
    tcase_add_test(tc, nested_calls);
    tcase_add_test(tc, thread_count);
    tcase_add_test(tc, concurrent_callers);
    suite_add_tcase(s, tc);
    return s;
}
