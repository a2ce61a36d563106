/*
 * bundled.h - where the models shipped in the repository's models/ folder are
 * found at run time: $MASKDET_MODELS/FILE, then ./models/FILE, then
 * models/FILE beside the program's folder (build/maskdet -> models/).
 */
#ifndef APPS_BUNDLED_H
#define APPS_BUNDLED_H

#include <stddef.h>

#define BUNDLED_CLASSIFIER "classifier.nnw"
/* The pipeline's second classifier: the bundled pair is an ensemble (their
 * probabilities are averaged; models/README.md). */
#define BUNDLED_CLASSIFIER_B "classifier_b.nnw"
#define BUNDLED_DETECTOR "face_detector.nnw"

/* Writes the first candidate that exists into path (or ./models/FILE if none does). */
void bundled_model_path(const char *file, char *path, size_t len);

#endif
