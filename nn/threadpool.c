/*
 * threadpool.c - a small global pool of pthreads for nn_parallel_for.
 *
 * One job at a time: the caller publishes (fn, arg, n), wakes the workers and
 * takes tasks itself too; tasks are handed out by an atomic counter, so a
 * worker that finishes early takes the next one. The caller returns when all
 * n tasks are done. A call made from inside a task (or while another job runs)
 * runs serially on the calling thread, which keeps nesting safe and simple.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "nn.h"

#define MAX_THREADS 256

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t workers[MAX_THREADS];
    int n_workers;        /* threads besides the caller */
    int wanted;           /* total threads requested (0 = not decided yet) */
    bool started, stopping;
    /* the current job */
    void (*fn)(void *, int);
    void *arg;
    int n;
    atomic_int next;      /* next task index to hand out */
    int active;           /* workers still inside the current job */
    uint64_t generation;  /* bumps with each job so workers see new work */
    atomic_bool busy;     /* a job is running: nested calls go serial */
} pool_t;

static pool_t g_pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

static void run_tasks(void) {
    int i;
    while ((i = atomic_fetch_add(&g_pool.next, 1)) < g_pool.n) g_pool.fn(g_pool.arg, i);
}

static void *worker_main(void *unused) {
    (void)unused;
    uint64_t seen = 0;
    pthread_mutex_lock(&g_pool.lock);
    for (;;) {
        while (!g_pool.stopping && g_pool.generation == seen)
            pthread_cond_wait(&g_pool.wake, &g_pool.lock);
        if (g_pool.stopping) break;
        seen = g_pool.generation;
        pthread_mutex_unlock(&g_pool.lock);
        run_tasks();
        pthread_mutex_lock(&g_pool.lock);
        if (--g_pool.active == 0) pthread_cond_signal(&g_pool.done);
    }
    pthread_mutex_unlock(&g_pool.lock);
    return NULL;
}

static int default_threads(void) {
    const char *env = getenv("NN_THREADS");
    if (env) {
        int n = atoi(env);
        if (n >= 1) return n < MAX_THREADS ? n : MAX_THREADS;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 1 ? (int)(cores < MAX_THREADS ? cores : MAX_THREADS) : 1;
}

/* Starts the workers; called with the lock held. */
static void pool_start(void) {
    if (g_pool.wanted == 0) g_pool.wanted = default_threads();
    g_pool.n_workers = 0;
    g_pool.stopping = false;
    for (int i = 0; i < g_pool.wanted - 1; i++) {
        if (pthread_create(&g_pool.workers[i], NULL, worker_main, NULL) != 0) break;
        g_pool.n_workers++;
    }
    g_pool.started = true;
}

/* Waits for a running job to end, then holds `busy` so none starts meanwhile.
 * (So nn_threads_set / shutdown must not be called from inside a task.) */
static void acquire_idle_pool(void) {
    bool expected = false;
    while (!atomic_compare_exchange_weak(&g_pool.busy, &expected, true)) {
        expected = false;
        sched_yield();
    }
}

void nn_threads_shutdown(void) {
    acquire_idle_pool();
    pthread_mutex_lock(&g_pool.lock);
    if (!g_pool.started) {
        pthread_mutex_unlock(&g_pool.lock);
        atomic_store(&g_pool.busy, false);
        return;
    }
    g_pool.stopping = true;
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.lock);
    for (int i = 0; i < g_pool.n_workers; i++) pthread_join(g_pool.workers[i], NULL);
    pthread_mutex_lock(&g_pool.lock);
    g_pool.started = false;
    g_pool.n_workers = 0;
    pthread_mutex_unlock(&g_pool.lock);
    atomic_store(&g_pool.busy, false);
}

void nn_threads_set(int n) {
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    nn_threads_shutdown();
    pthread_mutex_lock(&g_pool.lock);
    g_pool.wanted = n;
    pthread_mutex_unlock(&g_pool.lock);
}

int nn_threads_get(void) {
    pthread_mutex_lock(&g_pool.lock);
    if (g_pool.wanted == 0) g_pool.wanted = default_threads();
    int n = g_pool.wanted;
    pthread_mutex_unlock(&g_pool.lock);
    return n;
}

void nn_parallel_for(int n, void (*fn)(void *arg, int i), void *arg) {
    if (n <= 0) return;
    bool expected = false;
    if (n == 1 || !atomic_compare_exchange_strong(&g_pool.busy, &expected, true)) {
        for (int i = 0; i < n; i++) fn(arg, i); /* single task, or nested: run here */
        return;
    }
    pthread_mutex_lock(&g_pool.lock);
    if (!g_pool.started) pool_start();
    if (g_pool.n_workers == 0) {
        pthread_mutex_unlock(&g_pool.lock);
        for (int i = 0; i < n; i++) fn(arg, i);
        atomic_store(&g_pool.busy, false);
        return;
    }
    g_pool.fn = fn;
    g_pool.arg = arg;
    g_pool.n = n;
    atomic_store(&g_pool.next, 0);
    g_pool.active = g_pool.n_workers;
    g_pool.generation++;
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.lock);

    run_tasks();

    pthread_mutex_lock(&g_pool.lock);
    while (g_pool.active > 0) pthread_cond_wait(&g_pool.done, &g_pool.lock);
    pthread_mutex_unlock(&g_pool.lock);
    atomic_store(&g_pool.busy, false);
}
