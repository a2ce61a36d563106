/*
 * train_common.h - what every training command shares:
 *
 *   progress     one line per epoch on stderr: a bar redrawn in place with
 *                ETA, named metrics (loss, accuracy, ...) and images/s when
 *                stderr is a terminal; plain lines every tenth otherwise
 *   history      named series with one value per epoch, written as a CSV
 *                log (one row per epoch) and drawn as PNG curves
 *   checkpoints  model parameters + optimizer state + epoch + RNG state +
 *                best metric + history + the run's configuration, as ONE
 *                .nnw file written atomically, so a run can be resumed
 *                exactly where it stopped
 *
 * Resuming exactly: a trainer that draws every random number from
 * generators seeded by (seed, epoch) (the loader does; reseed the ctx with
 * train_epoch_seed at each epoch start) and checkpoints at epoch ends gets
 * bit-identical weights whether a run was interrupted or not, for the same
 * seed and thread count. The position saved is therefore the epoch count;
 * rng_state is there for trainers that keep a generator of their own.
 *
 * Checkpoint file (.nnw, docs/weights-format.md), all f32:
 *   tensors   every model parameter by name; optimizer state "optim.<i>.<what>"
 *   metadata  kind = "checkpoint", train.epoch, train.optim_steps, train.seed,
 *             train.rng_state (hex), train.best_metric, train.best_epoch,
 *             train.history (the CSV text), and every key of the caller's
 *             config (use a "config." prefix; "kind" and "train.*" are ours).
 */
#ifndef APPS_TRAIN_COMMON_H
#define APPS_TRAIN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nn.h"

typedef struct {
    const char *name; /* "loss", "acc", ... */
    double value;
} train_metric;

/* Monotonic clock in seconds. */
double train_now_s(void);
/* "m:ss" or "h:mm:ss"; "--:--" for a negative or non-finite value. */
void train_format_duration(char *buf, size_t len, double seconds);
/* A seed for one epoch of a run (dropout, anything drawn per epoch). */
uint64_t train_epoch_seed(uint64_t seed, int epoch);

/* ---------------------------------------------------------------- progress */

typedef struct {
    FILE *out;
    bool bar; /* redraw one line with '\r' (a terminal) or print plain lines */
    char label[64];
    size_t total_steps;
    double start_s;
    int last_tenth; /* plain lines: the last tenth of the epoch printed */
} train_progress;

/* The progress line: "LABEL [=====>    ] 12/40 ETA 0:31 loss 0.2134 acc 0.9312 210 img/s".
 * bar_width 0 leaves the bar out. Returns what snprintf returns. */
int train_progress_format(char *buf, size_t len, const char *label, size_t done,
                          size_t total, double elapsed_s, size_t images, int n_metrics,
                          const train_metric *metrics, int bar_width);

/* bar: true for a redrawn bar; pass isatty(fileno(out)) to follow the terminal. */
void train_progress_begin(train_progress *p, FILE *out, bool bar, const char *label,
                          size_t total_steps);
/* After each step: steps done and images seen so far in this epoch. */
void train_progress_update(train_progress *p, size_t done, size_t images, int n_metrics,
                           const train_metric *metrics);
/* The epoch's final line (always printed, ends with a newline). */
void train_progress_end(train_progress *p, size_t images, int n_metrics,
                        const train_metric *metrics);

/* ----------------------------------------------------------------- history */

#define TRAIN_MAX_SERIES 16
#define TRAIN_SERIES_NAME_LEN 32

typedef struct {
    int n_series;
    char names[TRAIN_MAX_SERIES][TRAIN_SERIES_NAME_LEN];
    int n_epochs, capacity;
    double *values; /* n_epochs x n_series, row-major; NaN = no value */
} train_history;

/* Names: letters, digits and '_' only (they become CSV columns). */
nn_status train_history_init(train_history *h, int n_series, const char *const *names,
                             nn_error *err);
void train_history_free(train_history *h);
/* Appends one epoch: row has n_series values. */
nn_status train_history_add(train_history *h, const double *row, nn_error *err);
/* Column of a series, -1 if absent. */
int train_history_find(const train_history *h, const char *name);
/* Value of series `name` at epoch index e (0-based); NaN if absent. */
double train_history_get(const train_history *h, int epoch_index, const char *name);
/* Keeps the first n_epochs rows (a resumed run rewinds to its checkpoint). */
void train_history_truncate(train_history *h, int n_epochs);

/* The CSV text: header "epoch,<names>", then one row per epoch (epoch from 1);
 * values printed with 17 significant digits, an empty field for NaN.
 * *out is malloc'ed. */
nn_status train_history_csv(const train_history *h, char **out, nn_error *err);
/* Parses what train_history_csv wrote (h is initialised from the header). */
nn_status train_history_parse_csv(const char *text, train_history *h, nn_error *err);
/* Writes the CSV to path atomically (temp file + rename). */
nn_status train_history_write_csv(const train_history *h, const char *path, nn_error *err);
/* Line charts in one PNG, one panel per group: panels is "a,b;c,d" (series
 * a and b in the first panel, c and d in the second). Unknown names are an
 * error. x is the epoch (from 1). */
nn_status train_history_plot_png(const train_history *h, const char *path, const char *title,
                                 const char *panels, nn_error *err);

/* ------------------------------------------------------------- checkpoints */

typedef struct {
    int epoch;            /* epochs completed */
    uint64_t seed;        /* the run's seed */
    uint64_t rng_state;   /* a trainer's own generator, if any */
    double best_metric;   /* NaN: none yet */
    int best_epoch;       /* epoch (from 1) the best was reached; 0: none */
} train_state;

/* epoch 0, no best. */
train_state train_state_initial(uint64_t seed);
/* Higher is better: true (and best_* updated) when value beats the best so
 * far; epoch is the 1-based epoch the value belongs to. NaN never improves. */
bool train_state_improved(train_state *st, double value, int epoch);

/* Writes one checkpoint atomically. opt and h may be NULL; config may be NULL
 * or a weights object whose metadata (only) is copied. Save and load remove
 * the temp files "PATH.tmp.<pid>.*" that writers killed mid-write left. */
nn_status train_checkpoint_save(const char *path, const nn_model *m, const nn_optim *opt,
                                const train_state *st, const train_history *h,
                                const nn_weights *config, nn_error *err);
/* Loads a checkpoint file and checks it is one (kind = "checkpoint"). Read
 * the config from its metadata, build the model and optimizer, then call
 * train_checkpoint_restore. */
nn_status train_checkpoint_load(const char *path, nn_weights **out, nn_error *err);
/* Copies parameters and optimizer state (every tensor must be present with
 * the same shape) and the step count into m and opt, and fills st and h
 * (h uninitialised on entry; free it with train_history_free). opt and h may
 * be NULL. */
nn_status train_checkpoint_restore(const nn_weights *w, nn_model *m, nn_optim *opt,
                                   train_state *st, train_history *h, nn_error *err);

#endif
