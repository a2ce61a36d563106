/*
 * caffe_ssd.c - glue from a parsed Caffe SSD net to vision/ssd.c: the priors
 * of the net's PriorBox layers in the order DetectionOutput sees them, and
 * the DetectionOutput settings as ssd_detect_params.
 */
#include "caffe.h"

#include <string.h>

/* The last layer before `before` whose tops include `blob`, or -1. */
static int producer(const caffe_net *net, const char *blob, int before) {
    for (int i = before - 1; i >= 0; i--)
        for (int k = 0; k < net->layers[i].n_tops; k++)
            if (!strcmp(net->layers[i].tops[k], blob)) return i;
    return -1;
}

static nn_status add_blob_priors(const caffe_net *net, const char *blob, int before, int depth,
                                 ssd_priors *out, nn_error *err) {
    int li = producer(net, blob, before);
    if (li < 0)
        return nn_error_set(err, NN_ERR_NOT_FOUND, "%s: no layer produces prior blob '%s'",
                            net->filename, blob);
    const caffe_layer *L = &net->layers[li];
    if (L->type == CAFFE_LAYER_PRIORBOX) {
        const caffe_shape *f = &L->bottom_shapes[0], *img = &L->bottom_shapes[1];
        nn_status st = ssd_priors_add_caffe(out, &L->prior, f->dim[3], f->dim[2], img->dim[3],
                                            img->dim[2], err);
        if (st && err) {
            char inner[NN_ERROR_MSG_LEN];
            snprintf(inner, sizeof inner, "%s", err->msg);
            nn_error_set(err, st, "layer '%s': %s", L->name, inner);
        }
        return st;
    }
    if (L->type == CAFFE_LAYER_CONCAT && depth < 8) {
        for (int b = 0; b < L->n_bottoms; b++) {
            nn_status st = add_blob_priors(net, L->bottoms[b], li, depth + 1, out, err);
            if (st) return st;
        }
        return NN_OK;
    }
    return nn_error_set(err, NN_ERR_FORMAT,
                        "%s: prior blob '%s' comes from layer '%s' (%s), not PriorBox or Concat",
                        net->filename, blob, L->name, caffe_layer_type_name(L->type));
}

nn_status caffe_net_priors(const caffe_net *net, const char *prior_blob, ssd_priors *out,
                           nn_error *err) {
    if (!net->shapes_known)
        return nn_error_set(err, NN_ERR_STATE, "caffe_net_priors: infer shapes first");
    return add_blob_priors(net, prior_blob, net->n_layers, 0, out, err);
}

ssd_detect_params caffe_detection_params(const caffe_detection_param *d, float image_w,
                                         float image_h) {
    ssd_detect_params p = ssd_detect_default(d->num_classes);
    p.background_label = d->background_label_id;
    p.confidence_threshold = d->confidence_threshold;
    p.nms_threshold = d->nms_threshold;
    p.top_k = d->top_k;
    p.keep_top_k = d->keep_top_k;
    p.code_type = d->code_type;
    p.variance_in_target = d->variance_encoded_in_target;
    p.clip = d->clip;
    p.image_w = image_w;
    p.image_h = image_h;
    return p;
}
