/*
 * test_annotations.c - the XML reader, the data-set readers (VOC, JSON, class
 * folders), the class map and the statistics, on small fixtures written into a
 * temp folder, plus the real data sets in shared/ when present.
 * Expected values are counted by hand from the fixtures (or, for shared/, taken
 * from the data sets' README files).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annot.h"
#include "classmap.h"
#include "dsfixture.h"
#include "imgsize.h"
#include "stats.h"
#include "testutil.h"
#include "xml.h"

/* ---------------------------------------------------------------- XML */

START_TEST(xml_subset) {
    const char *doc = "<?xml version=\"1.0\"?>\n"
                      "<!-- a comment <with> tags -->\n"
                      "<!DOCTYPE annotation>\n"
                      "<annotation verified='yes' note=\"a > b\">\n"
                      "  <name>fish &amp; chips &lt;3 &#65;&#x42;</name>\n"
                      "  <empty/>\n"
                      "  <data><![CDATA[1 < 2]]></data>\n"
                      "  <?pi ignored?>\n"
                      "  <name>second</name>\n"
                      "</annotation>\n";
    nn_error err = {0};
    xml_node *root = NULL;
    ck_assert_int_eq(xml_parse(doc, strlen(doc), "t.xml", &root, &err), NN_OK);
    ck_assert_str_eq(root->name, "annotation");
    ck_assert_int_eq(root->line, 4);
    const xml_node *name = xml_child(root, "name");
    ck_assert_str_eq(name->text, "fish & chips <3 AB");
    ck_assert_int_eq(name->line, 5);
    ck_assert_str_eq(xml_next_same(name)->text, "second");
    ck_assert_ptr_null(xml_next_same(xml_next_same(name)));
    ck_assert_str_eq(xml_child(root, "empty")->text, "");
    ck_assert_str_eq(xml_child(root, "data")->text, "1 < 2");
    ck_assert_ptr_null(xml_child(root, "missing"));
    xml_free(root);
}
END_TEST

/* Each malformed document must fail with a message naming the source and line. */
START_TEST(xml_malformed) {
    static const struct {
        const char *doc, *expect;
    } cases[] = {
        {"<a>\n<b>\n</c>\n</a>", "bad.xml:3:"}, /* mismatched end tag */
        {"<a>\n<b>text</b>\n", "bad.xml:3:"},   /* never closed */
        {"<a>\n &nbsp; </a>", "bad.xml:2:"},    /* unknown entity */
        {"<a x=1></a>", "bad.xml:1:"},          /* unquoted attribute */
        {"<a></a><b></b>", "bad.xml:1:"},       /* two roots */
        {"", "bad.xml:1:"},                     /* empty */
        {"<a>\n<!-- open", "bad.xml:2:"},       /* unterminated comment */
        {"<a>\n< b></a>", "bad.xml:2:"},        /* '<' without a name */
        {"<a>&#0;</a>", "bad.xml:1:"},          /* bad character reference */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_error err = {0};
        xml_node *root = (xml_node *)1;
        nn_status st = xml_parse(cases[i].doc, strlen(cases[i].doc), "bad.xml", &root, &err);
        ck_assert_msg(st != NN_OK, "case %zu parsed", i);
        ck_assert_ptr_null(root);
        ck_assert_msg(strstr(err.msg, cases[i].expect) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].expect);
    }
}
END_TEST

START_TEST(xml_depth_limit) {
    size_t depth = XML_MAX_DEPTH + 5;
    char *doc = malloc(depth * 7 + 1);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(doc + n, "<a>");
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(doc + n, "</a>");
    nn_error err = {0};
    xml_node *root = NULL;
    ck_assert_int_eq(xml_parse(doc, n, "deep.xml", &root, &err), NN_ERR_LIMIT);
    free(doc);
}
END_TEST

/* Every truncation and many byte changes of a document: errors, never a crash
 * (this is what the sanitizer build checks). */
START_TEST(xml_damaged_never_crashes) {
    const char *doc = "<?xml version=\"1.0\"?>\n<annotation a=\"1\"><size><width>5</width>"
                      "<!-- c --><height>&amp;&#x41;</height></size><![CDATA[x]]><e/></annotation>";
    size_t len = strlen(doc);
    char *copy = malloc(len);
    for (size_t cut = 0; cut < len; cut++) {
        /* Exactly cut bytes, no terminator: reading on is caught by the sanitizer. */
        char *part = malloc(cut ? cut : 1);
        memcpy(part, doc, cut);
        nn_error err = {0};
        xml_node *root = NULL;
        ck_assert_int_ne(xml_parse(part, cut, "cut.xml", &root, &err), NN_OK);
        ck_assert_ptr_nonnull(strstr(err.msg, "cut.xml:"));
        free(part);
    }
    static const char replacements[] = "<>&;/!?-[]\"'= a\n";
    for (size_t pos = 0; pos < len; pos++)
        for (size_t r = 0; r < sizeof replacements - 1; r++) {
            memcpy(copy, doc, len);
            copy[pos] = replacements[r];
            nn_error err = {0};
            xml_node *root = NULL;
            if (xml_parse(copy, len, "flip.xml", &root, &err) == NN_OK) xml_free(root);
        }
    free(copy);
}
END_TEST

/* ----------------------------------------------------------- image sizes */

START_TEST(image_header_sizes) {
    char dir[512];
    dsf_make_tempdir(dir, sizeof dir);
    dsf_write_png_header(dir, "a.png", 640, 480);
    dsf_write_jpeg_header(dir, "b.JPG", 301, 400);
    dsf_write_text(dir, "c.jpg", "not an image");
    char path[1024];
    int w = 0, h = 0;
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/a.png", dir);
    ck_assert_int_eq(imgsize_read(path, &w, &h, &err), NN_OK);
    ck_assert_int_eq(w, 640);
    ck_assert_int_eq(h, 480);
    snprintf(path, sizeof path, "%s/b.JPG", dir);
    ck_assert_int_eq(imgsize_read(path, &w, &h, &err), NN_OK);
    ck_assert_int_eq(w, 301);
    ck_assert_int_eq(h, 400);
    snprintf(path, sizeof path, "%s/c.jpg", dir);
    ck_assert_int_eq(imgsize_read(path, &w, &h, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "c.jpg"));
    snprintf(path, sizeof path, "%s/none.jpg", dir);
    ck_assert_int_eq(imgsize_read(path, &w, &h, &err), NN_ERR_IO);
    ck_assert(imgsize_is_image_name("x.JPeG"));
    ck_assert(!imgsize_is_image_name("x.txt"));
    ck_assert(!imgsize_is_image_name("jpg"));
    dsf_remove_tree(dir);
}
END_TEST

/* ------------------------------------------------------------------ VOC */

static void write_voc(const char *root, const char *rel, const char *png_name, int w, int h,
                      const char *objects) {
    char doc[4096];
    snprintf(doc, sizeof doc,
             "<annotation>\n"
             "    <folder>images</folder>\n"
             "    <filename>%s</filename>\n"
             "    <size>\n"
             "        <width>%d</width>\n"
             "        <height>%d</height>\n"
             "        <depth>3</depth>\n"
             "    </size>\n"
             "%s"
             "</annotation>\n",
             png_name, w, h, objects);
    dsf_write_text(root, rel, doc);
}

/* An <object> whose <bndbox> starts on its third line. */
#define VOC_OBJECT(name, x1, y1, x2, y2)                                                           \
    "    <object>\n        <name>" name "</name>\n        <bndbox>\n"                              \
    "            <xmin>" #x1 "</xmin>\n            <ymin>" #y1 "</ymin>\n"                         \
    "            <xmax>" #x2 "</xmax>\n            <ymax>" #y2 "</ymax>\n        </bndbox>\n"      \
    "    </object>\n"

/* A small VOC set: a (400x300 JPEG) with a normal box, a box past the right
 * edge (xmax = width + 1) and a zero-width box; b (200x100 PNG) with two faces. */
static void make_voc_set(const char *root) {
    dsf_write_jpeg_header(root, "images/a.jpg", 400, 300);
    dsf_write_png_header(root, "images/b.png", 200, 100);
    dsf_write_text(root, "images/unannotated.jpg", "ignored");
    write_voc(root, "annotations/a.xml", "a.png", 400, 300,
              VOC_OBJECT("with_mask", 10, 20, 50, 60) VOC_OBJECT("without_mask", 380, 0, 401, 30)
                  VOC_OBJECT("with_mask", 7, 7, 7, 19));
    write_voc(root, "annotations/b.xml", "b.png", 200, 100,
              VOC_OBJECT("mask_weared_incorrect", 0, 0, 100, 100)
                  VOC_OBJECT("without_mask", 150.5, 10, 170.5, 22));
}

START_TEST(voc_reads_clamps_and_drops) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    make_voc_set(root);
    annot_format fmt;
    nn_error err = {0};
    ck_assert_int_eq(annot_detect_format(root, &fmt, &err), NN_OK);
    ck_assert_int_eq(fmt, ANNOT_FORMAT_VOC);

    annot_set set;
    ck_assert_msg(annot_load(root, NULL, &set, &err) == NN_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n_items, 2);
    const annot_item *a = &set.items[0], *b = &set.items[1];
    ck_assert_ptr_nonnull(strstr(a->image_path, "images/a.jpg"));
    ck_assert_ptr_nonnull(strstr(b->image_path, "images/b.png"));
    ck_assert_int_eq(a->width_px, 400);
    ck_assert_int_eq(a->height_px, 300);
    ck_assert_int_eq(a->n_boxes, 2); /* the zero-width box is dropped */
    ck_assert_float_eq(a->boxes[0].x1, 10);
    ck_assert_float_eq(a->boxes[0].y2, 60);
    ck_assert_float_eq(a->boxes[1].x2, 400); /* 401 clamped */
    ck_assert_int_eq(a->boxes[0].class_id, CLASSMAP_MASK);
    ck_assert_int_eq(a->boxes[1].class_id, CLASSMAP_NO_MASK);
    ck_assert_int_eq(b->n_boxes, 2);
    ck_assert_float_eq(b->boxes[0].y2, 100);
    ck_assert_float_eq(b->boxes[1].x1, 150.5f);
    ck_assert_int_eq(b->boxes[0].class_id, CLASSMAP_NO_MASK); /* incorrect -> no_mask by default */
    ck_assert_str_eq(set.source_names[b->boxes[0].source_class], "mask_weared_incorrect");
    ck_assert_uint_eq(set.report.boxes_clamped, 1);
    ck_assert_uint_eq(set.report.boxes_zero_area, 1);
    ck_assert_uint_eq(set.report.n_problems, 0);
    ck_assert_uint_eq(annot_count_faces(&set), 4);

    /* Statistics, counted by hand: sizes 40, 30, 100, 20 px; faces per image 2 and 2. */
    stats_summary s;
    ck_assert_int_eq(stats_compute(&set, &s, &err), NN_OK);
    ck_assert_uint_eq(s.n_images, 2);
    ck_assert_uint_eq(s.n_faces, 4);
    ck_assert_uint_eq(s.per_class[CLASSMAP_MASK], 1);
    ck_assert_uint_eq(s.per_class[CLASSMAP_NO_MASK], 3);
    ck_assert_uint_eq(s.size_bins[0], 0);
    ck_assert_uint_eq(s.size_bins[1], 2);
    ck_assert_uint_eq(s.size_bins[2], 1);
    ck_assert_uint_eq(s.size_bins[3], 1);
    ck_assert_uint_eq(s.count_bins[2], 2);
    char *json = stats_to_json(&s, &set);
    ck_assert_ptr_nonnull(json);
    ck_assert_ptr_nonnull(strstr(json, "\"n_images\":2"));
    ck_assert_ptr_nonnull(strstr(json, "\"mask_weared_incorrect\":1"));
    ck_assert_ptr_nonnull(strstr(json, "\"no_mask\":3"));
    free(json);
    stats_free(&s);

    /* The class map option: incorrectly worn masks as their own class. */
    classmap own = {.incorrect_own_class = true};
    annot_apply_classmap(&set, &own);
    ck_assert_int_eq(b->boxes[0].class_id, CLASSMAP_INCORRECT);
    ck_assert_int_eq(stats_compute(&set, &s, &err), NN_OK);
    ck_assert_int_eq(s.n_classes, 3);
    ck_assert_uint_eq(s.per_class[CLASSMAP_NO_MASK], 2);
    ck_assert_uint_eq(s.per_class[CLASSMAP_INCORRECT], 1);
    stats_free(&s);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

START_TEST(voc_bad_input_stops_or_skips) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    make_voc_set(root);
    /* c: malformed (</size> missing: the error is found at </annotation> on line 6). */
    dsf_write_jpeg_header(root, "images/c.jpg", 50, 50);
    dsf_write_text(
        root, "annotations/c.xml",
        "<annotation>\n<size>\n<width>50</width>\n<height>50</height>\n\n</annotation>\n");
    /* d: its image is missing. */
    write_voc(root, "annotations/d.xml", "d.png", 50, 50, VOC_OBJECT("with_mask", 1, 1, 9, 9));
    /* e: one box wholly outside the image (the bndbox is on line 12). */
    dsf_write_jpeg_header(root, "images/e.jpg", 50, 50);
    write_voc(root, "annotations/e.xml", "e.png", 50, 50,
              VOC_OBJECT("with_mask", 60, 1, 70, 9) VOC_OBJECT("with_mask", 1, 1, 9, 9));
    /* f: a coordinate that is not a number. */
    dsf_write_jpeg_header(root, "images/f.jpg", 50, 50);
    write_voc(root, "annotations/f.xml", "f.png", 50, 50, VOC_OBJECT("with_mask", 1, 1, nine, 9));

    annot_options opt = annot_default_options();
    annot_set set;
    nn_error err = {0};
    ck_assert_int_ne(annot_load(root, &opt, &set, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, "c.xml:6:") != NULL, "%s", err.msg);
    ck_assert_uint_eq(set.n_items, 0); /* nothing to free after a failure */

    opt.skip_bad = true;
    ck_assert_msg(annot_load(root, &opt, &set, &err) == NN_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n_items, 3);               /* a, b, e */
    ck_assert_uint_eq(set.report.files_skipped, 2);  /* c, f */
    ck_assert_uint_eq(set.report.images_missing, 1); /* d */
    ck_assert_uint_eq(set.report.boxes_outside, 1);  /* in e */
    ck_assert_uint_eq(set.report.n_problems, 4);
    ck_assert_uint_eq(set.report.n_messages, 4);
    ck_assert_int_eq(set.items[2].n_boxes, 1);
    ck_assert_msg(strstr(set.report.messages[0], "c.xml:6:") != NULL, "%s", set.report.messages[0]);
    ck_assert_msg(strstr(set.report.messages[1], "d.xml") != NULL, "%s", set.report.messages[1]);
    ck_assert_msg(strstr(set.report.messages[2], "e.xml:11:") != NULL, "%s",
                  set.report.messages[2]);
    ck_assert_msg(strstr(set.report.messages[3], "f.xml:14:") != NULL, "%s",
                  set.report.messages[3]);
    annot_set_free(&set);

    /* Stopping at the box outside the image names the file and line too. */
    dsf_remove_tree(root);
    dsf_make_tempdir(root, sizeof root);
    dsf_write_jpeg_header(root, "images/e.jpg", 50, 50);
    write_voc(root, "annotations/e.xml", "e.png", 50, 50, VOC_OBJECT("with_mask", 60, 1, 70, 9));
    opt.skip_bad = false;
    ck_assert_int_ne(annot_load(root, &opt, &set, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, "e.xml:11:") && strstr(err.msg, "outside"), "%s", err.msg);
    dsf_remove_tree(root);
}
END_TEST

/* ----------------------------------------------------------------- JSON */

static const char *kaggle_json =
    "{\"FileName\": \"1801.jpg\", \"NumOfAnno\": 5, \"Annotations\": [\n"
    " {\"isProtected\": false, \"ID\": 1, \"BoundingBox\": [10, 20, 60, 90],"
    "  \"classname\": \"face_with_mask\", \"Confidence\": 1, \"Attributes\": {}},\n"
    " {\"isProtected\": false, \"ID\": 2, \"BoundingBox\": [15, 50, 55, 80],"
    "  \"classname\": \"mask_colorful\", \"Confidence\": 1, \"Attributes\": {}},\n"
    " {\"isProtected\": false, \"ID\": 3, \"BoundingBox\": [100, 10, 140, 70],"
    "  \"classname\": \"face_no_mask\", \"Confidence\": 1, \"Attributes\": {}},\n"
    " {\"isProtected\": false, \"ID\": 4, \"BoundingBox\": [150, 10, 190, 70],"
    "  \"classname\": \"face_with_mask_incorrect\", \"Confidence\": 1, \"Attributes\": {}},\n"
    " {\"isProtected\": false, \"ID\": 5, \"BoundingBox\": [200, 10, 260, 70],"
    "  \"classname\": \"face_other_covering\", \"Confidence\": 1, \"Attributes\": {}}\n"
    "]}\n";

static void check_kaggle_item(const annot_set *set) {
    ck_assert_uint_eq(set->n_items, 1);
    const annot_item *it = &set->items[0];
    ck_assert_int_eq(it->width_px, 250); /* the last box is clamped to 250 */
    ck_assert_int_eq(it->n_boxes, 5);
    ck_assert_int_eq(it->boxes[0].class_id, CLASSMAP_MASK);
    ck_assert_int_eq(it->boxes[1].class_id, CLASSMAP_NOT_A_FACE);
    ck_assert_int_eq(it->boxes[2].class_id, CLASSMAP_NO_MASK);
    ck_assert_int_eq(it->boxes[3].class_id, CLASSMAP_NO_MASK);
    ck_assert_int_eq(it->boxes[4].class_id, CLASSMAP_NO_MASK);
    ck_assert_float_eq(it->boxes[4].x2, 250);
    ck_assert_float_eq(it->boxes[2].y1, 10);
    ck_assert_uint_eq(annot_count_faces(set), 4);
    ck_assert_uint_eq(set->report.boxes_clamped, 1);
}

START_TEST(json_sibling_images_folder) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    dsf_write_jpeg_header(root, "images/1801.jpg", 250, 120);
    dsf_write_text(root, "annotations/1801.jpg.json", kaggle_json);
    annot_format fmt;
    nn_error err = {0};
    ck_assert_int_eq(annot_detect_format(root, &fmt, &err), NN_OK);
    ck_assert_int_eq(fmt, ANNOT_FORMAT_JSON);
    annot_set set;
    ck_assert_msg(annot_load(root, NULL, &set, &err) == NN_OK, "%s", err.msg);
    check_kaggle_item(&set);
    stats_summary s;
    ck_assert_int_eq(stats_compute(&set, &s, &err), NN_OK);
    ck_assert_uint_eq(s.n_faces, 4);
    ck_assert_uint_eq(s.n_objects, 1);
    ck_assert_uint_eq(s.per_class[CLASSMAP_NO_MASK], 3);
    stats_free(&s);
    annot_set_free(&set);

    /* Other class map choices. */
    annot_options opt = annot_default_options();
    opt.map.incorrect_own_class = true;
    opt.map.other_covering_ignored = true;
    ck_assert_msg(annot_load(root, &opt, &set, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(set.items[0].boxes[3].class_id, CLASSMAP_INCORRECT);
    ck_assert_int_eq(set.items[0].boxes[4].class_id, CLASSMAP_NOT_A_FACE);
    ck_assert_uint_eq(annot_count_faces(&set), 3);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

START_TEST(json_same_folder_and_errors) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    dsf_write_jpeg_header(root, "1801.jpg", 250, 120);
    dsf_write_text(root, "1801.jpg.json", kaggle_json);
    annot_set set;
    nn_error err = {0};
    annot_options opt = annot_default_options();
    opt.format = ANNOT_FORMAT_JSON;
    ck_assert_msg(annot_load(root, &opt, &set, &err) == NN_OK, "%s", err.msg);
    check_kaggle_item(&set);
    annot_set_free(&set);

    /* Malformed JSON: the error names the file and the line of the fault. */
    dsf_write_text(root, "bad.json", "{\"FileName\": \"x.jpg\",\n\"Annotations\": [\n{,}]}");
    ck_assert_int_ne(annot_load(root, &opt, &set, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, "bad.json:3:") != NULL, "%s", err.msg);
    /* A box that is not 4 numbers. */
    dsf_write_text(
        root, "bad.json",
        "{\"FileName\": \"1801.jpg\", \"Annotations\": [{\"classname\": \"face_no_mask\","
        " \"BoundingBox\": [1, 2, 3]}]}");
    ck_assert_int_ne(annot_load(root, &opt, &set, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, "bad.json") && strstr(err.msg, "Annotations[0]"), "%s", err.msg);
    /* Image missing; then skipping both problems. */
    dsf_write_text(root, "gone.json",
                   "{\"FileName\": \"gone.jpg\", \"NumOfAnno\": 0, \"Annotations\": []}");
    opt.skip_bad = true;
    ck_assert_msg(annot_load(root, &opt, &set, &err) == NN_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n_items, 1);
    ck_assert_uint_eq(set.report.files_skipped, 1);
    ck_assert_uint_eq(set.report.images_missing, 1);
    ck_assert_msg(strstr(set.report.messages[1], "gone.json") != NULL, "%s",
                  set.report.messages[1]);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

/* -------------------------------------------------------- class folders */

START_TEST(class_folders) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    dsf_write_jpeg_header(root, "with_mask/b.jpg", 120, 80);
    dsf_write_png_header(root, "with_mask/a.png", 10, 300);
    dsf_write_jpeg_header(root, "without_mask/c.jpeg", 64, 64);
    dsf_write_text(root, "without_mask/notes.txt", "not an image");
    dsf_write_text(root, "without_mask/broken.jpg", "not a JPEG");
    annot_format fmt;
    nn_error err = {0};
    ck_assert_int_eq(annot_detect_format(root, &fmt, &err), NN_OK);
    ck_assert_int_eq(fmt, ANNOT_FORMAT_FOLDERS);
    annot_set set;
    ck_assert_int_ne(annot_load(root, NULL, &set, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, "broken.jpg") != NULL, "%s", err.msg);

    annot_options opt = annot_default_options();
    opt.skip_bad = true;
    ck_assert_msg(annot_load(root, &opt, &set, &err) == NN_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n_items, 3);
    ck_assert_uint_eq(set.report.files_skipped, 1);
    ck_assert_ptr_nonnull(strstr(set.items[0].image_path, "with_mask/a.png")); /* sorted */
    ck_assert_ptr_null(set.items[0].annotation_path);
    ck_assert_int_eq(set.items[0].n_boxes, 1);
    ck_assert_float_eq(set.items[0].boxes[0].x2, 10);
    ck_assert_float_eq(set.items[0].boxes[0].y2, 300);
    ck_assert_int_eq(set.items[1].boxes[0].class_id, CLASSMAP_MASK);
    ck_assert_int_eq(set.items[2].boxes[0].class_id, CLASSMAP_NO_MASK);
    ck_assert_str_eq(set.source_names[set.items[2].boxes[0].source_class], "without_mask");
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

START_TEST(undetectable_and_options) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    dsf_write_text(root, "readme.txt", "nothing here");
    annot_format fmt;
    nn_error err = {0};
    ck_assert_int_eq(annot_detect_format(root, &fmt, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "--format"));
    annot_set set;
    ck_assert_int_ne(annot_load("/nonexistent/maskdet", NULL, &set, &err), NN_OK);
    ck_assert_int_eq(annot_parse_format("voc", &fmt, &err), NN_OK);
    ck_assert_int_eq(fmt, ANNOT_FORMAT_VOC);
    ck_assert_int_eq(annot_parse_format("yolo", &fmt, &err), NN_ERR_ARG);
    dsf_remove_tree(root);
}
END_TEST

START_TEST(classmap_table) {
    classmap def = classmap_default(), own = {.incorrect_own_class = true};
    ck_assert_int_eq(classmap_n_classes(&def), 2);
    ck_assert_int_eq(classmap_n_classes(&own), 3);
    ck_assert_int_eq(classmap_lookup(&def, "with_mask"), CLASSMAP_MASK);
    ck_assert_int_eq(classmap_lookup(&def, "face_with_mask"), CLASSMAP_MASK);
    ck_assert_int_eq(classmap_lookup(&def, "without_mask"), CLASSMAP_NO_MASK);
    ck_assert_int_eq(classmap_lookup(&def, "face_no_mask"), CLASSMAP_NO_MASK);
    ck_assert_int_eq(classmap_lookup(&def, "mask_weared_incorrect"), CLASSMAP_NO_MASK);
    ck_assert_int_eq(classmap_lookup(&own, "mask_weared_incorrect"), CLASSMAP_INCORRECT);
    ck_assert_int_eq(classmap_lookup(&own, "face_with_mask_incorrect"), CLASSMAP_INCORRECT);
    ck_assert_int_eq(classmap_lookup(&def, "face_other_covering"), CLASSMAP_NO_MASK);
    ck_assert_int_eq(classmap_lookup(&def, "face_shield"), CLASSMAP_NOT_A_FACE);
    ck_assert_int_eq(classmap_lookup(&def, "mask_surgical"), CLASSMAP_NOT_A_FACE);
    ck_assert_str_eq(classmap_class_name(CLASSMAP_NO_MASK), "no_mask");
}
END_TEST

/* ------------------------------------------------------------ shared data */

START_TEST(shared_detection_set) {
    const char *shared = tu_shared_dir();
    char root[4096];
    if (shared) snprintf(root, sizeof root, "%s/datasets/facemask_detection_andrewmvd", shared);
    if (!shared || access(root, R_OK) != 0) {
        fprintf(stderr,
                "annotations: shared/datasets/facemask_detection_andrewmvd absent, skipped\n");
        return;
    }
    annot_set set;
    nn_error err = {0};
    ck_assert_msg(annot_load(root, NULL, &set, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(set.format, ANNOT_FORMAT_VOC);
    stats_summary s;
    ck_assert_int_eq(stats_compute(&set, &s, &err), NN_OK);
    /* Figures from the data set's README. */
    ck_assert_uint_eq(s.n_images, 731);
    ck_assert_uint_eq(s.n_faces, 3348);
    size_t by_name[3] = {0};
    for (int i = 0; i < s.n_source; i++) {
        if (!strcmp(s.source_names[i], "with_mask")) by_name[0] = s.per_source[i];
        if (!strcmp(s.source_names[i], "without_mask")) by_name[1] = s.per_source[i];
        if (!strcmp(s.source_names[i], "mask_weared_incorrect")) by_name[2] = s.per_source[i];
    }
    ck_assert_uint_eq(by_name[0], 2727);
    ck_assert_uint_eq(by_name[1], 512);
    ck_assert_uint_eq(by_name[2], 109);
    ck_assert_uint_eq(s.per_class[CLASSMAP_NO_MASK], 512 + 109);
    /* README: 663 boxes under 16 px, 2076 under 32, 439 at least 64; 287 images with one face. */
    ck_assert_uint_eq(s.size_bins[0], 663);
    ck_assert_uint_eq(s.size_bins[0] + s.size_bins[1], 2076);
    ck_assert_uint_eq(s.size_bins[3] + s.size_bins[4], 439);
    ck_assert_uint_eq(s.count_bins[1], 287);
    ck_assert_uint_eq(s.max_faces_per_image, 115);
    ck_assert_uint_eq(set.report.n_problems, 0);
    stats_free(&s);
    annot_set_free(&set);
}
END_TEST

START_TEST(shared_classification_set) {
    const char *shared = tu_shared_dir();
    char root[4096];
    if (shared)
        snprintf(root, sizeof root, "%s/datasets/facemask_classification_chandrikadeb7", shared);
    if (!shared || access(root, R_OK) != 0) {
        fprintf(
            stderr,
            "annotations: shared/datasets/facemask_classification_chandrikadeb7 absent, skipped\n");
        return;
    }
    annot_set set;
    nn_error err = {0};
    ck_assert_msg(annot_load(root, NULL, &set, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(set.format, ANNOT_FORMAT_FOLDERS);
    stats_summary s;
    ck_assert_int_eq(stats_compute(&set, &s, &err), NN_OK);
    ck_assert_uint_eq(s.n_images, 1955 + 1723);
    ck_assert_uint_eq(s.per_class[CLASSMAP_MASK], 1955);
    ck_assert_uint_eq(s.per_class[CLASSMAP_NO_MASK], 1723);
    /* README: sides run from 26 to 640 px. */
    ck_assert_uint_eq(s.size_bins[0], 0);
    for (size_t i = 0; i < set.n_items; i++) {
        int longest = set.items[i].width_px > set.items[i].height_px ? set.items[i].width_px
                                                                     : set.items[i].height_px;
        ck_assert_int_le(longest, 640);
        ck_assert_int_ge(longest, 26);
    }
    stats_free(&s);
    annot_set_free(&set);
}
END_TEST

Suite *annotations_suite(void) {
    Suite *s = suite_create("annotations");
    TCase *tc = tcase_create("readers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, xml_subset);
    tcase_add_test(tc, xml_malformed);
    tcase_add_test(tc, xml_depth_limit);
    tcase_add_test(tc, xml_damaged_never_crashes);
    tcase_add_test(tc, image_header_sizes);
    tcase_add_test(tc, voc_reads_clamps_and_drops);
    tcase_add_test(tc, voc_bad_input_stops_or_skips);
    tcase_add_test(tc, json_sibling_images_folder);
    tcase_add_test(tc, json_same_folder_and_errors);
    tcase_add_test(tc, class_folders);
    tcase_add_test(tc, undetectable_and_options);
    tcase_add_test(tc, classmap_table);
    suite_add_tcase(s, tc);
    TCase *shared = tcase_create("shared");
    tcase_set_timeout(shared, 120);
    tcase_add_test(shared, shared_detection_set);
    tcase_add_test(shared, shared_classification_set);
    suite_add_tcase(s, shared);
    return s;
}
