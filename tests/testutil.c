/* testutil.c - see testutil.h */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void tu_fill_uniform(nn_tensor *t, float lo, float hi, uint64_t seed) {
    uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (size_t i = 0; i < t->numel; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        float u = (float)(s >> 40) / 16777216.0f;
        t->data[i] = lo + (hi - lo) * u;
    }
}

nn_tensor *tu_param(int ndim, const int *shape, float lo, float hi, uint64_t seed) {
    nn_tensor *t = nn_tensor_new(ndim, shape);
    ck_assert_ptr_nonnull(t);
    tu_fill_uniform(t, lo, hi, seed);
    nn_tensor_set_requires_grad(t, true);
    return t;
}

double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / (atol + rtol * fabs((double)b[i]));
        if (isnan(a[i]) || isnan(b[i])) r = INFINITY;
        if (r > worst) worst = r;
    }
    return worst;
}

/* L = sum(out * R) in double, with R regenerated from a fixed seed. */
static double weighted_sum(const nn_tensor *out) {
    uint64_t s = 12345;
    double acc = 0.0;
    for (size_t i = 0; i < out->numel; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double r = (double)(s >> 40) / 16777216.0 * 2.0 - 1.0;
        acc += r * out->data[i];
    }
    return acc;
}

static double eval_loss(tu_forward_fn fn, void *arg, nn_tensor **inputs, nn_ctx *ctx) {
    nn_ctx_reset(ctx);
    nn_ctx_set_grad_enabled(ctx, false);
    nn_tensor *out = fn(ctx, inputs, arg);
    ck_assert_msg(out != NULL, "forward failed: %s", nn_ctx_error(ctx));
    return weighted_sum(out);
}

double tu_gradcheck(tu_forward_fn fn, void *arg, int n_inputs, nn_tensor **inputs, float eps,
                    double atol, double rtol, char *why, size_t why_len) {
    nn_ctx *ctx = nn_ctx_create();
    ck_assert_ptr_nonnull(ctx);
    snprintf(why, why_len, "ok");

    /* analytic gradient */
    for (int k = 0; k < n_inputs; k++) nn_tensor_zero_grad(inputs[k]);
    nn_ctx_set_grad_enabled(ctx, true);
    nn_tensor *out = fn(ctx, inputs, arg);
    ck_assert_msg(out != NULL, "forward failed: %s", nn_ctx_error(ctx));
    nn_tensor *r = nn_tensor_new(out->ndim, out->shape);
    uint64_t s = 12345;
    for (size_t i = 0; i < r->numel; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        r->data[i] = (float)((double)(s >> 40) / 16777216.0 * 2.0 - 1.0);
    }
    nn_tensor *loss = nn_sum(ctx, nn_mul(ctx, out, r));
    ck_assert_msg(nn_backward(ctx, loss) == NN_OK, "backward failed: %s", nn_ctx_error(ctx));

    double worst = 0.0;
    for (int k = 0; k < n_inputs; k++) {
        nn_tensor *x = inputs[k];
        if (!x->requires_grad) continue;
        for (size_t i = 0; i < x->numel; i++) {
            float saved = x->data[i];
            x->data[i] = saved + eps;
            double lp = eval_loss(fn, arg, inputs, ctx);
            x->data[i] = saved - eps;
            double lm = eval_loss(fn, arg, inputs, ctx);
            x->data[i] = saved;
            double numeric = (lp - lm) / (2.0 * eps);
            double analytic = x->grad[i];
            double ratio = fabs(numeric - analytic) / (atol + rtol * fabs(numeric));
            if (isnan(analytic)) ratio = INFINITY;
            if (ratio > worst) {
                worst = ratio;
                snprintf(why, why_len, "input %d element %zu: analytic %.6g vs numeric %.6g", k, i,
                         analytic, numeric);
            }
        }
    }
    nn_tensor_free(r);
    nn_ctx_destroy(ctx);
    return worst;
}

/* ---- fixtures */

typedef struct {
    char *name;
    int ndim;
    int shape[NN_MAX_DIMS];
    size_t numel;
    float *data;
} fx_entry;

struct tu_fixture {
    int count;
    fx_entry *e;
};

static int read_u32(FILE *f, uint32_t *v) { return fread(v, 4, 1, f) == 1 ? 0 : -1; }

tu_fixture *tu_fixture_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fixture %s: cannot open\n", path);
        return NULL;
    }
    char magic[4];
    uint32_t version, count;
    tu_fixture *fx = NULL;
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "NNFX", 4) || read_u32(f, &version) ||
        version != 1 || read_u32(f, &count) || count > 100000)
        goto bad;
    fx = calloc(1, sizeof *fx);
    fx->e = calloc(count ? count : 1, sizeof *fx->e);
    for (uint32_t i = 0; i < count; i++) {
        fx_entry *e = &fx->e[i];
        uint32_t len, ndim;
        if (read_u32(f, &len) || len > 4096) goto bad;
        e->name = calloc(1, len + 1);
        fx->count++;
        if (fread(e->name, 1, len, f) != len || read_u32(f, &ndim) || ndim > NN_MAX_DIMS) goto bad;
        e->ndim = (int)ndim;
        e->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            int32_t v;
            if (fread(&v, 4, 1, f) != 1 || v < 0) goto bad;
            e->shape[d] = v;
            e->numel *= (size_t)v;
        }
        e->data = malloc(e->numel * sizeof(float) + 1);
        if (fread(e->data, sizeof(float), e->numel, f) != e->numel) goto bad;
    }
    fclose(f);
    return fx;
bad:
    fprintf(stderr, "fixture %s: malformed\n", path);
    fclose(f);
    tu_fixture_free(fx);
    return NULL;
}

void tu_fixture_free(tu_fixture *fx) {
    if (!fx) return;
    for (int i = 0; i < fx->count; i++) {
        free(fx->e[i].name);
        free(fx->e[i].data);
    }
    free(fx->e);
    free(fx);
}

static const fx_entry *fx_find(const tu_fixture *fx, const char *name) {
    for (int i = 0; i < fx->count; i++)
        if (strcmp(fx->e[i].name, name) == 0) return &fx->e[i];
    return NULL;
}

const float *tu_fixture_data(const tu_fixture *fx, const char *name, size_t *numel) {
    const fx_entry *e = fx_find(fx, name);
    if (!e) return NULL;
    if (numel) *numel = e->numel;
    return e->data;
}

nn_tensor *tu_fixture_tensor(const tu_fixture *fx, const char *name) {
    const fx_entry *e = fx_find(fx, name);
    if (!e) return NULL;
    nn_tensor *t = e->ndim ? nn_tensor_new(e->ndim, e->shape) : nn_tensor_new1(1);
    if (t) memcpy(t->data, e->data, e->numel * sizeof(float));
    return t;
}

const char *tu_shared_dir(void) {
    static char path[4096];
    const char *env = getenv("MASKDET_SHARED");
    const char *candidates[] = {env, "../../shared", "../shared"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        struct stat st;
        if (candidates[i] && stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(path, sizeof path, "%s", candidates[i]);
            return path;
        }
    }
    return NULL;
}

/* The whole content of an open file as a malloc'd string. */
static char *slurp(FILE *f) {
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    return buf;
}

int tu_run_maskdet(const char *args, char **out, char **err) {
    char self[3072];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0'; /* build/ */
    FILE *fo = tmpfile(), *fe = tmpfile();
    ck_assert(fo && fe);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s/maskdet' %s >/dev/fd/%d 2>/dev/fd/%d", self, args, fileno(fo),
             fileno(fe));
    int status = system(cmd);
    char *texts[2] = {slurp(fo), slurp(fe)};
    fclose(fo);
    fclose(fe);
    if (out) *out = texts[0];
    else free(texts[0]);
    if (err) *err = texts[1];
    else free(texts[1]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static uint32_t djb2(const char *s) {
    uint32_t h = 5381;
    for (; *s; s++) h = h * 33 + (unsigned char)*s;
    return h;
}

void tu_ssd_formula_weights(nn_model *m) {
    for (int k = 0; k < nn_model_param_count(m); k++) {
        nn_param p = nn_model_param(m, k);
        if (strstr(p.name, "_norm.")) continue;
        bool is_bias = strstr(p.name, ".bias") != NULL;
        double h = djb2(p.name) % 1000;
        double amp = is_bias ? 0.1 : sqrt(3.0 / (double)(p.tensor->numel / p.tensor->shape[0]));
        for (size_t i = 0; i < p.tensor->numel; i++)
            p.tensor->data[i] = (float)(amp * sin(0.731 * (double)i + 0.017 * h));
    }
}

float *tu_rand_floats(size_t n, uint64_t seed) {
    int shape[1] = {(int)n};
    nn_tensor *t = nn_tensor_new(1, shape);
    ck_assert_ptr_nonnull(t);
    tu_fill_uniform(t, -1.0f, 1.0f, seed);
    float *out = tu_copy_floats(t->data, n);
    nn_tensor_free(t);
    return out;
}

float *tu_copy_floats(const float *src, size_t n) {
    float *out = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(out);
    memcpy(out, src, n * sizeof(float));
    return out;
}
