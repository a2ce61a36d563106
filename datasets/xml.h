/*
 * xml.h - a small XML reader for the subset annotation files use (Pascal VOC).
 *
 * Reads elements and their text into a tree. Attributes are parsed and
 * skipped, as are comments, processing instructions (<?xml ...?>) and
 * <!DOCTYPE ...>. CDATA sections become text. Entities &amp; &lt; &gt; &quot;
 * &apos; and numeric &#NN; / &#xHH; are decoded. No namespaces, no DTDs.
 * Every node remembers the line it starts on so callers can name it in errors.
 */
#ifndef DATASETS_XML_H
#define DATASETS_XML_H

#include <stddef.h>

#include "nn.h"

/* Refused before parsing: deeper nesting than this, or bigger documents;
 * refused while parsing: more elements than XML_MAX_NODES (a VOC file has
 * tens; this bounds the tree's memory at ~10 MB). */
#define XML_MAX_DEPTH 64
#define XML_MAX_BYTES ((size_t)16 << 20)
#define XML_MAX_NODES 100000

typedef struct xml_node {
    char *name; /* element name */
    char *text; /* the element's own text (children's text excluded), decoded, trimmed */
    int line;   /* 1-based line of the start tag */
    struct xml_node *first_child, *next_sibling;
} xml_node;

/* Parses text[0..len). source names the input in error messages ("file:line: ..."). */
nn_status xml_parse(const char *text, size_t len, const char *source, xml_node **root,
                    nn_error *err);
/* Reads and parses a whole file. */
nn_status xml_parse_file(const char *path, xml_node **root, nn_error *err);
void xml_free(xml_node *root);

/* The first child of parent named name, or NULL. */
const xml_node *xml_child(const xml_node *parent, const char *name);
/* The next sibling after node with the same name, or NULL. */
const xml_node *xml_next_same(const xml_node *node);

#endif
