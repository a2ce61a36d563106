/*
 * bench_app.c - the whole maskdet pipeline on a video-sized stream, through
 * the embedding API (apps/lib/maskdet.h): the bundled face detector, then the
 * mask classifier on every face, on 640x480 RGB frames, on 1 and 2 threads.
 *
 * Frames are the photos of ../shared/samples scaled to cover 640x480 and
 * centre-cropped (synthetic frames, with a message, when the folder is
 * absent). The frames cycle; the first call is a warm-up (the one call that
 * may allocate), the next N are measured. Printed per thread count: min and
 * median ms per stage (maskdet_last_timing), the frame's wall time and its
 * process CPU time (on a shared machine the steadier figure), end-to-end FPS
 * (1000 / median wall ms), faces per frame, heap allocations per frame after
 * the first, the resident memory with the handle open (VmRSS) and the peak
 * memory of the process (getrusage ru_maxrss and /proc/self/status VmHWM).
 *
 * Allocations are counted by replacing malloc & co. in this program (they
 * forward to glibc's __libc_* functions), so every allocation in the process
 * is seen: ours, stb's, and glibc's own (qsort's merge buffer, say). Not in a
 * sanitizer build, where the sanitizer owns malloc.
 *
 *   build/bench_app [--frames N] [--threads 1,2] [--width W --height H]
 *                   [--samples DIR] [--models DIR] [--json]
 *                   [--classifier FILE[,FILE...]] [--no-tta]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "image.h"
#include "maskdet.h"
#include "../timing.h"

/* ------------------------------------------------ counting allocations */

#if defined(__SANITIZE_ADDRESS__)
#define COUNTS_ALLOCATIONS 0
#else
#define COUNTS_ALLOCATIONS 1
static atomic_long n_allocations; /* calls that may take memory from the heap */

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void __libc_free(void *p);

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&n_allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
    atomic_fetch_add_explicit(&n_allocations, 1, memory_order_relaxed);
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t size) {
    atomic_fetch_add_explicit(&n_allocations, 1, memory_order_relaxed);
    return __libc_realloc(p, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&n_allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&n_allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&n_allocations, 1, memory_order_relaxed);
    *out = __libc_memalign(alignment, size);
    return *out || !size ? 0 : 12; /* ENOMEM */
}
void free(void *p) { __libc_free(p); }
#endif

static long allocations(void) {
#if COUNTS_ALLOCATIONS
    return atomic_load(&n_allocations);
#else
    return -1;
#endif
}

/* ------------------------------------------------------------- timing */

enum { STAGE_PRE, STAGE_DETECT, STAGE_POST, STAGE_CLASSIFY, STAGE_TOTAL, STAGE_WALL, STAGE_CPU,
       N_STAGES };
static const char *const stage_names[N_STAGES] = {"preprocess", "detect",  "postprocess",
                                                  "classify",   "total",   "frame_wall",
                                                  "frame_cpu"};

typedef struct {
    int threads, frames;
    double min_ms[N_STAGES], median_ms[N_STAGES];
    double fps;             /* 1000 / median frame_wall */
    double faces_per_frame; /* mean over the measured frames */
    long allocations;       /* during the measured frames (all after the first); -1: not counted */
    long rss_kib;           /* VmRSS after the last frame, the handle still open */
} run_result;

/* ------------------------------------------------------------- frames */

/* img scaled to cover w x h, then its centre cut out (a camera-like frame). */
static int make_frame(const image *img, int w, int h, image *frame) {
    double scale = (double)w / img->width > (double)h / img->height ? (double)w / img->width
                                                                    : (double)h / img->height;
    int sw = (int)(img->width * scale + 0.5), sh = (int)(img->height * scale + 0.5);
    if (sw < w) sw = w;
    if (sh < h) sh = h;
    image scaled;
    nn_error e;
    if (image_resize(img, sw, sh, &scaled, &e)) return -1;
    int st = image_crop(&scaled, (sw - w) / 2, (sh - h) / 2, w, h, 0, frame, &e) ? -1 : 0;
    image_free(&scaled);
    return st;
}

/* A synthetic frame: smooth colour gradients (no faces to speak of). */
static int synthetic_frame(int w, int h, int seed, image *frame) {
    nn_error e;
    if (image_alloc(frame, w, h, 3, &e)) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = frame->pixels + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w), p[1] = (uint8_t)(y * 255 / h);
            p[2] = (uint8_t)((x + y + 40 * seed) & 255);
        }
    return 0;
}

/* The sample photos as frames; returns the count (0: none found). */
static int load_frames(const char *dir, int w, int h, image *frames, int max) {
    static const char *const names[] = {"sample1.jpg", "sample2.jpg", "sample3.jpg",
                                        "sample4.jpg", "sample5.jpg", "sample6.jpg",
                                        "demo2.jpg"};
    int n = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names && n < max; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        image img;
        nn_error e;
        if (image_load(path, 3, &img, &e)) continue;
        if (make_frame(&img, w, h, &frames[n]) == 0) n++;
        image_free(&img);
    }
    return n;
}

/* A "Vm...:" line of /proc/self/status in KiB (-1 if unreadable). */
static long proc_status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t len = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, len) && line[len] == ':' && sscanf(line + len + 1, "%ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* --------------------------------------------------------------- runs */

static int run(const maskdet_options *base, int threads, const image *frames, int n_frames,
               int n_measured, run_result *r) {
    maskdet_options opt = *base;
    opt.threads = threads;
    maskdet *md;
    maskdet_error err;
    if (maskdet_open(&opt, &md, &err)) {
        fprintf(stderr, "bench_app: %s\n", err.msg);
        return -1;
    }
    enum { MAX_FACES = 256 };
    maskdet_face faces[MAX_FACES];
    double *samples = malloc(sizeof(double) * N_STAGES * (size_t)n_measured);
    if (!samples) {
        maskdet_close(md);
        return -1;
    }
    memset(r, 0, sizeof *r);
    r->threads = threads, r->frames = n_measured;
    long faces_total = 0, allocs_before = 0;
    for (int i = -1; i < n_measured; i++) { /* i = -1: the first call, the warm-up */
        const image *f = &frames[(i + 1) % n_frames];
        if (i == 0) allocs_before = allocations();
        double t0 = timing_wall_ms(), c0 = timing_cpu_ms();
        int n = maskdet_detect(md, f->pixels, f->width, f->height, f->width * 3, faces, MAX_FACES,
                               &err);
        double wall = timing_wall_ms() - t0, cpu = timing_cpu_ms() - c0;
        if (n < 0) {
            fprintf(stderr, "bench_app: %s\n", err.msg);
            free(samples);
            maskdet_close(md);
            return -1;
        }
        if (i < 0) continue;
        maskdet_timing t = maskdet_last_timing(md);
        double v[N_STAGES] = {t.preprocess_ms, t.detect_ms, t.postprocess_ms, t.classify_ms,
                              t.total_ms,      wall,        cpu};
        for (int s = 0; s < N_STAGES; s++) samples[(size_t)s * n_measured + i] = v[s];
        faces_total += n;
    }
    r->allocations = COUNTS_ALLOCATIONS ? allocations() - allocs_before : -1;
    r->rss_kib = proc_status_kib("VmRSS");
    for (int s = 0; s < N_STAGES; s++) {
        double *col = samples + (size_t)s * n_measured;
        qsort(col, (size_t)n_measured, sizeof *col, timing_cmp_double);
        r->min_ms[s] = col[0], r->median_ms[s] = col[n_measured / 2];
    }
    r->fps = 1000.0 / r->median_ms[STAGE_WALL];
    r->faces_per_frame = (double)faces_total / n_measured;
    free(samples);
    maskdet_close(md);
    return 0;
}

/* Peak resident memory in KiB: getrusage's ru_maxrss and /proc's VmHWM. */
static void peak_memory(long *maxrss_kib, long *hwm_kib) {
    struct rusage ru;
    *maxrss_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
    *hwm_kib = proc_status_kib("VmHWM");
}

static void usage(void) {
    fprintf(stderr, "usage: bench_app [--frames N] [--threads 1,2] [--width W --height H]\n"
                    "                 [--samples DIR] [--models DIR] [--json]\n"
                    "                 [--classifier FILE[,FILE...]] [--no-tta]\n");
}

int main(int argc, char **argv) {
    int n_measured = 60, width = 640, height = 480, thread_counts[8] = {1, 2}, n_counts = 2;
    const char *samples_dir = "../shared/samples";
    maskdet_options base = maskdet_options_default(); /* the bundled models */
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--frames") && next) {
            n_measured = atoi(argv[++i]);
        } else if (!strcmp(a, "--width") && next) {
            width = atoi(argv[++i]);
        } else if (!strcmp(a, "--height") && next) {
            height = atoi(argv[++i]);
        } else if (!strcmp(a, "--samples") && next) {
            samples_dir = argv[++i];
        } else if (!strcmp(a, "--models") && next) {
            base.models_dir = argv[++i];
        } else if (!strcmp(a, "--classifier") && next) {
            base.classifier_path = argv[++i];
        } else if (!strcmp(a, "--no-tta")) {
            base.no_tta = 1;
        } else if (!strcmp(a, "--threads") && next) {
            n_counts = 0;
            for (char *p = argv[++i]; *p && n_counts < 8;) {
                thread_counts[n_counts++] = (int)strtol(p, &p, 10);
                if (*p == ',') p++;
                else if (*p) n_counts = 0, p += strlen(p);
            }
        } else {
            usage();
            return 2;
        }
    }
    bool counts_ok = n_counts > 0;
    for (int i = 0; i < n_counts; i++) counts_ok &= thread_counts[i] >= 1 && thread_counts[i] <= 64;
    if (n_measured < 1 || n_measured > 100000 || width < 32 || height < 32 || width > 8192 ||
        height > 8192 || !counts_ok) {
        usage();
        return 2;
    }

    enum { MAX_FRAMES = 8 };
    image frames[MAX_FRAMES];
    int n_frames = load_frames(samples_dir, width, height, frames, MAX_FRAMES);
    bool synthetic = n_frames == 0;
    if (synthetic) {
        fprintf(stderr, "bench_app: no photos in %s; using synthetic frames (no faces)\n",
                samples_dir);
        for (n_frames = 0; n_frames < 4; n_frames++)
            if (synthetic_frame(width, height, n_frames, &frames[n_frames])) return 1;
    }

    long base_rss = proc_status_kib("VmRSS"); /* the program and its frames, no models yet */
    run_result results[8];
    for (int k = 0; k < n_counts; k++)
        if (run(&base, thread_counts[k], frames, n_frames, n_measured, &results[k])) return 1;
    long maxrss, hwm;
    peak_memory(&maxrss, &hwm);
    for (int i = 0; i < n_frames; i++) image_free(&frames[i]);

    if (json) {
        printf("{\"width\": %d, \"height\": %d, \"frames\": \"%s\", \"n_frames\": %d, "
               "\"peak_rss_kib\": %ld, \"vm_hwm_kib\": %ld, \"base_rss_kib\": %ld, \"runs\": [",
               width, height, synthetic ? "synthetic" : samples_dir, n_frames, maxrss, hwm,
               base_rss);
        for (int k = 0; k < n_counts; k++) {
            const run_result *r = &results[k];
            printf("%s{\"threads\": %d, \"measured_frames\": %d, \"fps_median\": %.2f, "
                   "\"faces_per_frame\": %.2f, \"allocations_after_first\": %ld, "
                   "\"allocations_per_frame\": %.3f, \"rss_kib\": %ld",
                   k ? ", " : "", r->threads, r->frames, r->fps, r->faces_per_frame,
                   r->allocations, r->allocations < 0 ? -1.0 : (double)r->allocations / r->frames,
                   r->rss_kib);
            for (int s = 0; s < N_STAGES; s++)
                printf(", \"%s_ms\": {\"min\": %.3f, \"median\": %.3f}", stage_names[s],
                       r->min_ms[s], r->median_ms[s]);
            printf("}");
        }
        printf("]}\n");
        return 0;
    }
    printf("maskdet pipeline, %dx%d frames (%s, %d distinct), %s%s\n", width, height,
           synthetic ? "synthetic" : "photos", n_frames,
           base.classifier_path ? "classifiers " : "bundled models",
           base.classifier_path ? base.classifier_path : "");
    if (base.no_tta) printf("each face classified once (--no-tta)\n");
    for (int k = 0; k < n_counts; k++) {
        const run_result *r = &results[k];
        printf("\n%d thread%s, %d frames after a warm-up frame:\n", r->threads,
               r->threads == 1 ? "" : "s", r->frames);
        printf("  %-12s %9s %9s\n", "stage", "min ms", "median ms");
        for (int s = 0; s < N_STAGES; s++)
            printf("  %-12s %9.2f %9.2f\n", stage_names[s], r->min_ms[s], r->median_ms[s]);
        printf("  end to end: %.1f FPS (median frame), %.2f faces per frame\n", r->fps,
               r->faces_per_frame);
        if (r->allocations >= 0)
            printf("  heap allocations after the first frame: %ld (%.3f per frame)\n",
                   r->allocations, (double)r->allocations / r->frames);
        else
            printf("  heap allocations: not counted (sanitizer build)\n");
        printf("  resident memory after the last frame: %.1f MiB\n", r->rss_kib / 1024.0);
    }
    printf("\npeak memory: ru_maxrss %.1f MiB, VmHWM %.1f MiB (whole process: decoding the\n"
           "photos, both runs); %.1f MiB resident before the models were loaded\n",
           maxrss / 1024.0, hwm / 1024.0, base_rss / 1024.0);
    return 0;
}
