/*
 * xml.c - a small recursive-descent XML reader (see xml.h for the subset).
 *
 * One pass over the bytes with a cursor that counts lines. Elements become
 * nodes; text directly inside an element is appended to that node's text.
 * Every error says "source:line: what was expected".
 */
#include "xml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, pos;
    int line;
    const char *source;
    nn_error *err;
    int n_nodes; /* elements so far, against XML_MAX_NODES */
} xml_cursor;

/* A growable byte buffer for a node's text. */
typedef struct {
    char *data;
    size_t len, cap;
} xml_buf;

static nn_status xml_fail(xml_cursor *c, nn_status code, const char *what, const char *detail) {
    return nn_error_set(c->err, code, "%s:%d: %s%s", c->source, c->line, what,
                        detail ? detail : "");
}

static int peek(const xml_cursor *c) { return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1; }

static void advance(xml_cursor *c, size_t n) {
    for (size_t i = 0; i < n && c->pos < c->len; i++, c->pos++)
        if (c->s[c->pos] == '\n') c->line++;
}

static int starts_with(const xml_cursor *c, const char *prefix) {
    size_t n = strlen(prefix);
    return c->len - c->pos >= n && memcmp(c->s + c->pos, prefix, n) == 0;
}

static void skip_space(xml_cursor *c) {
    while (c->pos < c->len && isspace((unsigned char)c->s[c->pos]))
        advance(c, 1);
}

/* Moves past the next occurrence of terminator; fails at end of input. */
static nn_status skip_past(xml_cursor *c, const char *terminator, const char *construct) {
    int start_line = c->line;
    while (c->pos < c->len) {
        if (starts_with(c, terminator)) {
            advance(c, strlen(terminator));
            return NN_OK;
        }
        advance(c, 1);
    }
    c->line = start_line;
    return xml_fail(c, NN_ERR_TRUNCATED, "unterminated ", construct);
}

static nn_status buf_push(xml_buf *b, const char *bytes, size_t n, nn_error *err) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return nn_error_set(err, NN_ERR_NOMEM, "out of memory reading XML");
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return NN_OK;
}

/* Appends code point cp as UTF-8. */
static nn_status buf_push_utf8(xml_buf *b, unsigned long cp, nn_error *err) {
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_push(b, out, n, err);
}

/* At '&': decodes one entity into b. */
static nn_status read_entity(xml_cursor *c, xml_buf *b) {
    static const struct {
        const char *name;
        char value;
    } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (starts_with(c, named[i].name)) {
            advance(c, strlen(named[i].name));
            return buf_push(b, &named[i].value, 1, c->err);
        }
    if (starts_with(c, "&#")) {
        size_t p = c->pos + 2;
        int base = 10;
        if (p < c->len && (c->s[p] == 'x' || c->s[p] == 'X')) {
            base = 16;
            p++;
        }
        unsigned long cp = 0;
        size_t digits = 0;
        while (p < c->len && digits < 8 && isxdigit((unsigned char)c->s[p]) &&
               (base == 16 || isdigit((unsigned char)c->s[p]))) {
            int ch = (unsigned char)c->s[p];
            cp = cp * (unsigned long)base +
                 (unsigned long)(isdigit(ch) ? ch - '0' : tolower(ch) - 'a' + 10);
            p++;
            digits++;
        }
        if (digits > 0 && p < c->len && c->s[p] == ';' && cp > 0 && cp <= 0x10FFFF) {
            advance(c, p + 1 - c->pos);
            return buf_push_utf8(b, cp, c->err);
        }
        return xml_fail(c, NN_ERR_FORMAT, "bad numeric character reference", NULL);
    }
    return xml_fail(c, NN_ERR_FORMAT, "unknown entity (only &amp; &lt; &gt; &quot; &apos; &#N;)",
                    NULL);
}

static int is_name_start(int ch) {
    return ch >= 0 && (isalpha(ch) || ch == '_' || ch == ':' || ch >= 0x80);
}
static int is_name_char(int ch) {
    return is_name_start(ch) || (ch >= 0 && (isdigit(ch) || ch == '-' || ch == '.'));
}

/* Reads a name at the cursor into a new string. */
static nn_status read_name(xml_cursor *c, char **out) {
    size_t start = c->pos;
    if (!is_name_start(peek(c))) return xml_fail(c, NN_ERR_FORMAT, "expected a name", NULL);
    while (is_name_char(peek(c)))
        advance(c, 1);
    size_t n = c->pos - start;
    *out = malloc(n + 1);
    if (!*out) return nn_error_set(c->err, NN_ERR_NOMEM, "out of memory reading XML");
    memcpy(*out, c->s + start, n);
    (*out)[n] = '\0';
    return NN_OK;
}

/* Skips the attributes of a start tag; stops at '>' or '/>'. */
static nn_status skip_attributes(xml_cursor *c) {
    for (;;) {
        skip_space(c);
        int ch = peek(c);
        if (ch == '>' || ch == '/' || ch < 0) return NN_OK;
        if (!is_name_start(ch))
            return xml_fail(c, NN_ERR_FORMAT, "bad character in a start tag", NULL);
        while (is_name_char(peek(c)))
            advance(c, 1);
        skip_space(c);
        if (peek(c) != '=')
            return xml_fail(c, NN_ERR_FORMAT, "expected '=' after an attribute name", NULL);
        advance(c, 1);
        skip_space(c);
        int quote = peek(c);
        if (quote != '"' && quote != '\'')
            return xml_fail(c, NN_ERR_FORMAT, "expected a quoted attribute value", NULL);
        advance(c, 1);
        while (c->pos < c->len && peek(c) != quote)
            advance(c, 1);
        if (c->pos >= c->len)
            return xml_fail(c, NN_ERR_TRUNCATED, "unterminated attribute value", NULL);
        advance(c, 1);
    }
}

/* Trims surrounding white space in place and hands the string over. */
static char *take_trimmed(xml_buf *b) {
    if (!b->data) return calloc(1, 1);
    size_t start = 0, end = b->len;
    while (start < end && isspace((unsigned char)b->data[start]))
        start++;
    while (end > start && isspace((unsigned char)b->data[end - 1]))
        end--;
    memmove(b->data, b->data + start, end - start);
    b->data[end - start] = '\0';
    char *s = b->data;
    b->data = NULL;
    return s;
}

/* Parses one element starting at '<'. On success *out owns the subtree. */
static nn_status parse_element(xml_cursor *c, int depth, xml_node **out) {
    if (depth > XML_MAX_DEPTH) return xml_fail(c, NN_ERR_LIMIT, "elements nested too deeply", NULL);
    if (++c->n_nodes > XML_MAX_NODES) {
        char what[64];
        snprintf(what, sizeof what, "more than %d elements", XML_MAX_NODES);
        return xml_fail(c, NN_ERR_LIMIT, what, NULL);
    }
    xml_node *node = calloc(1, sizeof *node);
    if (!node) return nn_error_set(c->err, NN_ERR_NOMEM, "out of memory reading XML");
    node->line = c->line;
    xml_buf text = {0};
    xml_node **tail = &node->first_child;
    nn_status st;

    advance(c, 1); /* '<' */
    if ((st = read_name(c, &node->name)) || (st = skip_attributes(c))) goto fail;
    if (starts_with(c, "/>")) {
        advance(c, 2);
        node->text = take_trimmed(&text);
        if (!node->text) goto nomem;
        *out = node;
        return NN_OK;
    }
    if (peek(c) != '>') {
        st = xml_fail(c, NN_ERR_TRUNCATED, "unterminated start tag <", node->name);
        goto fail;
    }
    advance(c, 1);

    for (;;) {
        if (c->pos >= c->len) {
            char what[160];
            snprintf(what, sizeof what, "<%s> (opened on line %d) is never closed", node->name,
                     node->line);
            st = xml_fail(c, NN_ERR_TRUNCATED, "end of input: ", what);
            goto fail;
        }
        if (starts_with(c, "<!--")) {
            if ((st = skip_past(c, "-->", "comment"))) goto fail;
        } else if (starts_with(c, "<![CDATA[")) {
            advance(c, 9);
            size_t start = c->pos;
            if ((st = skip_past(c, "]]>", "CDATA section"))) goto fail;
            if ((st = buf_push(&text, c->s + start, c->pos - 3 - start, c->err))) goto fail;
        } else if (starts_with(c, "<?")) {
            if ((st = skip_past(c, "?>", "processing instruction"))) goto fail;
        } else if (starts_with(c, "</")) {
            advance(c, 2);
            char *end_name = NULL;
            if ((st = read_name(c, &end_name))) goto fail;
            int same = strcmp(end_name, node->name) == 0;
            if (!same) {
                char what[200];
                snprintf(what, sizeof what, "</%s> does not close <%s> (opened on line %d)",
                         end_name, node->name, node->line);
                free(end_name);
                st = xml_fail(c, NN_ERR_FORMAT, what, NULL);
                goto fail;
            }
            free(end_name);
            skip_space(c);
            if (peek(c) != '>') {
                st = xml_fail(c, NN_ERR_FORMAT, "expected '>' in the end tag of <", node->name);
                goto fail;
            }
            advance(c, 1);
            break;
        } else if (peek(c) == '<') {
            if (!is_name_start(c->pos + 1 < c->len ? (unsigned char)c->s[c->pos + 1] : -1)) {
                st = xml_fail(c, NN_ERR_FORMAT, "'<' not followed by a tag name", NULL);
                goto fail;
            }
            xml_node *child = NULL;
            if ((st = parse_element(c, depth + 1, &child))) goto fail;
            *tail = child;
            tail = &child->next_sibling;
        } else if (peek(c) == '&') {
            if ((st = read_entity(c, &text))) goto fail;
        } else {
            /* Copy a run of plain text at once. */
            size_t start = c->pos;
            while (c->pos < c->len && c->s[c->pos] != '<' && c->s[c->pos] != '&')
                advance(c, 1);
            if ((st = buf_push(&text, c->s + start, c->pos - start, c->err))) goto fail;
        }
    }
    node->text = take_trimmed(&text);
    if (!node->text) goto nomem;
    *out = node;
    return NN_OK;

nomem:
    st = nn_error_set(c->err, NN_ERR_NOMEM, "out of memory reading XML");
fail:
    free(text.data);
    xml_free(node);
    return st;
}

/* Skips white space, comments, PIs and a DOCTYPE outside the root element. */
static nn_status skip_misc(xml_cursor *c) {
    for (;;) {
        skip_space(c);
        nn_status st = NN_OK;
        if (starts_with(c, "<!--"))
            st = skip_past(c, "-->", "comment");
        else if (starts_with(c, "<?"))
            st = skip_past(c, "?>", "processing instruction");
        else if (starts_with(c, "<!DOCTYPE"))
            st = skip_past(c, ">", "DOCTYPE");
        else
            return NN_OK;
        if (st) return st;
    }
}

nn_status xml_parse(const char *text, size_t len, const char *source, xml_node **root,
                    nn_error *err) {
    if (!text || !root) return nn_error_set(err, NN_ERR_ARG, "xml_parse: NULL argument");
    *root = NULL;
    xml_cursor c = {text, len, 0, 1, source ? source : "<xml>", err, 0};
    if (len > XML_MAX_BYTES) return xml_fail(&c, NN_ERR_LIMIT, "document larger than 16 MiB", NULL);
    if (starts_with(&c, "\xEF\xBB\xBF")) advance(&c, 3); /* UTF-8 byte-order mark */
    nn_status st = skip_misc(&c);
    if (st) return st;
    if (peek(&c) != '<' || !is_name_start(c.pos + 1 < len ? (unsigned char)text[c.pos + 1] : -1))
        return xml_fail(&c, c.pos >= len ? NN_ERR_TRUNCATED : NN_ERR_FORMAT,
                        c.pos >= len ? "no root element" : "expected the root element", NULL);
    xml_node *node = NULL;
    if ((st = parse_element(&c, 1, &node))) return st;
    if ((st = skip_misc(&c))) {
        xml_free(node);
        return st;
    }
    if (c.pos < len) {
        xml_free(node);
        return xml_fail(&c, NN_ERR_FORMAT, "content after the root element", NULL);
    }
    *root = node;
    return NN_OK;
}

nn_status xml_parse_file(const char *path, xml_node **root, nn_error *err) {
    if (!path || !root) return nn_error_set(err, NN_ERR_ARG, "xml_parse_file: NULL argument");
    *root = NULL;
    char *data;
    size_t len;
    nn_status st = nn_read_file(path, XML_MAX_BYTES, &data, &len, err);
    if (st != NN_OK) return st;
    st = xml_parse(data, len, path, root, err);
    free(data);
    return st;
}

void xml_free(xml_node *root) {
    /* Siblings iteratively, children recursively (depth is bounded by XML_MAX_DEPTH). */
    while (root) {
        xml_node *next = root->next_sibling;
        xml_free(root->first_child);
        free(root->name);
        free(root->text);
        free(root);
        root = next;
    }
}

const xml_node *xml_child(const xml_node *parent, const char *name) {
    if (!parent) return NULL;
    for (const xml_node *n = parent->first_child; n; n = n->next_sibling)
        if (strcmp(n->name, name) == 0) return n;
    return NULL;
}

const xml_node *xml_next_same(const xml_node *node) {
    if (!node) return NULL;
    for (const xml_node *n = node->next_sibling; n; n = n->next_sibling)
        if (strcmp(n->name, node->name) == 0) return n;
    return NULL;
}
