/*
 * optim.c - SGD (momentum, dampening, Nesterov, weight decay), Adam and AdamW,
 * plus learning-rate schedules.
 *
 * The update rules are PyTorch 1.13's torch.optim single-tensor code, written
 * out per element in the same order of float operations so results agree to
 * a few ulps. With g the gradient, p the parameter, lr the step's rate:
 *
 *   SGD:   d = g + wd*p
 *          buf = d                          on a parameter's first step
 *          buf = momentum*buf + (1-dampening)*d   afterwards
 *          d = nesterov ? d + momentum*buf : buf   (when momentum != 0)
 *          p = p - lr*d
 *   Adam:  g = g + wd*p                     (L2 penalty folded into g)
 *          m = beta1*m + (1-beta1)*g
 *          v = beta2*v + (1-beta2)*g*g
 *          p = p - lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)
 *   AdamW: p = p*(1 - lr*wd), then Adam without the L2 term.
 *
 * Like PyTorch, the scalar factors (bias corrections, step size) are computed
 * in double and rounded to float once; the per-element work is float. Each
 * parameter keeps its own step count t, as PyTorch's state['step']: a
 * parameter whose ->grad is NULL is skipped and its count does not advance.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

nn_optim_config nn_optim_default(nn_optim_type type) {
    nn_optim_config c = {
        .type = type,
        .lr = 1e-3f,
        .momentum = 0.0f,
        .dampening = 0.0f,
        .nesterov = false,
        .weight_decay = 0.0f,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-8f,
    };
    /* torch.optim.SGD has no default lr (it is a required argument); 0.01 is
     * the usual starting point. AdamW's default decay is 1e-2, Adam's 0. */
    if (type == NN_OPTIM_SGD) c.lr = 1e-2f;
    if (type == NN_OPTIM_ADAMW) c.weight_decay = 1e-2f;
    return c;
}

/* One optimised tensor and its state. */
typedef struct {
    nn_tensor *param;
    int64_t steps;         /* updates this parameter has received */
    nn_tensor *momentum;   /* SGD with momentum != 0 */
    nn_tensor *exp_avg;    /* Adam/AdamW: m */
    nn_tensor *exp_avg_sq; /* Adam/AdamW: v */
} optim_slot;

/* A state tensor as seen by nn_optim_state. */
typedef struct {
    nn_tensor *tensor;
    char name[48];
} optim_state_entry;

struct nn_optim {
    nn_optim_config cfg;
    int64_t steps; /* nn_optim_step calls */
    int n_params;
    optim_slot *slots;
    int n_states;
    optim_state_entry *states;
};

/* PyTorch's own argument checks (it raises ValueError for the same cases). */
static bool config_valid(const nn_optim_config *c) {
    if (!(c->lr >= 0.0f) || !(c->weight_decay >= 0.0f)) return false;
    switch (c->type) {
    case NN_OPTIM_SGD:
        if (!(c->momentum >= 0.0f) || !isfinite(c->dampening)) return false;
        if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f)) return false;
        return true;
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW:
        return c->beta1 >= 0.0f && c->beta1 < 1.0f && c->beta2 >= 0.0f && c->beta2 < 1.0f &&
               c->eps >= 0.0f;
    }
    return false;
}

static nn_tensor *new_state(nn_optim *o, const nn_tensor *like, int param, const char *what) {
    nn_tensor *t = nn_tensor_new(like->ndim, like->shape);
    if (!t) return NULL;
    optim_state_entry *e = &o->states[o->n_states++];
    e->tensor = t;
    snprintf(e->name, sizeof e->name, "optim.%d.%s", param, what);
    return t;
}

nn_optim *nn_optim_create(const nn_optim_config *cfg, int n, nn_tensor *const *params) {
    if (!cfg || !config_valid(cfg) || n < 0 || (n > 0 && !params)) return NULL;
    for (int i = 0; i < n; i++)
        if (!params[i] || !params[i]->data) return NULL;

    nn_optim *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->cfg = *cfg;
    o->n_params = n;
    int states_per_param = cfg->type == NN_OPTIM_SGD ? (cfg->momentum != 0.0f ? 1 : 0) : 2;
    o->slots = calloc((size_t)n + 1, sizeof *o->slots);
    o->states = calloc((size_t)n * (size_t)states_per_param + 1, sizeof *o->states);
    if (!o->slots || !o->states) {
        nn_optim_free(o);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        optim_slot *s = &o->slots[i];
        s->param = params[i];
        bool ok = true;
        if (cfg->type == NN_OPTIM_SGD) {
            if (states_per_param == 1)
                ok = (s->momentum = new_state(o, params[i], i, "momentum")) != NULL;
        } else {
            ok = (s->exp_avg = new_state(o, params[i], i, "exp_avg")) != NULL &&
                 (s->exp_avg_sq = new_state(o, params[i], i, "exp_avg_sq")) != NULL;
        }
        if (!ok) {
            nn_optim_free(o);
            return NULL;
        }
    }
    return o;
}

void nn_optim_free(nn_optim *o) {
    if (!o) return;
    if (o->states)
        for (int i = 0; i < o->n_states; i++) nn_tensor_free(o->states[i].tensor);
    free(o->states);
    free(o->slots);
    free(o);
}

static void sgd_update(const nn_optim_config *c, optim_slot *s, float lr) {
    nn_tensor *p = s->param;
    float *w = p->data;
    const float *g = p->grad;
    float *buf = s->momentum ? s->momentum->data : NULL;
    const float wd = c->weight_decay, mom = c->momentum;
    const float one_minus_damp = (float)(1.0 - (double)c->dampening);
    const bool first = s->steps == 0;
    for (size_t k = 0; k < p->numel; k++) {
        float d = g[k];
        if (wd != 0.0f) d = d + wd * w[k];
        if (buf) {
            buf[k] = first ? d : buf[k] * mom + one_minus_damp * d;
            d = c->nesterov ? d + mom * buf[k] : buf[k];
        }
        w[k] = w[k] + (-lr) * d;
    }
}

static void adam_update(const nn_optim_config *c, optim_slot *s, float lr) {
    nn_tensor *p = s->param;
    float *w = p->data;
    const float *g = p->grad;
    float *m = s->exp_avg->data, *v = s->exp_avg_sq->data;
    const bool decoupled = c->type == NN_OPTIM_ADAMW;
    const float wd = c->weight_decay;
    /* Python-side scalars, in double as PyTorch computes them. */
    const double beta1 = c->beta1, beta2 = c->beta2, t = (double)s->steps;
    const double bias_correction1 = 1.0 - pow(beta1, t);
    const double bias_correction2 = 1.0 - pow(beta2, t);
    const float neg_step_size = (float)(-((double)lr / bias_correction1));
    const float bc2_sqrt = (float)sqrt(bias_correction2);
    const float one_minus_b1 = (float)(1.0 - beta1), one_minus_b2 = (float)(1.0 - beta2);
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    const float decay = (float)(1.0 - (double)lr * (double)wd);

    for (size_t k = 0; k < p->numel; k++) {
        float gk = g[k];
        if (decoupled) w[k] = w[k] * decay;
        else if (wd != 0.0f) gk = gk + wd * w[k];
        m[k] = m[k] * b1 + one_minus_b1 * gk;
        v[k] = v[k] * b2 + one_minus_b2 * gk * gk;
        float denom = sqrtf(v[k]) / bc2_sqrt + eps;
        w[k] = w[k] + neg_step_size * m[k] / denom;
    }
}

void nn_optim_step(nn_optim *o, float lr) {
    if (!o) return;
    for (int i = 0; i < o->n_params; i++) {
        optim_slot *s = &o->slots[i];
        if (!s->param->grad) continue; /* no gradient: PyTorch skips it too */
        if (o->cfg.type == NN_OPTIM_SGD) {
            sgd_update(&o->cfg, s, lr);
            s->steps++;
        } else {
            s->steps++; /* Adam counts the step before using it */
            adam_update(&o->cfg, s, lr);
        }
    }
    o->steps++;
}

int64_t nn_optim_steps(const nn_optim *o) { return o ? o->steps : 0; }

/* After restoring state tensors from a checkpoint: every parameter is taken
 * to have been updated `steps` times (so SGD uses the restored momentum
 * buffers and Adam's bias correction continues where it stopped). */
void nn_optim_set_steps(nn_optim *o, int64_t steps) {
    if (!o || steps < 0) return;
    o->steps = steps;
    for (int i = 0; i < o->n_params; i++) o->slots[i].steps = steps;
}

int nn_optim_state_count(const nn_optim *o) { return o ? o->n_states : 0; }

nn_tensor *nn_optim_state(const nn_optim *o, int i, const char **name) {
    if (!o || i < 0 || i >= o->n_states) {
        if (name) *name = NULL;
        return NULL;
    }
    if (name) *name = o->states[i].name;
    return o->states[i].tensor;
}

/* ---------------------------------------------------------------- schedules */

/*
 * lr for optimizer step `step` (0-based), i.e. the value a PyTorch scheduler
 * holds after `step` calls of scheduler.step():
 *   warm-up (step < warmup_steps): LinearLR from warmup_start_factor to 1,
 *       base_lr * (f0 + (1 - f0) * step / warmup_steps);
 *   then, with t = step - warmup_steps (SequentialLR restarts the clock):
 *   constant: base_lr
 *   step:     base_lr * gamma^floor(t / step_size)                 (StepLR)
 *   cosine:   min_lr + (base_lr - min_lr) * (1 + cos(pi * t / T)) / 2,
 *             T = total_steps - warmup_steps             (CosineAnnealingLR)
 *             and min_lr from t >= T on (PyTorch would climb back up).
 */
float nn_lr_at(const nn_lr_schedule *s, int step) {
    if (!s) return 0.0f;
    if (step < 0) step = 0;
    const double base = s->base_lr;
    if (s->warmup_steps > 0 && step < s->warmup_steps) {
        double f0 = s->warmup_start_factor;
        return (float)(base * (f0 + (1.0 - f0) * step / s->warmup_steps));
    }
    int t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    switch (s->kind) {
    case NN_LR_CONSTANT: return (float)base;
    case NN_LR_STEP:
        if (s->step_size <= 0) return (float)base;
        return (float)(base * pow((double)s->gamma, (double)(t / s->step_size)));
    case NN_LR_COSINE: {
        int period = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
        if (period <= 0 || t >= period) return s->min_lr;
        const double pi = 3.14159265358979323846;
        return (float)(s->min_lr + (base - s->min_lr) * (1.0 + cos(pi * t / period)) / 2.0);
    }
    }
    return (float)base;
}
