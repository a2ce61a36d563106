/*
 * test_resume.c - training survives kill -9.
 *
 * For `maskdet train-classifier` and `maskdet train-detector`, each on a tiny
 * data set the test writes:
 *   1. a reference run goes straight through (its wall time T is measured);
 *   2. the same run, in another folder, is killed with SIGKILL again and
 *      again and resumed from whatever checkpoint it left (started afresh
 *      when it left none), until it finishes;
 *   3. its final checkpoint (weights and optimizer state) and best model
 *      must equal the reference's bit for bit, and its history must be the
 *      same text.
 * The kills come at random delays in [0, T/3] and, to hit the moment a
 * checkpoint is being written, right when the k-th temporary file (or
 * temporary checkpoint file) of a run appears in the run folder (inotify),
 * i.e. between the file's creation and its rename into place.
 *
 * While a run goes and after each kill, every file of the run folder must be
 * absent or complete: a .nnw loads with nn_weights_load, the CSV log ends
 * with a newline, the PNG curves decode (after kills). Temporary files
 * ("NAME.tmp.*", written and then renamed over NAME) are the only files
 * allowed to be incomplete; nothing reads them.
 *
 * The kill schedule comes from a seed printed on stderr; RESUME_SEED=N
 * replays it (the delays, not the machine's timing).
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsfixture.h"
#include "image.h"
#include "nn.h"
#include "testutil.h"

/* ------------------------------------------------------------ small tools */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* splitmix64: the kill schedule's generator. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double random_unit(uint64_t *state) { return (double)(next_random(state) >> 11) / 9007199254740992.0; }

static uint64_t schedule_seed(const char *what) {
    const char *env = getenv("RESUME_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 10)
                                : (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    fprintf(stderr, "resume %s: kill schedule seed %" PRIu64 " (replay: RESUME_SEED=%" PRIu64 ")\n",
            what, seed, seed);
    return seed;
}

/* A command line: words kept in one buffer, argv pointing into it. */
typedef struct {
    char *argv[64];
    int argc;
    char words[8192];
    size_t used;
} cmdline;

static void cmd_add(cmdline *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cmd_add(cmdline *c, const char *fmt, ...) {
    ck_assert_int_lt(c->argc, 62);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->words + c->used, sizeof c->words - c->used, fmt, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t)n < sizeof c->words - c->used);
    c->argv[c->argc++] = c->words + c->used;
    c->argv[c->argc] = NULL;
    c->used += (size_t)n + 1;
}

/* build/maskdet: the program beside this test program. */
static void maskdet_path(char *buf, size_t len) {
    char self[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(buf, len, "%s/maskdet", self);
}

/* Starts maskdet with c's arguments on one thread, stdout and stderr
 * appended to log_path. */
static pid_t spawn(const cmdline *c, const char *log_path) {
    char program[PATH_MAX];
    maskdet_path(program, sizeof program);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd < 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        setenv("NN_THREADS", "1", 1);
        char *argv[66];
        argv[0] = program;
        memcpy(argv + 1, c->argv, ((size_t)c->argc + 1) * sizeof *argv);
        execv(program, argv);
        _exit(127);
    }
    return pid;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static bool is_temp_name(const char *name) { return strstr(name, ".tmp.") != NULL; }

/* ------------------------------------------------------- the run folder */

typedef struct {
    long looks;         /* times the folder was checked */
    long files_checked; /* complete files verified */
    int kills;          /* SIGKILLs that hit a running trainer */
    int kills_in_write; /* ... that left a new temporary file behind */
    int kills_in_checkpoint_write; /* ... a temporary checkpoint file */
    int resumes;        /* runs started from a checkpoint */
    int writes;         /* temporary files created (one per file written) */
    int checkpoint_writes;
} run_stats;

/* Whole content of a file (NULL if it is absent). */
static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, (size_t)(n > 0 ? n : 0), f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Temporary files found by check_folder. */
typedef struct {
    int all, checkpoint;
} temp_count;

/* Whether a temporary file's name ("NAME.tmp.<pid>[.<salt>]") says process pid
 * wrote it (any pid when pid is 0). */
static bool temp_written_by(const char *name, pid_t pid) {
    if (pid == 0) return true;
    const char *p = strstr(name, ".tmp.");
    char *end;
    long owner = strtol(p + 5, &end, 10);
    return owner == (long)pid && (*end == '.' || *end == '\0');
}

/* Every file of dir is absent or complete (temporary files excepted); with
 * decode_images, PNGs are decoded too. Returns the temporary files written by
 * process `owner` (0: by anyone), all and those of the checkpoint. */
static temp_count check_folder(const char *dir, const char *checkpoint, bool decode_images,
                               pid_t owner, run_stats *rs) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot list %s", dir);
    temp_count temps = {0, 0};
    rs->looks++;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (is_temp_name(e->d_name)) {
            if (temp_written_by(e->d_name, owner)) {
                temps.all++;
                temps.checkpoint += !strncmp(e->d_name, checkpoint, strlen(checkpoint));
            }
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        nn_error err = {0};
        if (ends_with(e->d_name, ".nnw")) {
            nn_weights *w = NULL;
            nn_status st = nn_weights_load(path, &w, &err);
            ck_assert_msg(st == NN_OK || st == NN_ERR_NOT_FOUND, "%s is not a complete .nnw: %s",
                          path, err.msg);
            nn_weights_free(w);
            rs->files_checked += st == NN_OK;
        } else if (ends_with(e->d_name, ".csv")) {
            size_t len = 0;
            char *text = read_text(path, &len);
            if (!text) continue;
            ck_assert_msg(len > 6 && !strncmp(text, "epoch,", 6) && text[len - 1] == '\n',
                          "%s is not a complete log (%zu bytes)", path, len);
            free(text);
            rs->files_checked++;
        } else if (ends_with(e->d_name, ".png") && decode_images) {
            image img = {0};
            nn_status st = image_load(path, 3, &img, &err);
            ck_assert_msg(st == NN_OK || st == NN_ERR_NOT_FOUND, "%s does not decode: %s", path,
                          err.msg);
            image_free(&img);
            rs->files_checked += st == NN_OK;
        }
    }
    closedir(d);
    return temps;
}

typedef enum {
    KILL_AFTER_DELAY,      /* SIGKILL after `delay_s` */
    KILL_IN_WRITE,         /* SIGKILL when the `nth_write`-th temporary file appears */
    KILL_IN_CHECKPOINT,    /* ... the `nth_write`-th temporary checkpoint file */
    NO_KILL
} kill_mode;

typedef struct {
    kill_mode mode;
    double delay_s;
    int nth_write;
} kill_plan;

/* Runs c, watching dir (inotify: a look at each file created, written or
 * renamed, and every 20 ms), and kills it as planned. Returns true when the
 * run was killed, false when it finished (exit 0); any other end fails. */
static bool run_once(const cmdline *c, const char *dir, const char *checkpoint,
                     const char *log_path, kill_plan plan, run_stats *rs) {
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ck_assert_int_ge(ino, 0);
    ck_assert_int_ge(inotify_add_watch(ino, dir, IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO), 0);
    check_folder(dir, checkpoint, true, 0, rs);
    double start = now_s();
    pid_t pid = spawn(c, log_path);
    int writes_seen = 0, checkpoint_writes_seen = 0, status = 0;
    bool killed = false, exited = false;
    while (!exited) {
        struct pollfd pfd = {ino, POLLIN, 0};
        int timeout_ms = 20;
        if (plan.mode == KILL_AFTER_DELAY && !killed) {
            double left_ms = (start + plan.delay_s - now_s()) * 1e3;
            timeout_ms = left_ms < 0 ? 0 : left_ms < 20 ? (int)left_ms : 20;
        }
        int ready = poll(&pfd, 1, timeout_ms);
        if (ready > 0) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t n;
            while ((n = read(ino, buf, sizeof buf)) > 0)
                for (char *p = buf; p < buf + n;) {
                    const struct inotify_event *ev = (const struct inotify_event *)p;
                    if ((ev->mask & IN_CREATE) && ev->len && is_temp_name(ev->name)) {
                        bool is_checkpoint = !strncmp(ev->name, checkpoint, strlen(checkpoint));
                        writes_seen++;
                        checkpoint_writes_seen += is_checkpoint;
                        rs->writes++;
                        rs->checkpoint_writes += is_checkpoint;
                        bool now = (plan.mode == KILL_IN_WRITE && writes_seen == plan.nth_write) ||
                                   (plan.mode == KILL_IN_CHECKPOINT && is_checkpoint &&
                                    checkpoint_writes_seen == plan.nth_write);
                        if (now && !killed) {
                            kill(pid, SIGKILL);
                            killed = true;
                        }
                    }
                    p += sizeof *ev + ev->len;
                }
        }
        if (plan.mode == KILL_AFTER_DELAY && !killed && now_s() - start >= plan.delay_s) {
            kill(pid, SIGKILL);
            killed = true;
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        ck_assert_int_ge(w, 0);
        exited = w == pid;
        check_folder(dir, checkpoint, false, 0, rs); /* a reader while the trainer writes */
    }
    close(ino);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        rs->kills++;
        /* a temporary file of the killed process: it died inside that write */
        temp_count left = check_folder(dir, checkpoint, true, pid, rs);
        rs->kills_in_write += left.all > 0;
        rs->kills_in_checkpoint_write += left.checkpoint > 0;
        return true;
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "maskdet ended with status 0x%x (log: %s)", status, log_path);
    check_folder(dir, checkpoint, true, 0, rs);
    return false;
}

/* The kill plans, shuffled: n_delay random delays in [0, T / 3] (a resumed
 * run has less left to do), n_write kills at the k-th temporary file of a
 * run and as many at its k-th temporary checkpoint file (k random, within
 * the first third of what a whole run writes). */
static int make_plans(kill_plan *plans, int max, uint64_t *rng, double t_ref_s,
                      const run_stats *ref, int n_delay, int n_write) {
    int n = 0;
    for (int i = 0; i < n_delay && n < max; i++)
        plans[n++] = (kill_plan){KILL_AFTER_DELAY, t_ref_s / 3 * random_unit(rng), 0};
    for (int i = 0; i < n_write && n + 1 < max; i++) {
        uint64_t any = (uint64_t)(ref->writes + 2) / 3;
        uint64_t ckpt = (uint64_t)(ref->checkpoint_writes + 2) / 3;
        plans[n++] = (kill_plan){KILL_IN_WRITE, 0, 1 + (int)(next_random(rng) % any)};
        plans[n++] = (kill_plan){KILL_IN_CHECKPOINT, 0, 1 + (int)(next_random(rng) % ckpt)};
    }
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next_random(rng) % (uint64_t)(i + 1));
        kill_plan t = plans[i];
        plans[i] = plans[j], plans[j] = t;
    }
    return n;
}

/* Tensors of a and b named alike, bit for bit, and the same tensor names. */
static void assert_same_tensors(const char *path_a, const char *path_b) {
    nn_weights *a = NULL, *b = NULL;
    nn_error err = {0};
    ck_assert_msg(nn_weights_load(path_a, &a, &err) == NN_OK, "%s", err.msg);
    ck_assert_msg(nn_weights_load(path_b, &b, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(nn_weights_count(a), nn_weights_count(b));
    for (int i = 0; i < nn_weights_count(a); i++) {
        const nn_tensor *ta = nn_weights_tensor(a, i);
        const nn_tensor *tb = nn_weights_find(b, nn_weights_name(a, i));
        ck_assert_msg(tb != NULL, "%s has no %s", path_b, nn_weights_name(a, i));
        ck_assert_msg(ta->numel == tb->numel &&
                          !memcmp(ta->data, tb->data, ta->numel * sizeof *ta->data),
                      "%s differs between %s and %s", nn_weights_name(a, i), path_a, path_b);
    }
    const char *keys[] = {"train.epoch", "train.history", "train.best_epoch", "train.optim_steps"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *va = nn_weights_meta(a, keys[i]), *vb = nn_weights_meta(b, keys[i]);
        ck_assert_msg((!va && !vb) || (va && vb && !strcmp(va, vb)),
                      "%s differs between %s and %s", keys[i], path_a, path_b);
    }
    nn_weights_free(a);
    nn_weights_free(b);
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

/* A trainer under test: how to start it afresh and how to resume it. */
typedef struct {
    const char *name;
    void (*fresh)(cmdline *c, const char *data, const char *run_dir);
    void (*resume)(cmdline *c, const char *data, const char *run_dir);
    const char *checkpoint; /* in the run folder */
    const char *best_model; /* in the run folder */
} trainer;

/* The reference run, then the killed-and-resumed one; compares them. */
static void kill_and_resume(const trainer *tr, const char *tmp, const char *data, int n_delay,
                            int n_write) {
    char ref_dir[600], cut_dir[600], log_path[600], a[PATH_MAX], b[PATH_MAX];
    snprintf(ref_dir, sizeof ref_dir, "%s/ref", tmp);
    snprintf(cut_dir, sizeof cut_dir, "%s/cut", tmp);
    snprintf(log_path, sizeof log_path, "%s/log.txt", tmp);
    ck_assert_int_eq(mkdir(ref_dir, 0777), 0);
    ck_assert_int_eq(mkdir(cut_dir, 0777), 0);

    /* the reference, counting the files it writes */
    run_stats ref_stats = {0};
    cmdline c = {0};
    tr->fresh(&c, data, ref_dir);
    double t0 = now_s();
    ck_assert(!run_once(&c, ref_dir, tr->checkpoint, log_path, (kill_plan){NO_KILL, 0, 0},
                        &ref_stats));
    double t_ref = now_s() - t0;
    ck_assert_int_gt(ref_stats.checkpoint_writes, 0);

    uint64_t rng = schedule_seed(tr->name);
    kill_plan plans[32];
    int n_plans = make_plans(plans, 32, &rng, t_ref, &ref_stats, n_delay, n_write);
    run_stats rs = {0};
    bool finished = false;
    char ckpt[PATH_MAX];
    snprintf(ckpt, sizeof ckpt, "%s/%s", cut_dir, tr->checkpoint);
    /* First kills at a checkpoint write until one lands inside it (the
     * trainer may get to its rename before the signal: up to 8 tries), then
     * the plans in order, then a run to the end. */
    int checkpoint_tries = 0;
    uint64_t early_checkpoints = (uint64_t)(ref_stats.checkpoint_writes + 2) / 3;
    for (int i = 0; !finished;) {
        kill_plan plan = {NO_KILL, 0, 0};
        if (!rs.kills_in_checkpoint_write && checkpoint_tries < 8) {
            checkpoint_tries++;
            plan = (kill_plan){KILL_IN_CHECKPOINT, 0, 1 + (int)(next_random(&rng) % early_checkpoints)};
        } else if (i < n_plans) {
            plan = plans[i++];
        }
        c = (cmdline){0};
        bool resuming = file_exists(ckpt);
        if (resuming) tr->resume(&c, data, cut_dir);
        else tr->fresh(&c, data, cut_dir);
        rs.resumes += resuming;
        const char *how = resuming ? "resumed" : "fresh";
        if (plan.mode == KILL_AFTER_DELAY)
            fprintf(stderr, "resume %s: %s, kill after %.3f s\n", tr->name, how, plan.delay_s);
        else if (plan.mode == KILL_IN_WRITE)
            fprintf(stderr, "resume %s: %s, kill at temporary file %d\n", tr->name, how,
                    plan.nth_write);
        else if (plan.mode == KILL_IN_CHECKPOINT)
            fprintf(stderr, "resume %s: %s, kill at temporary checkpoint %d\n", tr->name, how,
                    plan.nth_write);
        finished = !run_once(&c, cut_dir, tr->checkpoint, log_path, plan, &rs);
    }
    if (!rs.kills_in_checkpoint_write)
        fprintf(stderr, "resume %s: warning: no kill landed inside a checkpoint write\n",
                tr->name);
    /* the temp files of checkpoints cut short are gone (removed on resume) */
    temp_count left = check_folder(cut_dir, tr->checkpoint, false, 0, &rs);
    ck_assert_msg(left.checkpoint == 0, "%d stale temporary checkpoint file(s) in %s",
                  left.checkpoint, cut_dir);
    fprintf(stderr,
            "resume %s: reference %.2f s, %d files written; %d kills (%d inside a file write, "
            "%d inside a checkpoint write), %d resumes; %ld looks at the run folder, %ld "
            "complete files seen, none half-written\n",
            tr->name, t_ref, ref_stats.writes, rs.kills, rs.kills_in_write,
            rs.kills_in_checkpoint_write, rs.resumes, rs.looks, rs.files_checked);

    snprintf(a, sizeof a, "%s/%s", ref_dir, tr->checkpoint);
    snprintf(b, sizeof b, "%s/%s", cut_dir, tr->checkpoint);
    assert_same_tensors(a, b);
    snprintf(a, sizeof a, "%s/%s", ref_dir, tr->best_model);
    snprintf(b, sizeof b, "%s/%s", cut_dir, tr->best_model);
    assert_same_tensors(a, b);
}

/* ------------------------------------------------------- train-classifier */

static void classifier_fresh(cmdline *c, const char *data, const char *run_dir) {
    cmd_add(c, "train-classifier");
    cmd_add(c, "%s/faces", data);
    cmd_add(c, "-o");
    cmd_add(c, "%s/m.nnw", run_dir);
    cmd_add(c, "--log");
    cmd_add(c, "%s/log.csv", run_dir);
    const char *opts[] = {"--epochs", "8",   "--input-size", "8",         "--batch", "4",
                          "--threads", "1",  "--cache-mb",   "1",         "--min-face", "0",
                          "--seed",   "7",   "--val-split",  "0.25",      "--arch",  "compact"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) cmd_add(c, "%s", opts[i]);
}

static void classifier_resume(cmdline *c, const char *data, const char *run_dir) {
    (void)data;
    cmd_add(c, "train-classifier");
    cmd_add(c, "--resume");
    cmd_add(c, "%s/m.ckpt.nnw", run_dir);
}

START_TEST(train_classifier_survives_kill) {
    char tmp[512];
    dsf_make_tempdir(tmp, sizeof tmp);
    dsf_write_face_folders(tmp, 10);
    trainer tr = {"train-classifier", classifier_fresh, classifier_resume, "m.ckpt.nnw", "m.nnw"};
    kill_and_resume(&tr, tmp, tmp, 5, 3);
    dsf_remove_tree(tmp);
}
END_TEST

/* --------------------------------------------------------- train-detector */

static void detector_args(cmdline *c, const char *data, const char *run_dir) {
    cmd_add(c, "train-detector");
    cmd_add(c, "--data");
    cmd_add(c, "%s/data", data);
    cmd_add(c, "--out");
    cmd_add(c, "%s", run_dir);
    const char *opts[] = {"--epochs", "5",  "--batch",        "2",   "--size",    "64",
                          "--widths", "4,8,8,8,8,8",            "--maps",    "2",
                          "--eval-every", "1", "--val-fraction", "0.3", "--warmup", "2",
                          "--seed",   "3",  "--threads",      "1"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) cmd_add(c, "%s", opts[i]);
}

/* As the help says: the data, the run folder and --resume; the rest (seed
 * included) comes from the checkpoint. */
static void detector_resume(cmdline *c, const char *data, const char *run_dir) {
    cmd_add(c, "train-detector");
    cmd_add(c, "--data");
    cmd_add(c, "%s/data", data);
    cmd_add(c, "--out");
    cmd_add(c, "%s", run_dir);
    cmd_add(c, "--resume");
}

START_TEST(train_detector_survives_kill) {
    char tmp[512];
    dsf_make_tempdir(tmp, sizeof tmp);
    dsf_write_voc_photos(tmp);
    trainer tr = {"train-detector", detector_args, detector_resume, "last.ckpt.nnw", "best.nnw"};
    kill_and_resume(&tr, tmp, tmp, 4, 3);
    dsf_remove_tree(tmp);
}
END_TEST

Suite *resume_suite(void) {
    Suite *s = suite_create("resume");
    TCase *tc = tcase_create("kill -9");
    tcase_set_timeout(tc, 600); /* a loaded machine under ASan: a run can take 30 s */
    tcase_add_test(tc, train_classifier_survives_kill);
    tcase_add_test(tc, train_detector_survives_kill);
    suite_add_tcase(s, tc);
    return s;
}
