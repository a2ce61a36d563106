/*
 * cmd_train_detector.c - `maskdet train-detector`: trains the face SSD
 * (vision/face_ssd.h) on a VOC or Kaggle-JSON folder with the MultiBox loss
 * (vision/multibox.h) and SSD augmentation (vision/ssd_augment.h).
 *
 * Photos are split by a hash of their file stem (det_split_is_val), so `maskdet
 * eval` with the same --seed/--val-fraction evaluates the same held-out photos.
 * Every epoch ends with a checkpoint (OUT/last.ckpt.nnw: weights, optimizer
 * state, epoch, history, config), so --resume continues exactly; every
 * --eval-every epochs the validation AP is measured and the best model is
 * written as OUT/best.nnw (a ready model file). OUT/log.csv and
 * OUT/curves.png follow the run.
 *
 * Randomness: each training sample's augmentation is seeded from (seed, epoch,
 * position in the epoch), the epoch's photo order from (seed, epoch), so a
 * resumed run draws the same samples as an uninterrupted one.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "det_data.h"
#include "face_ssd.h"
#include "multibox.h"
#include "ssd_augment.h"
#include "train_common.h"
#include "transform.h"

typedef struct {
    const char *data, *out, *resume, *export_path;
    bool per_class; /* background, mask, no_mask instead of background, face */
    int epochs, batch, size, eval_every, limit, threads, warmup, stop_after;
    float lr, weight_decay, val_fraction, min_face_px, input_scale, match_iou;
    float threshold; /* the exported model's default face score */
    int input_long_side;
    int match_min; /* S3FD's scale compensation: priors per face at least (0: off) */
    bool keep_aspect; /* training crops never stretched (ssd_augment_config.keep_aspect) */
    bool epochs_given; /* --epochs on the command line (a resumed run may raise it) */
    uint64_t seed;
    face_ssd_spec spec;
} train_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: maskdet train-detector --data PATH [options]\n"
            "Trains the face SSD detector on a VOC or Kaggle-JSON folder.\n"
            "  --data PATH          annotated photos (annotations/ + images/)\n"
            "  --out DIR            run folder: checkpoints, best.nnw, log.csv, curves.png\n"
            "                       (default runs/face_ssd)\n"
            "  --classes face|mask  one face class (default) or mask/no_mask\n"
            "  --epochs N           (default 120)      --batch N     (default 16)\n"
            "  --size PX            training input side (default 320)\n"
            "  --lr X               AdamW peak learning rate (default 0.002), cosine decay\n"
            "  --weight-decay X     AdamW decoupled weight decay (default 0.0005)\n"
            "  --warmup N           warm-up steps (default 300)\n"
            "  --val-fraction X     photos held out (default 0.15)   --seed N (default 1)\n"
            "  --eval-every N       validation AP every N epochs (default 5; 0: only at the end)\n"
            "  --min-face PX        faces under this (longer side) after augmentation are\n"
            "                       ignored by the loss (default 4)\n"
            "  --match-iou X        a prior is a positive for a face it overlaps by IoU >= X,\n"
            "                       besides each face's best prior (default 0.5)\n"
            "  --match-min N        a face matched to fewer priors also takes its best\n"
            "                       others of IoU >= 0.1, up to N (S3FD's scale\n"
            "                       compensation for tiny faces; default 0: off)\n"
            "  --keep-aspect        training crops keep the photo's proportions (padded\n"
            "                       rather than stretched to a square), as the detector\n"
            "                       sees photos when it runs (default: stretched, as SSD)\n"
            "  --widths a,b,c,d,e,f network channels (default 16,32,48,96,160,160)\n"
            "  --maps N             feature maps, strides 4..4*2^(N-1) (default 5)\n"
            "  --top-down N         the first N maps also get the next map's features,\n"
            "                       upsampled (a feature-pyramid path; default 0)\n"
            "  --sizes S            prior sizes in input px per map, maps separated by ';'\n"
            "                       (default 8,10,13;16,20,25;32,40,50;64,80,100;128,180,256;\n"
            "                       sets the number of maps)\n"
            "  --limit N            use at most N photos (tests)\n"
            "  --threads N          worker threads (default: NN_THREADS or all cores)\n"
            "  --resume             continue from OUT/last.ckpt.nnw (its config wins)\n"
            "  --stop-after N       stop after N epochs of this invocation (resume later)\n"
            "  --export PATH        also write the best model (fp16) there at the end\n"
            "  --input-scale X      the model runs at image size x X (validation and export;\n"
            "                       default 1). With --resume on a finished run: re-export\n"
            "  --input-long-side N  ... or with the longer side resized to N px (0: off)\n"
            "  --threshold X        the exported model's default face score threshold\n"
            "                       (default 0.5; pick it from `maskdet eval --threshold`)\n");
}

static bool parse_int_list(const char *s, int *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 4096) return false;
        out[i] = (int)v;
        s = end;
        if (i + 1 < n) {
            if (*s != ',') return false;
            s++;
        }
    }
    return *s == '\0';
}

/* ---------------------------------------------------------------- config */

static nn_status config_to_meta(const train_opts *o, nn_weights *w, nn_error *err) {
    char buf[128];
    struct {
        const char *k;
        double v;
    } nums[] = {{"config.epochs", o->epochs},       {"config.batch", o->batch},
                {"config.size", o->size},           {"config.eval_every", o->eval_every},
                {"config.limit", o->limit},         {"config.warmup", o->warmup},
                {"config.lr", o->lr},               {"config.weight_decay", o->weight_decay},
                {"config.val_fraction", o->val_fraction},
                {"config.min_face", o->min_face_px}, {"config.maps", o->spec.n_maps},
                {"config.per_class", o->per_class}, {"config.match_iou", o->match_iou},
                {"config.top_down", o->spec.top_down}, {"config.match_min", o->match_min},
                {"config.keep_aspect", o->keep_aspect}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(buf, sizeof buf, "%.9g", nums[i].v);
        if (nn_weights_set_meta(w, nums[i].k, buf, err) != NN_OK) return err->code;
    }
    snprintf(buf, sizeof buf, "%d,%d,%d,%d,%d,%d", o->spec.widths[0], o->spec.widths[1],
             o->spec.widths[2], o->spec.widths[3], o->spec.widths[4], o->spec.widths[5]);
    if (nn_weights_set_meta(w, "config.widths", buf, err) != NN_OK) return err->code;
    face_ssd_format_sizes(&o->spec, buf, sizeof buf);
    if (nn_weights_set_meta(w, "config.sizes", buf, err) != NN_OK) return err->code;
    if (nn_weights_set_meta(w, "config.data", o->data, err) != NN_OK) return err->code;
    return NN_OK;
}

static double meta_num(const nn_weights *w, const char *key, double fallback) {
    const char *v = nn_weights_meta(w, key);
    return v ? strtod(v, NULL) : fallback;
}

/* A resumed run takes its configuration from the checkpoint (the epoch count
 * may be raised on the command line). */
static nn_status config_from_meta(const nn_weights *w, train_opts *o, nn_error *err) {
    int epochs_cli = o->epochs;
    o->epochs = (int)meta_num(w, "config.epochs", o->epochs);
    if (o->epochs_given && epochs_cli > o->epochs) o->epochs = epochs_cli;
    o->batch = (int)meta_num(w, "config.batch", o->batch);
    o->size = (int)meta_num(w, "config.size", o->size);
    o->eval_every = (int)meta_num(w, "config.eval_every", o->eval_every);
    o->limit = (int)meta_num(w, "config.limit", o->limit);
    o->warmup = (int)meta_num(w, "config.warmup", o->warmup);
    o->lr = (float)meta_num(w, "config.lr", o->lr);
    o->weight_decay = (float)meta_num(w, "config.weight_decay", o->weight_decay);
    o->val_fraction = (float)meta_num(w, "config.val_fraction", o->val_fraction);
    o->min_face_px = (float)meta_num(w, "config.min_face", o->min_face_px);
    o->match_iou = (float)meta_num(w, "config.match_iou", 0.5); /* older runs: 0.5 */
    o->spec.n_maps = (int)meta_num(w, "config.maps", o->spec.n_maps);
    o->spec.top_down = (int)meta_num(w, "config.top_down", 0); /* older runs: none */
    o->match_min = (int)meta_num(w, "config.match_min", 0);
    o->keep_aspect = meta_num(w, "config.keep_aspect", 0) != 0;
    o->per_class = meta_num(w, "config.per_class", o->per_class) != 0;
    /* The seed decides the split, the photo order and every augmentation: a
     * resume under another seed would silently train on other data. */
    const char *seed = nn_weights_meta(w, "train.seed");
    char *end;
    if (seed) o->seed = strtoull(seed, &end, 10);
    if (seed && (end == seed || *end))
        return nn_error_set(err, NN_ERR_FORMAT, "checkpoint: bad train.seed \"%s\"", seed);
    const char *sizes = nn_weights_meta(w, "config.sizes");
    if (sizes && face_ssd_parse_sizes(sizes, &o->spec, err) != NN_OK) return err->code;
    const char *widths = nn_weights_meta(w, "config.widths");
    if (widths && !parse_int_list(widths, o->spec.widths, 6))
        return nn_error_set(err, NN_ERR_FORMAT, "checkpoint: bad config.widths \"%s\"", widths);
    return NN_OK;
}

/* ---------------------------------------------------------------- batches */

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e5ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fisher-Yates with a generator seeded by (seed, epoch). */
static void epoch_order(int *order, int n, uint64_t seed, int epoch) {
    transform_rng rng;
    transform_rng_seed(&rng, train_epoch_seed(seed, epoch));
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = transform_rng_int(&rng, 0, i);
        int t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

typedef struct {
    multibox_gt *gt;   /* batch x max_boxes */
    multibox_image *images;
    ssd_aug_box *aug;  /* scratch for one photo */
    int max_boxes;
} batch_boxes;

/* Fills x [B, 3, S, S] and the ground truth of the batch of photos order[first..]. */
static nn_status make_batch(const det_photos *train, const int *order, int first,
                            const train_opts *o, int epoch, nn_tensor *x, batch_boxes *bb,
                            nn_error *err) {
    ssd_augment_config ac = ssd_augment_default(o->size, o->size);
    ac.min_face_px = o->min_face_px;
    ac.keep_aspect = o->keep_aspect;
    const float mean[3] = {127.5f, 127.5f, 127.5f}, scale[3] = {1 / 127.5f, 1 / 127.5f, 1 / 127.5f};
    size_t plane = (size_t)3 * o->size * o->size;
    for (int b = 0; b < o->batch; b++) {
        int pos = first + b;
        const det_photo *ph = &train->photos[order[pos]];
        transform_rng rng;
        transform_rng_seed(&rng, mix(mix(o->seed, (uint64_t)epoch), (uint64_t)pos));
        image out;
        int n_out;
        nn_status st = ssd_augment(&ph->img, ph->boxes, ph->n_boxes, &ac, &rng, &out, bb->aug,
                                   &n_out, err);
        if (st != NN_OK) return st;
        image_to_chw(&out, mean, scale, false, x->data + (size_t)b * plane);
        image_free(&out);
        multibox_gt *gt = bb->gt + (size_t)b * bb->max_boxes;
        int n = n_out < bb->max_boxes ? n_out : bb->max_boxes;
        for (int i = 0; i < n; i++) {
            const ssd_aug_box *a = &bb->aug[i];
            gt[i] = (multibox_gt){{a->x1 / o->size, a->y1 / o->size, a->x2 / o->size,
                                   a->y2 / o->size},
                                  o->per_class ? a->label : 1,
                                  a->ignore};
        }
        bb->images[b] = (multibox_image){gt, n};
    }
    return NN_OK;
}

/* ---------------------------------------------------------------- validation */

static nn_status detect_adapter(void *user, const image *img, det_pred *out, int max_out, int *n,
                                nn_error *err) {
    face_ssd *f = user;
    ssd_detection dets[DET_MAX_DETECTIONS];
    int nd = 0;
    if (max_out > DET_MAX_DETECTIONS) max_out = DET_MAX_DETECTIONS;
    nn_status st = face_ssd_detect(f, img, 0.01f, -1.0f, dets, max_out, &nd, err);
    for (int i = 0; i < nd; i++)
        out[i] = (det_pred){dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2, dets[i].label,
                            dets[i].score};
    *n = st == NN_OK ? nd : 0;
    return st;
}

static nn_status save_model(const face_ssd *f, const char *path, nn_dtype dtype, nn_error *err) {
    nn_weights *w = nn_weights_create();
    if (!w) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    nn_status st = face_ssd_to_weights(f, w, dtype, err);
    if (st == NN_OK) st = nn_weights_save(w, path, err);
    nn_weights_free(w);
    return st;
}

/* ---------------------------------------------------------------- main */

enum { S_LOSS, S_LOC, S_CONF, S_LR, S_AP, S_AP_S, S_AP_M, S_AP_L, S_COUNT };
static const char *const SERIES[S_COUNT] = {"loss",   "loc_loss",     "conf_loss",     "lr",
                                            "val_ap", "val_ap_small", "val_ap_medium", "val_ap_large"};

static int run(train_opts *o) {
    nn_error err = {0};
    int rc = 1;
    char path[1024], ckpt_path[1024];
    det_photos train = {0}, val = {0};
    face_ssd net = {0};
    nn_optim *opt = NULL;
    nn_ctx *ctx = NULL;
    nn_tensor *x = NULL;
    ssd_priors priors;
    ssd_priors_init(&priors);
    train_history hist = {0};
    bool hist_ok = false;
    nn_weights *ckpt = NULL, *config = NULL;
    batch_boxes bb = {0};
    int *order = NULL;

    if (mkdir(o->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "train-detector: cannot create %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    snprintf(ckpt_path, sizeof ckpt_path, "%s/last.ckpt.nnw", o->out);
    if (o->resume) {
        if (train_checkpoint_load(ckpt_path, &ckpt, &err) != NN_OK ||
            config_from_meta(ckpt, o, &err) != NN_OK)
            goto fail;
        fprintf(stderr, "train-detector: resuming from %s\n", ckpt_path);
    }
    if (o->threads > 0) nn_threads_set(o->threads);

    fprintf(stderr, "train-detector: loading %s\n", o->data);
    if (det_data_load(o->data, DET_SPLIT_TRAIN, o->seed, o->val_fraction, o->limit, &train, &err) !=
            NN_OK ||
        det_data_load(o->data, DET_SPLIT_VAL, o->seed, o->val_fraction, o->limit, &val, &err) !=
            NN_OK)
        goto fail;
    if (train.n < o->batch) {
        nn_error_set(&err, NN_ERR_ARG, "%d training photos, fewer than a batch of %d", train.n,
                     o->batch);
        goto fail;
    }
    fprintf(stderr, "train-detector: %d training photos (%d faces), %d validation (%d faces)\n",
            train.n, train.n_faces, val.n, val.n_faces);

    static const char *const face_names[] = {"background", "face"};
    static const char *const mask_names[] = {"background", "mask", "no_mask"};
    int num_classes = o->per_class ? 3 : 2;
    if (face_ssd_build(&o->spec, num_classes, o->per_class ? mask_names : face_names, &net, &err) !=
        NN_OK)
        goto fail;
    net.input_scale = o->input_scale;
    net.input_long_side = o->input_long_side;
    nn_model_init(net.model, o->seed);
    /* Heads start small (as SSD's Xavier-initialised heads), so the first
     * losses are not dominated by confident random class scores. */
    for (int i = 0; i < nn_model_param_count(net.model); i++) {
        nn_param p = nn_model_param(net.model, i);
        if ((!strncmp(p.name, "loc", 3) || !strncmp(p.name, "conf", 4)) && strstr(p.name, ".weight"))
            for (size_t k = 0; k < p.tensor->numel; k++) p.tensor->data[k] *= 0.1f;
    }
    fprintf(stderr, "train-detector: %zu parameters, %.2f GFLOP at 640x480, %.2f at %dx%d\n",
            nn_model_trainable_numel(net.model), face_ssd_flops(&net, 640, 480) / 1e9,
            face_ssd_flops(&net, o->size, o->size) / 1e9, o->size, o->size);
    if (face_ssd_priors(&o->spec, o->size, o->size, &priors, &err) != NN_OK) goto fail;

    nn_optim_config oc = nn_optim_default(NN_OPTIM_ADAMW);
    oc.lr = o->lr;
    oc.weight_decay = o->weight_decay;
    opt = nn_optim_create_for_model(&oc, net.model);
    ctx = nn_ctx_create();
    x = nn_tensor_new4(o->batch, 3, o->size, o->size);
    int max_faces = 1;
    for (int i = 0; i < train.n; i++)
        max_faces = train.photos[i].n_boxes > max_faces ? train.photos[i].n_boxes : max_faces;
    bb.max_boxes = max_faces < MULTIBOX_MAX_GT ? max_faces : MULTIBOX_MAX_GT;
    bb.gt = malloc((size_t)o->batch * bb.max_boxes * sizeof *bb.gt);
    bb.images = malloc((size_t)o->batch * sizeof *bb.images);
    bb.aug = malloc((size_t)max_faces * sizeof *bb.aug);
    order = malloc((size_t)train.n * sizeof *order);
    config = nn_weights_create();
    if (!opt || !ctx || !x || !bb.gt || !bb.images || !bb.aug || !order || !config) {
        nn_error_set(&err, NN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (config_to_meta(o, config, &err) != NN_OK) goto fail;

    train_state state = train_state_initial(o->seed);
    if (ckpt) {
        if (train_checkpoint_restore(ckpt, net.model, opt, &state, &hist, &err) != NN_OK) goto fail;
        hist_ok = true;
        nn_weights_free(ckpt);
        ckpt = NULL;
    } else {
        if (train_history_init(&hist, S_COUNT, SERIES, &err) != NN_OK) goto fail;
        hist_ok = true;
    }

    int steps_per_epoch = train.n / o->batch;
    nn_lr_schedule sched = {.kind = NN_LR_COSINE,
                            .base_lr = o->lr,
                            .warmup_steps = o->warmup,
                            .warmup_start_factor = 0.01f,
                            .total_steps = o->epochs * steps_per_epoch,
                            .min_lr = o->lr * 0.01f};
    multibox_config mc = multibox_default_config(num_classes);
    mc.overlap_threshold = o->match_iou;
    mc.min_matches = o->match_min;
    bool tty = isatty(fileno(stderr));

    int stop_at = o->stop_after > 0 ? state.epoch + o->stop_after : o->epochs;
    for (int epoch = state.epoch; epoch < o->epochs && epoch < stop_at; epoch++) {
        epoch_order(order, train.n, o->seed, epoch);
        nn_ctx_seed(ctx, train_epoch_seed(o->seed, epoch));
        nn_ctx_set_training(ctx, true);
        nn_ctx_set_grad_enabled(ctx, true);
        char label[64];
        snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o->epochs);
        train_progress prog;
        train_progress_begin(&prog, stderr, tty, label, (size_t)steps_per_epoch);
        double sum[3] = {0, 0, 0};
        float lr = 0.0f;
        for (int s = 0; s < steps_per_epoch; s++) {
            if (make_batch(&train, order, s * o->batch, o, epoch, x, &bb, &err) != NN_OK)
                goto fail;
            int step = epoch * steps_per_epoch + s;
            lr = nn_lr_at(&sched, step);
            nn_ctx_reset(ctx);
            nn_model_zero_grad(net.model);
            nn_model_forward(net.model, ctx, x);
            multibox_stats ms = {0};
            nn_tensor *loss =
                multibox_loss(ctx, nn_model_output(net.model, net.loc_id),
                              nn_model_output(net.model, net.conf_id), &priors, bb.images, &mc, &ms);
            if (!loss || nn_backward(ctx, loss) != NN_OK) {
                nn_error_set(&err, nn_ctx_status(ctx), "step %d: %s", step, nn_ctx_error(ctx));
                goto fail;
            }
            if (!isfinite(ms.loss)) {
                nn_error_set(&err, NN_ERR_STATE, "step %d: the loss is not finite", step);
                goto fail;
            }
            nn_optim_step(opt, lr);
            sum[0] += ms.loss, sum[1] += ms.loc_loss, sum[2] += ms.conf_loss;
            train_metric m[3] = {{"loss", sum[0] / (s + 1)},
                                 {"loc", sum[1] / (s + 1)},
                                 {"conf", sum[2] / (s + 1)}};
            train_progress_update(&prog, (size_t)s + 1, (size_t)(s + 1) * o->batch, 3, m);
        }
        train_metric m[3] = {{"loss", sum[0] / steps_per_epoch},
                             {"loc", sum[1] / steps_per_epoch},
                             {"conf", sum[2] / steps_per_epoch}};
        train_progress_end(&prog, (size_t)steps_per_epoch * o->batch, 3, m);

        double row[S_COUNT] = {sum[0] / steps_per_epoch, sum[1] / steps_per_epoch,
                               sum[2] / steps_per_epoch, lr, NAN, NAN, NAN, NAN};
        bool last = epoch + 1 == o->epochs;
        if (val.n > 0 && (last || (o->eval_every > 0 && (epoch + 1) % o->eval_every == 0))) {
            det_eval_summary es;
            if (det_data_evaluate(&val, detect_adapter, &net, 0.5f, 0, &es, &err) != NN_OK)
                goto fail;
            row[S_AP] = es.face.ap;
            for (int r = 0; r < DET_N_SIZE_RANGES; r++) row[S_AP_S + r] = es.by_size[r].ap;
            fprintf(stderr,
                    "epoch %d: val face AP@0.5 %.4f (small %.4f, medium %.4f, large %.4f), "
                    "%.1f ms/photo\n",
                    epoch + 1, es.face.ap, es.by_size[0].ap, es.by_size[1].ap, es.by_size[2].ap,
                    es.detect_ms);
            det_eval_summary_free(&es);
            if (train_state_improved(&state, row[S_AP], epoch + 1)) {
                snprintf(path, sizeof path, "%s/best.nnw", o->out);
                if (save_model(&net, path, NN_DTYPE_F32, &err) != NN_OK) goto fail;
                fprintf(stderr, "epoch %d: best so far, wrote %s\n", epoch + 1, path);
            }
        }
        state.epoch = epoch + 1;
        if (train_history_add(&hist, row, &err) != NN_OK ||
            train_checkpoint_save(ckpt_path, net.model, opt, &state, &hist, config, &err) != NN_OK)
            goto fail;
        snprintf(path, sizeof path, "%s/log.csv", o->out);
        if (train_history_write_csv(&hist, path, &err) != NN_OK) goto fail;
        snprintf(path, sizeof path, "%s/curves.png", o->out);
        if (train_history_plot_png(&hist, path, "face SSD training",
                                   "loss,loc_loss,conf_loss;val_ap,val_ap_small,val_ap_medium,"
                                   "val_ap_large",
                                   &err) != NN_OK)
            goto fail;
    }
    if (state.epoch < o->epochs) {
        fprintf(stderr, "train-detector: stopped after epoch %d of %d; continue with --resume\n",
                state.epoch, o->epochs);
    } else if (o->export_path) {
        face_ssd best = {0};
        snprintf(path, sizeof path, "%s/best.nnw", o->out);
        nn_status st = face_ssd_load(path, &best, &err);
        face_ssd_free(&best);
        if (st != NN_OK) goto fail;
        nn_weights *w = NULL;
        if (nn_weights_load(path, &w, &err) != NN_OK) goto fail;
        /* re-store every tensor as fp16 with the same metadata */
        nn_weights *half = nn_weights_create();
        st = half ? NN_OK : nn_error_set(&err, NN_ERR_NOMEM, "out of memory");
        for (int i = 0; st == NN_OK && i < nn_weights_count(w); i++)
            st = nn_weights_add(half, nn_weights_name(w, i), nn_weights_tensor(w, i), NN_DTYPE_F16,
                                &err);
        for (int i = 0; st == NN_OK && i < nn_weights_meta_count(w); i++) {
            const char *k = nn_weights_meta_key(w, i);
            st = nn_weights_set_meta(half, k, nn_weights_meta(w, k), &err);
        }
        char scale[32];
        snprintf(scale, sizeof scale, "%g", (double)o->input_scale);
        if (st == NN_OK) st = nn_weights_set_meta(half, "face_ssd.input_scale", scale, &err);
        snprintf(scale, sizeof scale, "%d", o->input_long_side);
        if (st == NN_OK) st = nn_weights_set_meta(half, "face_ssd.input_long_side", scale, &err);
        snprintf(scale, sizeof scale, "%g", (double)o->threshold);
        if (st == NN_OK) st = nn_weights_set_meta(half, "ssd.threshold", scale, &err);
        if (st == NN_OK) st = nn_weights_save(half, o->export_path, &err);
        nn_weights_free(half);
        nn_weights_free(w);
        if (st != NN_OK) goto fail;
        fprintf(stderr, "train-detector: wrote %s\n", o->export_path);
    }
    fprintf(stderr, "train-detector: done; best val face AP@0.5 %.4f at epoch %d\n",
            state.best_metric, state.best_epoch);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "train-detector: %s\n", err.msg[0] ? err.msg : "failed");
done:
    det_data_free(&train);
    det_data_free(&val);
    face_ssd_free(&net);
    nn_optim_free(opt);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    ssd_priors_free(&priors);
    if (hist_ok) train_history_free(&hist);
    nn_weights_free(ckpt);
    nn_weights_free(config);
    free(bb.gt), free(bb.images), free(bb.aug), free(order);
    return rc;
}

int cmd_train_detector(int argc, char **argv) {
    train_opts o = {.out = "runs/face_ssd",
                    .epochs = 120,
                    .batch = 16,
                    .size = 320,
                    .eval_every = 5,
                    .warmup = 300,
                    .lr = 0.002f,
                    .weight_decay = 0.0005f,
                    .val_fraction = 0.15f,
                    .min_face_px = 4.0f,
                    .input_scale = 1.0f,
                    .match_iou = 0.5f,
                    .threshold = 0.5f,
                    .seed = 1,
                    .spec = face_ssd_default_spec()};
    static const struct option longs[] = {
        {"data", required_argument, 0, 'd'},     {"out", required_argument, 0, 'o'},
        {"classes", required_argument, 0, 'c'},  {"epochs", required_argument, 0, 'e'},
        {"batch", required_argument, 0, 'b'},    {"size", required_argument, 0, 's'},
        {"lr", required_argument, 0, 'l'},       {"weight-decay", required_argument, 0, 'w'},
        {"warmup", required_argument, 0, 'W'},   {"val-fraction", required_argument, 0, 'v'},
        {"seed", required_argument, 0, 'S'},     {"eval-every", required_argument, 0, 'E'},
        {"min-face", required_argument, 0, 'm'}, {"widths", required_argument, 0, 'x'},
        {"sizes", required_argument, 0, 'z'},
        {"maps", required_argument, 0, 'M'},     {"limit", required_argument, 0, 'L'},
        {"top-down", required_argument, 0, 'D'}, {"match-min", required_argument, 0, 'N'},
        {"keep-aspect", no_argument, 0, 'K'},
        {"threads", required_argument, 0, 't'},  {"resume", no_argument, 0, 'r'},
        {"export", required_argument, 0, 'X'},   {"stop-after", required_argument, 0, 'A'},
        {"input-scale", required_argument, 0, 'I'},
        {"input-long-side", required_argument, 0, 'G'},
        {"match-iou", required_argument, 0, 'P'},
        {"threshold", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        bool bad = false;
        switch (c) {
        case 'd': o.data = optarg; break;
        case 'o': o.out = optarg; break;
        case 'c':
            if (!strcmp(optarg, "face")) o.per_class = false;
            else if (!strcmp(optarg, "mask")) o.per_class = true;
            else bad = true;
            break;
        case 'e':
            o.epochs = (int)strtol(optarg, &end, 10), bad = *end || o.epochs < 1;
            o.epochs_given = true;
            break;
        case 'b': o.batch = (int)strtol(optarg, &end, 10), bad = *end || o.batch < 1 || o.batch > 1024; break;
        case 's': o.size = (int)strtol(optarg, &end, 10), bad = *end || o.size < 32 || o.size > 2048; break;
        case 'l': o.lr = strtof(optarg, &end), bad = *end || !(o.lr > 0); break;
        case 'w': o.weight_decay = strtof(optarg, &end), bad = *end || !(o.weight_decay >= 0); break;
        case 'W': o.warmup = (int)strtol(optarg, &end, 10), bad = *end || o.warmup < 0; break;
        case 'v':
            o.val_fraction = strtof(optarg, &end);
            bad = *end || !(o.val_fraction >= 0 && o.val_fraction < 1);
            break;
        case 'S': o.seed = strtoull(optarg, &end, 10), bad = *end != '\0'; break;
        case 'E': o.eval_every = (int)strtol(optarg, &end, 10), bad = *end || o.eval_every < 0; break;
        case 'm': o.min_face_px = strtof(optarg, &end), bad = *end || !(o.min_face_px >= 0); break;
        case 'z': {
            nn_error perr = {0};
            bad = face_ssd_parse_sizes(optarg, &o.spec, &perr) != NN_OK;
            break;
        }
        case 'x': bad = !parse_int_list(optarg, o.spec.widths, 6); break;
        case 'M':
            o.spec.n_maps = (int)strtol(optarg, &end, 10);
            bad = *end || o.spec.n_maps < 1 || o.spec.n_maps > FACE_SSD_MAX_MAPS;
            break;
        case 'D':
            o.spec.top_down = (int)strtol(optarg, &end, 10);
            bad = *end || o.spec.top_down < 0 || o.spec.top_down >= FACE_SSD_MAX_MAPS;
            break;
        case 'K': o.keep_aspect = true; break;
        case 'N':
            o.match_min = (int)strtol(optarg, &end, 10);
            bad = *end || o.match_min < 0 || o.match_min > 100;
            break;
        case 'L': o.limit = (int)strtol(optarg, &end, 10), bad = *end || o.limit < 0; break;
        case 't': o.threads = (int)strtol(optarg, &end, 10), bad = *end || o.threads < 1; break;
        case 'r': o.resume = "yes"; break;
        case 'X': o.export_path = optarg; break;
        case 'G':
            o.input_long_side = (int)strtol(optarg, &end, 10);
            bad = *end || o.input_long_side < 0 || o.input_long_side > 8192;
            break;
        case 'I':
            o.input_scale = strtof(optarg, &end);
            bad = *end || !(o.input_scale > 0.05f && o.input_scale <= 8);
            break;
        case 'T':
            o.threshold = strtof(optarg, &end);
            bad = *end || !(o.threshold >= 0 && o.threshold <= 1);
            break;
        case 'P':
            o.match_iou = strtof(optarg, &end);
            bad = *end || !(o.match_iou > 0 && o.match_iou <= 1);
            break;
        case 'A': o.stop_after = (int)strtol(optarg, &end, 10), bad = *end || o.stop_after < 1; break;
        case 'h': usage(stdout); return 0;
        default: bad = true;
        }
        if (bad) {
            fprintf(stderr, "train-detector: bad option %s\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (!o.data || optind < argc) {
        fprintf(stderr, "train-detector: %s\n", o.data ? "unexpected argument" : "--data is required");
        usage(stderr);
        return 2;
    }
    return run(&o);
}
