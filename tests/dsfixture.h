/*
 * dsfixture.h - small on-disk data sets for the datasets tests, written by the
 * tests themselves into a fresh temporary folder.
 */
#ifndef TESTS_DSFIXTURE_H
#define TESTS_DSFIXTURE_H

#include <stddef.h>

/* A new empty folder under $TMPDIR (or /tmp); the path is static per call site
 * buffer given by the caller. Aborts the test on failure. */
void dsf_make_tempdir(char *path, size_t path_len);
/* rm -rf path. */
void dsf_remove_tree(const char *path);
/* Writes bytes to root/rel, creating folders on the way. */
void dsf_write(const char *root, const char *rel, const void *bytes, size_t len);
void dsf_write_text(const char *root, const char *rel, const char *text);
/* Header-only images: enough for the header size reader, not for decoding. */
void dsf_write_png_header(const char *root, const char *rel, int width, int height);
void dsf_write_jpeg_header(const char *root, const char *rel, int width, int height);
/* A decodable 16x16 PNG "face" at path: seeded noise, with a bright lower
 * half when masked (a pattern a tiny classifier learns in a few epochs). */
void dsf_write_fake_face(const char *path, int masked, unsigned seed);
/* root/faces/{with_mask,without_mask}/NN.png, n fake faces per class. */
void dsf_write_face_folders(const char *root, int n);
/* root/data/{images,annotations}: eight 64x48 VOC photos (PNG), each with
 * one bright square "face" of 12-21 px, labelled with_mask / without_mask
 * in turn: a detection set small enough to train on in a second. */
void dsf_write_voc_photos(const char *root);
/* 1 if root/rel exists as a file. */
int dsf_exists(const char *root, const char *rel);

#endif
