/*
 * threadpool.c - a small global pool of pthreads for nn_parallel_for.
 *
 * One job at a time: the caller publishes (fn, arg, n), wakes the workers and
 * takes tasks itself too; tasks are handed out one by one from a shared
 * ticket, so a thread that finishes early takes the next one. The caller
 * returns when all n tasks are done. A call made from inside a task (or while
 * another job runs) runs serially on the calling thread, which keeps nesting
 * safe and simple.
 *
 * Why it is built this way (measured on 2 cores shared with other work):
 * - The caller waits for the tasks, not for the workers. A worker that wakes
 *   late (its core busy with another process) finds no task left and is not
 *   waited for; under the old "every worker checks in" rule, one descheduled
 *   worker stalled every convolution, and 2 threads ran slower than 1.
 * - Workers spin for a short while after a job before they sleep: a network
 *   runs its convolutions back to back, often several parallel loops per
 *   layer, and a sleeping worker takes tens of microseconds to wake up.
 *
 * The ticket is one 64-bit word, job generation << 32 | next task index, so a
 * worker claims a task of the job it read (fn, arg, n) for, or none: a
 * compare-and-swap fails once a newer job is out. While the caller writes a
 * new job's fields the index reads TICKET_CLOSED, and workers read fn, arg
 * and n only after seeing the ticket of their generation open.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "nn.h"

#define MAX_THREADS 256
#define TICKET_CLOSED 0xFFFFFFFFu /* index while a job's fields are written */
#define SPIN_NS 200000            /* a worker polls this long before sleeping */
#define WAIT_SPINS 2000           /* the caller polls this often, then yields */

typedef void (*task_fn)(void *arg, int i);

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t workers[MAX_THREADS];
    int n_workers;          /* threads besides the caller */
    int wanted;             /* total threads requested (0 = not decided yet) */
    bool started;
    atomic_bool stopping;
    int sleepers;           /* workers waiting on `wake` (under lock) */
    /* the current job: written by the caller while the ticket is closed */
    _Atomic(task_fn) fn;
    _Atomic(void *) arg;
    atomic_int n;
    _Atomic uint64_t ticket; /* generation << 32 | next task index */
    atomic_int done;         /* tasks of the current job finished */
    atomic_bool busy;        /* a job is running: nested calls go serial */
} pool_t;

static pool_t g_pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint32_t ticket_gen(uint64_t t) { return (uint32_t)(t >> 32); }
static uint32_t ticket_index(uint64_t t) { return (uint32_t)t; }

/* Claims and runs tasks of generation gen until none is left. */
static void run_tasks(uint32_t gen, task_fn fn, void *arg, int n) {
    uint64_t t = atomic_load(&g_pool.ticket);
    while (ticket_gen(t) == gen && ticket_index(t) < (uint32_t)n) {
        if (atomic_compare_exchange_weak(&g_pool.ticket, &t, t + 1)) {
            fn(arg, (int)ticket_index(t));
            atomic_fetch_add(&g_pool.done, 1);
            t = atomic_load(&g_pool.ticket);
        }
    }
}

/* A job newer than `seen` is open (or the pool stops): its generation. */
static bool job_ready(uint32_t seen, uint32_t *gen) {
    uint64_t t = atomic_load(&g_pool.ticket);
    *gen = ticket_gen(t);
    return *gen != seen && ticket_index(t) != TICKET_CLOSED;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Waits for a job newer than `seen`; false when the pool stops. */
static bool wait_for_job(uint32_t seen, uint32_t *gen) {
    long long until = now_ns() + SPIN_NS;
    for (int i = 1;; i++) {
        if (atomic_load(&g_pool.stopping)) return false;
        if (job_ready(seen, gen)) return true;
        cpu_relax();
        if (i % 64 == 0 && now_ns() > until) break;
    }
    pthread_mutex_lock(&g_pool.lock);
    g_pool.sleepers++;
    while (!atomic_load(&g_pool.stopping) && !job_ready(seen, gen))
        pthread_cond_wait(&g_pool.wake, &g_pool.lock);
    g_pool.sleepers--;
    pthread_mutex_unlock(&g_pool.lock);
    return !atomic_load(&g_pool.stopping);
}

/* start_gen: the generation current when the worker was created (before
 * the job that created it was published), so that job is not missed. */
static void *worker_main(void *start_gen) {
    uint32_t seen = (uint32_t)(uintptr_t)start_gen, gen;
    while (wait_for_job(seen, &gen)) {
        seen = gen;
        /* fields read after the open ticket; if a newer job has replaced
         * them meanwhile, run_tasks sees its generation and claims nothing */
        task_fn fn = atomic_load(&g_pool.fn);
        void *arg = atomic_load(&g_pool.arg);
        int n = atomic_load(&g_pool.n);
        run_tasks(gen, fn, arg, n);
    }
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
    atomic_store(&g_pool.stopping, false);
    void *gen = (void *)(uintptr_t)ticket_gen(atomic_load(&g_pool.ticket));
    for (int i = 0; i < g_pool.wanted - 1; i++) {
        if (pthread_create(&g_pool.workers[i], NULL, worker_main, gen) != 0) break;
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
    atomic_store(&g_pool.stopping, true);
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
    bool alone = g_pool.n_workers == 0;
    pthread_mutex_unlock(&g_pool.lock);
    if (alone) {
        for (int i = 0; i < n; i++) fn(arg, i);
        atomic_store(&g_pool.busy, false);
        return;
    }

    /* Publish: close the ticket under the new generation, write the job,
     * then open it. The previous job is over (all its tasks done). */
    uint32_t gen = ticket_gen(atomic_load(&g_pool.ticket)) + 1;
    atomic_store(&g_pool.ticket, (uint64_t)gen << 32 | TICKET_CLOSED);
    atomic_store(&g_pool.fn, fn);
    atomic_store(&g_pool.arg, arg);
    atomic_store(&g_pool.n, n);
    atomic_store(&g_pool.done, 0);
    atomic_store(&g_pool.ticket, (uint64_t)gen << 32);
    pthread_mutex_lock(&g_pool.lock);
    if (g_pool.sleepers > 0) pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.lock);

    run_tasks(gen, fn, arg, n);

    /* Every task is claimed; wait for those still running elsewhere. */
    for (int i = 1; atomic_load(&g_pool.done) < n; i++) {
        if (i % WAIT_SPINS == 0)
            sched_yield();
        else
            cpu_relax();
    }
    atomic_store(&g_pool.busy, false);
}
