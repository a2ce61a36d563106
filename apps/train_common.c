/*
 * train_common.c - progress lines, the per-epoch history (CSV + PNG curves)
 * and single-file checkpoints shared by the training commands (see
 * train_common.h).
 */
#include "train_common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "plot.h"

/* ------------------------------------------------------------ small helpers */

double train_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void train_format_duration(char *buf, size_t len, double seconds) {
    if (!isfinite(seconds) || seconds < 0 || seconds > 1e8) {
        snprintf(buf, len, "--:--");
        return;
    }
    long s = lround(seconds);
    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

/* splitmix64's finaliser */
static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t train_epoch_seed(uint64_t seed, int epoch) {
    return mix64(mix64(seed ^ 0x7EA1C0DEull) + (uint64_t)(int64_t)epoch);
}

/* ---------------------------------------------------------------- progress */

/* Appends printf-style output at *pos without running past len. */
static void append(char *buf, size_t len, int *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, int *pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t at = (size_t)*pos < len ? (size_t)*pos : len;
    int n = vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
    if (n > 0) *pos += n;
}

int train_progress_format(char *buf, size_t len, const char *label, size_t done,
                          size_t total, double elapsed_s, size_t images, int n_metrics,
                          const train_metric *metrics, int bar_width) {
    int pos = 0;
    if (len) buf[0] = '\0';
    append(buf, len, &pos, "%s", label ? label : "");
    if (bar_width > 0) {
        int filled = total ? (int)((double)bar_width * (double)done / (double)total) : 0;
        if (filled > bar_width) filled = bar_width;
        append(buf, len, &pos, " [");
        for (int i = 0; i < bar_width; i++)
            append(buf, len, &pos, "%c", i < filled ? '=' : i == filled ? '>' : ' ');
        append(buf, len, &pos, "]");
    }
    append(buf, len, &pos, " %zu/%zu", done, total);
    char eta[32];
    if (done < total) {
        double remaining = done ? elapsed_s * (double)(total - done) / (double)done : -1;
        train_format_duration(eta, sizeof eta, remaining);
        append(buf, len, &pos, " ETA %s", eta);
    } else {
        train_format_duration(eta, sizeof eta, elapsed_s);
        append(buf, len, &pos, " in %s", eta);
    }
    for (int i = 0; i < n_metrics; i++)
        append(buf, len, &pos, " %s %.4f", metrics[i].name, metrics[i].value);
    if (elapsed_s > 0 && images > 0)
        append(buf, len, &pos, " %.1f img/s", (double)images / elapsed_s);
    return pos;
}

void train_progress_begin(train_progress *p, FILE *out, bool bar, const char *label,
                          size_t total_steps) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->bar = bar;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total_steps = total_steps;
    p->start_s = train_now_s();
    p->last_tenth = 0;
}

void train_progress_update(train_progress *p, size_t done, size_t images, int n_metrics,
                           const train_metric *metrics) {
    if (!p->out || done >= p->total_steps) return; /* the last one is train_progress_end's */
    char line[512];
    double elapsed = train_now_s() - p->start_s;
    if (p->bar) {
        train_progress_format(line, sizeof line, p->label, done, p->total_steps, elapsed, images,
                              n_metrics, metrics, 24);
        fprintf(p->out, "\r%s\033[K", line); /* \033[K clears what a longer line left */
        fflush(p->out);
        return;
    }
    int tenth = p->total_steps ? (int)(10 * done / p->total_steps) : 0;
    if (tenth <= p->last_tenth) return;
    p->last_tenth = tenth;
    train_progress_format(line, sizeof line, p->label, done, p->total_steps, elapsed, images,
                          n_metrics, metrics, 0);
    fprintf(p->out, "%s\n", line);
    fflush(p->out);
}

void train_progress_end(train_progress *p, size_t images, int n_metrics,
                        const train_metric *metrics) {
    if (!p->out) return;
    char line[512];
    train_progress_format(line, sizeof line, p->label, p->total_steps, p->total_steps,
                          train_now_s() - p->start_s, images, n_metrics, metrics,
                          p->bar ? 24 : 0);
    fprintf(p->out, p->bar ? "\r%s\033[K\n" : "%s\n", line);
    fflush(p->out);
}

/* ----------------------------------------------------------------- history */

static bool valid_series_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n >= TRAIN_SERIES_NAME_LEN) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_') return false;
    return strcmp(name, "epoch") != 0;
}

nn_status train_history_init(train_history *h, int n_series, const char *const *names,
                             nn_error *err) {
    memset(h, 0, sizeof *h);
    if (n_series < 1 || n_series > TRAIN_MAX_SERIES)
        return nn_error_set(err, NN_ERR_ARG, "history: %d series, want 1..%d", n_series,
                            TRAIN_MAX_SERIES);
    for (int i = 0; i < n_series; i++) {
        if (!names[i] || !valid_series_name(names[i]))
            return nn_error_set(err, NN_ERR_ARG,
                                "history: bad series name '%s' (letters, digits, '_', at most "
                                "%d characters, not 'epoch')",
                                names[i] ? names[i] : "(null)", TRAIN_SERIES_NAME_LEN - 1);
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                return nn_error_set(err, NN_ERR_ARG, "history: series '%s' named twice",
                                    names[i]);
        snprintf(h->names[i], TRAIN_SERIES_NAME_LEN, "%s", names[i]);
    }
    h->n_series = n_series;
    return NN_OK;
}

void train_history_free(train_history *h) {
    if (!h) return;
    free(h->values);
    memset(h, 0, sizeof *h);
}

nn_status train_history_add(train_history *h, const double *row, nn_error *err) {
    if (h->n_series < 1) return nn_error_set(err, NN_ERR_STATE, "history: not initialised");
    if (h->n_epochs == h->capacity) {
        int cap = h->capacity ? 2 * h->capacity : 16;
        if (cap > 1000000) return nn_error_set(err, NN_ERR_LIMIT, "history: too many epochs");
        double *grown = realloc(h->values, (size_t)cap * (size_t)h->n_series * sizeof *grown);
        if (!grown) return nn_error_set(err, NN_ERR_NOMEM, "history: out of memory");
        h->values = grown;
        h->capacity = cap;
    }
    memcpy(h->values + (size_t)h->n_epochs * (size_t)h->n_series, row,
           (size_t)h->n_series * sizeof *row);
    h->n_epochs++;
    return NN_OK;
}

int train_history_find(const train_history *h, const char *name) {
    for (int i = 0; i < h->n_series; i++)
        if (!strcmp(h->names[i], name)) return i;
    return -1;
}

double train_history_get(const train_history *h, int epoch_index, const char *name) {
    int col = train_history_find(h, name);
    if (col < 0 || epoch_index < 0 || epoch_index >= h->n_epochs) return NAN;
    return h->values[(size_t)epoch_index * (size_t)h->n_series + (size_t)col];
}

void train_history_truncate(train_history *h, int n_epochs) {
    if (n_epochs >= 0 && n_epochs < h->n_epochs) h->n_epochs = n_epochs;
}

nn_status train_history_csv(const train_history *h, char **out, nn_error *err) {
    *out = NULL;
    /* 17 significant digits, sign, exponent and a comma: at most 26 bytes a value */
    size_t cap = 64 + (size_t)h->n_series * TRAIN_SERIES_NAME_LEN +
                 (size_t)h->n_epochs * (16 + (size_t)h->n_series * 28);
    char *buf = malloc(cap);
    if (!buf) return nn_error_set(err, NN_ERR_NOMEM, "history: out of memory for the CSV");
    int pos = 0;
    append(buf, cap, &pos, "epoch");
    for (int s = 0; s < h->n_series; s++)
        append(buf, cap, &pos, ",%s", h->names[s]);
    append(buf, cap, &pos, "\n");
    for (int e = 0; e < h->n_epochs; e++) {
        append(buf, cap, &pos, "%d", e + 1);
        for (int s = 0; s < h->n_series; s++) {
            double v = h->values[(size_t)e * (size_t)h->n_series + (size_t)s];
            if (isfinite(v))
                append(buf, cap, &pos, ",%.17g", v);
            else
                append(buf, cap, &pos, ",");
        }
        append(buf, cap, &pos, "\n");
    }
    *out = buf;
    return NN_OK;
}

nn_status train_history_parse_csv(const char *text, train_history *h, nn_error *err) {
    memset(h, 0, sizeof *h);
    const char *p = text;
    if (strncmp(p, "epoch", 5) != 0)
        return nn_error_set(err, NN_ERR_FORMAT, "history CSV: header does not start with 'epoch'");
    p += 5;
    char names[TRAIN_MAX_SERIES][TRAIN_SERIES_NAME_LEN];
    const char *ptrs[TRAIN_MAX_SERIES];
    int n = 0;
    while (*p == ',') {
        p++;
        size_t len = strcspn(p, ",\n");
        if (n == TRAIN_MAX_SERIES || len == 0 || len >= TRAIN_SERIES_NAME_LEN)
            return nn_error_set(err, NN_ERR_FORMAT, "history CSV: bad header column %d", n + 2);
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        ptrs[n] = names[n];
        n++;
        p += len;
    }
    if (*p != '\n') return nn_error_set(err, NN_ERR_FORMAT, "history CSV: bad header line");
    p++;
    nn_status st = train_history_init(h, n, ptrs, err);
    if (st) return st;
    double row[TRAIN_MAX_SERIES];
    for (int line = 2; *p; line++) {
        char *end;
        errno = 0;
        long epoch = strtol(p, &end, 10);
        if (end == p || epoch != h->n_epochs + 1) {
            train_history_free(h);
            return nn_error_set(err, NN_ERR_FORMAT, "history CSV line %d: expected epoch %d",
                                line, h->n_epochs + 1);
        }
        p = end;
        for (int s = 0; s < n; s++) {
            if (*p != ',') {
                train_history_free(h);
                return nn_error_set(err, NN_ERR_FORMAT, "history CSV line %d: %d values, want %d",
                                    line, s, n);
            }
            p++;
            if (*p == ',' || *p == '\n' || *p == '\0') {
                row[s] = NAN;
                continue;
            }
            row[s] = strtod(p, &end);
            if (end == p) {
                train_history_free(h);
                return nn_error_set(err, NN_ERR_FORMAT, "history CSV line %d: bad number", line);
            }
            p = end;
        }
        if (*p != '\n') {
            train_history_free(h);
            return nn_error_set(err, NN_ERR_FORMAT, "history CSV line %d: extra fields", line);
        }
        p++;
        if ((st = train_history_add(h, row, err))) {
            train_history_free(h);
            return st;
        }
    }
    return NN_OK;
}

/* Writes text to path through a temp file in the same folder and a rename. */
static nn_status write_atomically(const char *path, const char *text, nn_error *err) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        nn_status st = nn_error_set(err, NN_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        nn_status st = nn_error_set(err, NN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return NN_OK;
}

nn_status train_history_write_csv(const train_history *h, const char *path, nn_error *err) {
    char *text;
    nn_status st = train_history_csv(h, &text, err);
    if (st) return st;
    st = write_atomically(path, text, err);
    free(text);
    return st;
}

nn_status train_history_plot_png(const train_history *h, const char *path, const char *title,
                                 const char *panels, nn_error *err) {
    /* Parse "a,b;c" into panel index per listed series. */
    int n_panels = 1, n_listed = 0;
    int col[TRAIN_MAX_SERIES * 4], panel_of[TRAIN_MAX_SERIES * 4];
    const char *p = panels;
    while (*p) {
        size_t len = strcspn(p, ",;");
        char name[TRAIN_SERIES_NAME_LEN];
        if (len == 0 || len >= sizeof name || n_listed == TRAIN_MAX_SERIES * 4)
            return nn_error_set(err, NN_ERR_ARG, "plot: bad panel list '%s'", panels);
        memcpy(name, p, len);
        name[len] = '\0';
        int c = train_history_find(h, name);
        if (c < 0) return nn_error_set(err, NN_ERR_ARG, "plot: no series named '%s'", name);
        col[n_listed] = c;
        panel_of[n_listed++] = n_panels - 1;
        p += len;
        if (*p == ';') n_panels++;
        if (*p) p++;
    }
    if (n_listed == 0) return nn_error_set(err, NN_ERR_ARG, "plot: no series listed");

    const int width = 720, panel_h = 320;
    image canvas = {0};
    nn_status st = image_alloc(&canvas, width, panel_h * n_panels, 3, err);
    if (st) return st;
    memset(canvas.pixels, 255, (size_t)canvas.width * (size_t)canvas.height * 3);
    double *x = malloc(((size_t)h->n_epochs + 1) * sizeof *x);
    double *y = malloc(((size_t)h->n_epochs + 1) * (size_t)n_listed * sizeof *y);
    if (!x || !y) {
        st = nn_error_set(err, NN_ERR_NOMEM, "plot: out of memory");
        goto done;
    }
    for (int e = 0; e < h->n_epochs; e++)
        x[e] = e + 1;
    for (int k = 0; k < n_listed; k++)
        for (int e = 0; e < h->n_epochs; e++)
            y[(size_t)k * (size_t)h->n_epochs + (size_t)e] =
                h->values[(size_t)e * (size_t)h->n_series + (size_t)col[k]];
    for (int panel = 0; panel < n_panels; panel++) {
        plot_series series[TRAIN_MAX_SERIES * 4];
        int n = 0;
        for (int k = 0; k < n_listed; k++) {
            if (panel_of[k] != panel) continue;
            series[n] = (plot_series){.name = h->names[col[k]],
                                      .n_points = h->n_epochs,
                                      .x = x,
                                      .y = y + (size_t)k * (size_t)h->n_epochs};
            series[n].color = draw_class_color(n);
            n++;
        }
        plot_options opt = {0};
        opt.title = panel == 0 ? title : NULL;
        opt.x_label = "epoch";
        opt.legend = PLOT_LEGEND_TOP_RIGHT;
        if (h->n_epochs <= 1) opt.x_min = 0, opt.x_max = 2;
        st = plot_lines(&canvas, 0, panel * panel_h, width, panel_h, &opt, n, series, err);
        if (st) goto done;
    }
    st = image_save(&canvas, path, 0, err);
done:
    free(x);
    free(y);
    image_free(&canvas);
    return st;
}

/* ------------------------------------------------------------- checkpoints */

train_state train_state_initial(uint64_t seed) {
    train_state st = {0};
    st.seed = seed;
    st.best_metric = NAN;
    return st;
}

bool train_state_improved(train_state *st, double value, int epoch) {
    if (isnan(value)) return false;
    if (!isnan(st->best_metric) && !(value > st->best_metric)) return false;
    st->best_metric = value;
    st->best_epoch = epoch;
    return true;
}

/* A run killed while writing its checkpoint leaves "<path>.tmp.<pid>.<salt>"
 * behind (nn_write_file_atomic's temp file, never renamed). Such files of
 * processes that no longer exist are removed, so repeated interruptions do
 * not pile up checkpoint-sized litter; a live writer's file is left alone. */
static void remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    const char *base = slash ? slash + 1 : path;
    size_t base_len = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, base, base_len) != 0 || strncmp(e->d_name + base_len, ".tmp.", 5))
            continue;
        char *end;
        long pid = strtol(e->d_name + base_len + 5, &end, 10);
        if (end == e->d_name + base_len + 5 || (*end != '.' && *end != '\0') || pid <= 0) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char stale[4096 + 256];
        snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name);
        unlink(stale);
    }
    closedir(d);
}

static nn_status set_meta_fmt(nn_weights *w, const char *key, nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nn_status set_meta_fmt(nn_weights *w, const char *key, nn_error *err, const char *fmt,
                              ...) {
    char value[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return nn_weights_set_meta(w, key, value, err);
}

nn_status train_checkpoint_save(const char *path, const nn_model *m, const nn_optim *opt,
                                const train_state *st, const train_history *h,
                                const nn_weights *config, nn_error *err) {
    if (!path || !m || !st) return nn_error_set(err, NN_ERR_ARG, "checkpoint: NULL argument");
    nn_weights *w = nn_weights_create();
    if (!w) return nn_error_set(err, NN_ERR_NOMEM, "checkpoint: out of memory");
    nn_status s = NN_OK;
    for (int i = 0; config && s == NN_OK && i < nn_weights_meta_count(config); i++) {
        const char *key = nn_weights_meta_key(config, i);
        if (!strcmp(key, "kind") || !strncmp(key, "train.", 6)) continue;
        s = nn_weights_set_meta(w, key, nn_weights_meta(config, key), err);
    }
    if (!s) s = nn_weights_set_meta(w, "kind", "checkpoint", err);
    if (!s) s = set_meta_fmt(w, "train.epoch", err, "%d", st->epoch);
    if (!s) s = set_meta_fmt(w, "train.seed", err, "%" PRIu64, st->seed);
    if (!s) s = set_meta_fmt(w, "train.rng_state", err, "%016" PRIx64, st->rng_state);
    if (!s) s = set_meta_fmt(w, "train.best_metric", err, "%.17g", st->best_metric);
    if (!s) s = set_meta_fmt(w, "train.best_epoch", err, "%d", st->best_epoch);
    if (!s) s = set_meta_fmt(w, "train.optim_steps", err, "%" PRId64, opt ? nn_optim_steps(opt) : 0);
    if (!s && h && h->n_series > 0) {
        char *csv;
        if (!(s = train_history_csv(h, &csv, err))) {
            s = nn_weights_set_meta(w, "train.history", csv, err);
            free(csv);
        }
    }
    if (!s) s = nn_model_to_weights(m, w, NN_DTYPE_F32, err);
    for (int i = 0; opt && s == NN_OK && i < nn_optim_state_count(opt); i++) {
        const char *name;
        nn_tensor *t = nn_optim_state(opt, i, &name);
        s = nn_weights_add(w, name, t, NN_DTYPE_F32, err);
    }
    if (!s) {
        remove_stale_temps(path);
        s = nn_weights_save(w, path, err);
    }
    nn_weights_free(w);
    return s;
}

nn_status train_checkpoint_load(const char *path, nn_weights **out, nn_error *err) {
    *out = NULL;
    remove_stale_temps(path);
    nn_weights *w;
    nn_status st = nn_weights_load(path, &w, err);
    if (st) return st;
    const char *kind = nn_weights_meta(w, "kind");
    if (!kind || strcmp(kind, "checkpoint") != 0) {
        nn_weights_free(w);
        return nn_error_set(err, NN_ERR_FORMAT, "%s: not a training checkpoint (kind is '%s')",
                            path, kind ? kind : "missing");
    }
    *out = w;
    return NN_OK;
}

/* Parses metadata key as a number in [lo, hi]. */
static nn_status meta_number(const nn_weights *w, const char *key, double lo, double hi,
                             bool nan_ok, double *out, nn_error *err) {
    const char *text = nn_weights_meta(w, key);
    if (!text) return nn_error_set(err, NN_ERR_NOT_FOUND, "checkpoint: no '%s'", key);
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || (!(v >= lo && v <= hi) && !(nan_ok && isnan(v))))
        return nn_error_set(err, NN_ERR_FORMAT, "checkpoint: bad %s '%s'", key, text);
    *out = v;
    return NN_OK;
}

nn_status train_checkpoint_restore(const nn_weights *w, nn_model *m, nn_optim *opt,
                                   train_state *st, train_history *h, nn_error *err) {
    if (h) memset(h, 0, sizeof *h);
    double epoch, best, best_epoch, steps;
    nn_status s = meta_number(w, "train.epoch", 0, 1e9, false, &epoch, err);
    if (!s) s = meta_number(w, "train.best_metric", -HUGE_VAL, HUGE_VAL, true, &best, err);
    if (!s) s = meta_number(w, "train.best_epoch", 0, 1e9, false, &best_epoch, err);
    if (!s) s = meta_number(w, "train.optim_steps", 0, 9e15, false, &steps, err);
    if (s) return s;
    const char *seed_text = nn_weights_meta(w, "train.seed");
    const char *rng_text = nn_weights_meta(w, "train.rng_state");
    if (!seed_text || !rng_text)
        return nn_error_set(err, NN_ERR_NOT_FOUND, "checkpoint: no train.seed / train.rng_state");
    char *end;
    uint64_t seed = strtoull(seed_text, &end, 10);
    if (end == seed_text || *end)
        return nn_error_set(err, NN_ERR_FORMAT, "checkpoint: bad train.seed '%s'", seed_text);
    uint64_t rng = strtoull(rng_text, &end, 16);
    if (end == rng_text || *end)
        return nn_error_set(err, NN_ERR_FORMAT, "checkpoint: bad train.rng_state '%s'", rng_text);

    if ((s = nn_model_load_weights(m, w, err))) return s;
    for (int i = 0; opt && i < nn_optim_state_count(opt); i++) {
        const char *name;
        nn_tensor *t = nn_optim_state(opt, i, &name);
        const nn_tensor *saved = nn_weights_find(w, name);
        if (!saved)
            return nn_error_set(err, NN_ERR_NOT_FOUND,
                                "checkpoint: no optimizer state '%s' (another optimizer?)", name);
        if (!nn_tensor_same_shape(t, saved)) {
            char a[64], b[64];
            return nn_error_set(err, NN_ERR_SHAPE, "checkpoint: optimizer state '%s' is %s, want %s",
                                name, nn_shape_str(saved, a, sizeof a), nn_shape_str(t, b, sizeof b));
        }
        memcpy(t->data, saved->data, t->numel * sizeof *t->data);
    }
    if (opt) nn_optim_set_steps(opt, (int64_t)steps);
    if (h) {
        const char *csv = nn_weights_meta(w, "train.history");
        if (csv && (s = train_history_parse_csv(csv, h, err))) return s;
    }
    if (st) {
        st->epoch = (int)epoch;
        st->seed = seed;
        st->rng_state = rng;
        st->best_metric = best;
        st->best_epoch = (int)best_epoch;
    }
    return NN_OK;
}
