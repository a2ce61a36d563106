/*
 * cls_metrics.c - confusion matrices and the metrics derived from them (see
 * cls_metrics.h).
 */
#include "cls_metrics.h"

#include <stdio.h>
#include <string.h>

void cls_confusion_init(cls_confusion *c, int n_classes) {
    memset(c, 0, sizeof *c);
    c->n_classes = n_classes < 1 ? 1 : n_classes > CLS_MAX_CLASSES ? CLS_MAX_CLASSES : n_classes;
}

int cls_confusion_add(cls_confusion *c, int truth, int predicted) {
    if (truth < 0 || truth >= c->n_classes || predicted < 0 || predicted >= c->n_classes)
        return 0;
    c->confusion[truth][predicted]++;
    return 1;
}

size_t cls_confusion_total(const cls_confusion *c) {
    size_t n = 0;
    for (int t = 0; t < c->n_classes; t++)
        for (int p = 0; p < c->n_classes; p++)
            n += c->confusion[t][p];
    return n;
}

void cls_report_compute(const cls_confusion *c, cls_report *r) {
    memset(r, 0, sizeof *r);
    size_t correct = 0, predicted[CLS_MAX_CLASSES] = {0};
    for (int t = 0; t < c->n_classes; t++)
        for (int p = 0; p < c->n_classes; p++) {
            r->support[t] += c->confusion[t][p];
            predicted[p] += c->confusion[t][p];
            if (t == p) correct += c->confusion[t][p];
            r->n += c->confusion[t][p];
        }
    r->accuracy = r->n ? (double)correct / (double)r->n : 0;
    double recall_sum = 0;
    int present = 0;
    for (int k = 0; k < c->n_classes; k++) {
        double tp = (double)c->confusion[k][k];
        r->precision[k] = predicted[k] ? tp / (double)predicted[k] : 0;
        r->recall[k] = r->support[k] ? tp / (double)r->support[k] : 0;
        double s = r->precision[k] + r->recall[k];
        r->f1[k] = s > 0 ? 2 * r->precision[k] * r->recall[k] / s : 0;
        if (r->support[k]) {
            recall_sum += r->recall[k];
            present++;
        }
    }
    r->balanced_accuracy = present ? recall_sum / present : 0;
}

void cls_size_table_init(cls_size_table *t, int n_classes, int n_edges, const float *edges_px) {
    memset(t, 0, sizeof *t);
    t->n_ranges = n_edges < 1 ? 1 : n_edges > CLS_MAX_SIZE_RANGES ? CLS_MAX_SIZE_RANGES : n_edges;
    for (int i = 0; i < t->n_ranges; i++) {
        t->lo_px[i] = n_edges >= 1 ? edges_px[i] : 0;
        cls_confusion_init(&t->conf[i], n_classes);
    }
}

int cls_size_table_add(cls_size_table *t, float size_px, int truth, int predicted) {
    if (!(size_px >= t->lo_px[0])) return 0;
    int r = 0;
    while (r + 1 < t->n_ranges && size_px >= t->lo_px[r + 1])
        r++;
    return cls_confusion_add(&t->conf[r], truth, predicted);
}

void cls_size_range_name(const cls_size_table *t, int range, char *buf, size_t len) {
    if (range < 0 || range >= t->n_ranges) {
        snprintf(buf, len, "?");
    } else if (range + 1 == t->n_ranges) {
        snprintf(buf, len, ">=%g", t->lo_px[range]);
    } else if (range == 0 && t->lo_px[0] <= 0) {
        snprintf(buf, len, "<%g", t->lo_px[1]);
    } else {
        snprintf(buf, len, "%g-%g", t->lo_px[range], t->lo_px[range + 1]);
    }
}
