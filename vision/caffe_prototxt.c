/*
 * caffe_prototxt.c - the protobuf text format, parsed into a generic tree.
 *
 * Grammar (what Caffe prototxts use):
 *   message := { field [',' | ';'] }
 *   field   := NAME ':' value
 *            | NAME ':' '[' value { ',' value } ']'   (repeated, short form)
 *            | NAME [':'] '{' message '}'             ('<' '>' also accepted)
 *   value   := NUMBER | IDENT | STRING { STRING }     (adjacent strings join)
 * '#' starts a comment to the end of the line. Each field keeps its line and
 * column so the typed layer (caffe_net.c) can point at the offending text.
 */
#include "caffe.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef enum { TOK_END, TOK_IDENT, TOK_NUMBER, TOK_STRING, TOK_SYMBOL } tok_kind;

typedef struct {
    tok_kind kind;
    const char *start; /* into the text; STRING: including quotes */
    size_t len;
    int line, col;
} token;

typedef struct {
    const char *text;
    size_t len, pos;
    int line, col;
    const char *filename;
    nn_error *err;
    token tok; /* the current (look-ahead) token */
    int depth;
    int n_fields; /* in the whole tree, against CAFFE_PT_MAX_FIELDS */
    nn_status add_failed; /* why add_field returned NULL (err may be NULL) */
} parser;

static nn_status fail_at(parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nn_status fail_at(parser *p, int line, int col, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nn_error_set(p->err, NN_ERR_FORMAT, "%s:%d:%d: %s", p->filename, line, col, what);
}

static void advance_char(parser *p) {
    if (p->text[p->pos] == '\n') p->line++, p->col = 1;
    else p->col++;
    p->pos++;
}

static bool is_ident_start(int c) { return isalpha(c) || c == '_'; }
static bool is_ident_char(int c) { return isalnum(c) || c == '_' || c == '.'; }

/* Reads the next token into p->tok. */
static nn_status next_token(parser *p) {
    for (;;) {
        while (p->pos < p->len && isspace((unsigned char)p->text[p->pos])) advance_char(p);
        if (p->pos < p->len && p->text[p->pos] == '#') {
            while (p->pos < p->len && p->text[p->pos] != '\n') advance_char(p);
            continue;
        }
        break;
    }
    token *t = &p->tok;
    t->start = p->text + p->pos;
    t->line = p->line, t->col = p->col;
    t->len = 0;
    if (p->pos >= p->len) {
        t->kind = TOK_END;
        return NN_OK;
    }
    unsigned char c = (unsigned char)p->text[p->pos];
    if (c == '\0') return fail_at(p, t->line, t->col, "NUL byte in text");
    if (is_ident_start(c)) {
        t->kind = TOK_IDENT;
        while (p->pos < p->len && is_ident_char((unsigned char)p->text[p->pos])) advance_char(p);
    } else if (isdigit(c) || ((c == '-' || c == '+' || c == '.') && p->pos + 1 < p->len &&
                              (isdigit((unsigned char)p->text[p->pos + 1]) ||
                               p->text[p->pos + 1] == '.' ||
                               is_ident_start((unsigned char)p->text[p->pos + 1])))) {
        /* numbers, and -inf / -nan: everything up to a delimiter, checked later */
        t->kind = TOK_NUMBER;
        advance_char(p);
        while (p->pos < p->len) {
            unsigned char d = (unsigned char)p->text[p->pos];
            bool exp_sign = (d == '-' || d == '+') &&
                            (p->text[p->pos - 1] == 'e' || p->text[p->pos - 1] == 'E');
            if (!(isalnum(d) || d == '.' || d == '_' || exp_sign)) break;
            advance_char(p);
        }
    } else if (c == '"' || c == '\'') {
        t->kind = TOK_STRING;
        advance_char(p);
        for (;;) {
            if (p->pos >= p->len || p->text[p->pos] == '\n')
                return fail_at(p, t->line, t->col, "unterminated string");
            char d = p->text[p->pos];
            if (d == '\\') {
                advance_char(p);
                if (p->pos >= p->len)
                    return fail_at(p, t->line, t->col, "unterminated string");
                advance_char(p);
                continue;
            }
            advance_char(p);
            if ((unsigned char)d == c) break;
        }
    } else if (strchr("{}<>:,;[]", c)) {
        t->kind = TOK_SYMBOL;
        advance_char(p);
    } else {
        if (isprint(c)) return fail_at(p, t->line, t->col, "unexpected character '%c'", c);
        return fail_at(p, t->line, t->col, "unexpected byte 0x%02x", c);
    }
    t->len = (size_t)(p->text + p->pos - t->start);
    return NN_OK;
}

static bool tok_is(const token *t, char symbol) {
    return t->kind == TOK_SYMBOL && t->start[0] == symbol;
}

static char *tok_copy(const token *t) {
    char *s = malloc(t->len + 1);
    if (s) {
        memcpy(s, t->start, t->len);
        s[t->len] = 0;
    }
    return s;
}

/* Appends the decoded contents of string token t to *buf (growing it). */
static nn_status append_string(parser *p, const token *t, char **buf, size_t *blen) {
    char *out = realloc(*buf, *blen + t->len + 1);
    if (!out) return nn_error_set(p->err, NN_ERR_NOMEM, "%s: out of memory", p->filename);
    *buf = out;
    size_t n = *blen;
    const char *s = t->start + 1, *end = t->start + t->len - 1; /* inside the quotes */
    while (s < end) {
        char c = *s++;
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        char e = *s++;
        switch (e) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case '\\': case '"': case '\'': case '?': out[n++] = e; break;
        case 'x': {
            int v = 0, digits = 0;
            while (s < end && digits < 2 && isxdigit((unsigned char)*s)) {
                v = v * 16 + (isdigit((unsigned char)*s) ? *s - '0' : (tolower(*s) - 'a' + 10));
                s++, digits++;
            }
            if (!digits) return fail_at(p, t->line, t->col, "bad \\x escape in string");
            out[n++] = (char)v;
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                int v = e - '0', digits = 1;
                while (s < end && digits < 3 && *s >= '0' && *s <= '7') v = v * 8 + (*s++ - '0'), digits++;
                out[n++] = (char)v;
            } else {
                return fail_at(p, t->line, t->col, "unknown escape '\\%c' in string", e);
            }
        }
    }
    out[n] = 0;
    *blen = n;
    return NN_OK;
}

static caffe_pt_field *add_field(parser *p, caffe_pt_msg *m, const token *name) {
    if (p->n_fields >= CAFFE_PT_MAX_FIELDS) { /* bounds the tree's memory: ~100 bytes a field */
        p->add_failed = nn_error_set(p->err, NN_ERR_LIMIT, "%s:%d:%d: more than %d fields",
                                     p->filename, name->line, name->col, CAFFE_PT_MAX_FIELDS);
        return NULL;
    }
    p->n_fields++;
    if (m->count == m->capacity) {
        int cap = m->capacity ? m->capacity * 2 : 8;
        caffe_pt_field *f = realloc(m->fields, (size_t)cap * sizeof *f);
        if (!f) {
            p->add_failed = nn_error_set(p->err, NN_ERR_NOMEM, "%s: out of memory", p->filename);
            return NULL;
        }
        m->fields = f, m->capacity = cap;
    }
    caffe_pt_field *f = &m->fields[m->count];
    memset(f, 0, sizeof *f);
    f->name = tok_copy(name);
    if (!f->name) {
        p->add_failed = nn_error_set(p->err, NN_ERR_NOMEM, "%s: out of memory", p->filename);
        return NULL;
    }
    f->line = name->line, f->col = name->col;
    m->count++;
    return f;
}

/* Parses a NUMBER token ("1", "-2.5e3", "inf", "-nan", "1.0f"). */
static nn_status parse_number(parser *p, const token *t, double *out) {
    char buf[64];
    size_t n = t->len;
    if (n >= sizeof buf) return fail_at(p, t->line, t->col, "number too long");
    memcpy(buf, t->start, n);
    buf[n] = 0;
    if (n > 1 && (buf[n - 1] == 'f' || buf[n - 1] == 'F') && strchr(buf, '.')) buf[--n] = 0;
    const char *s = buf + (buf[0] == '-' || buf[0] == '+');
    if (!strcmp(s, "inf") || !strcmp(s, "infinity")) {
        *out = buf[0] == '-' ? -INFINITY : INFINITY;
        return NN_OK;
    }
    if (!strcmp(s, "nan")) {
        *out = NAN;
        return NN_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end) return fail_at(p, t->line, t->col, "bad number '%s'", buf);
    if (errno == ERANGE && isinf(v))
        return fail_at(p, t->line, t->col, "number '%s' is out of range", buf);
    *out = v;
    return NN_OK;
}

/* Reads one scalar value (current token) into field f and advances. */
static nn_status parse_scalar(parser *p, caffe_pt_field *f) {
    token t = p->tok;
    nn_status st;
    if (t.kind == TOK_NUMBER) {
        f->kind = CAFFE_PT_NUMBER;
        if ((st = parse_number(p, &t, &f->number))) return st;
        if (!(f->text = tok_copy(&t)))
            return nn_error_set(p->err, NN_ERR_NOMEM, "%s: out of memory", p->filename);
        return next_token(p);
    }
    if (t.kind == TOK_IDENT) {
        f->kind = CAFFE_PT_IDENT;
        if (!(f->text = tok_copy(&t)))
            return nn_error_set(p->err, NN_ERR_NOMEM, "%s: out of memory", p->filename);
        /* inf / nan written without a sign are numbers too */
        if (!strcmp(f->text, "inf") || !strcmp(f->text, "nan") || !strcmp(f->text, "infinity")) {
            f->kind = CAFFE_PT_NUMBER;
            f->number = f->text[0] == 'n' ? NAN : INFINITY;
        }
        return next_token(p);
    }
    if (t.kind == TOK_STRING) {
        f->kind = CAFFE_PT_STRING;
        size_t blen = 0;
        while (p->tok.kind == TOK_STRING) {
            if ((st = append_string(p, &p->tok, &f->text, &blen))) return st;
            if ((st = next_token(p))) return st;
        }
        return NN_OK;
    }
    if (t.kind == TOK_END) return fail_at(p, t.line, t.col, "expected a value, found end of file");
    char *s = tok_copy(&t);
    st = fail_at(p, t.line, t.col, "expected a value, found '%s'", s ? s : "?");
    free(s);
    return st;
}

static nn_status parse_message(parser *p, caffe_pt_msg *m, char close);

static nn_status parse_submessage(parser *p, caffe_pt_field *f) {
    char close = tok_is(&p->tok, '{') ? '}' : '>';
    if (p->depth >= CAFFE_PT_MAX_DEPTH)
        return fail_at(p, p->tok.line, p->tok.col, "messages nested too deeply");
    f->kind = CAFFE_PT_MESSAGE;
    f->msg = calloc(1, sizeof *f->msg);
    if (!f->msg) return nn_error_set(p->err, NN_ERR_NOMEM, "%s: out of memory", p->filename);
    nn_status st = next_token(p);
    if (st) return st;
    p->depth++;
    st = parse_message(p, f->msg, close);
    p->depth--;
    return st;
}

/* Parses fields until `close` (or end of text when close is 0). */
static nn_status parse_message(parser *p, caffe_pt_msg *m, char close) {
    nn_status st;
    for (;;) {
        token t = p->tok;
        if (t.kind == TOK_END) {
            if (close) return fail_at(p, t.line, t.col, "missing '%c' at end of file", close);
            return NN_OK;
        }
        if (close && tok_is(&t, close)) return next_token(p);
        if (t.kind != TOK_IDENT) {
            char *s = tok_copy(&t);
            st = fail_at(p, t.line, t.col, "expected a field name, found '%s'", s ? s : "?");
            free(s);
            return st;
        }
        if ((st = next_token(p))) return st;
        bool colon = tok_is(&p->tok, ':');
        if (colon && (st = next_token(p))) return st;
        if (tok_is(&p->tok, '{') || tok_is(&p->tok, '<')) {
            caffe_pt_field *f = add_field(p, m, &t);
            if (!f) return p->add_failed;
            if ((st = parse_submessage(p, f))) return st;
        } else if (!colon) {
            char *name = tok_copy(&t);
            st = fail_at(p, p->tok.line, p->tok.col, "expected ':' or '{' after '%s'",
                         name ? name : "?");
            free(name);
            return st;
        } else if (tok_is(&p->tok, '[')) {
            if ((st = next_token(p))) return st;
            while (!tok_is(&p->tok, ']')) {
                caffe_pt_field *f = add_field(p, m, &t);
                if (!f) return p->add_failed;
                if (tok_is(&p->tok, '{') || tok_is(&p->tok, '<')) st = parse_submessage(p, f);
                else st = parse_scalar(p, f);
                if (st) return st;
                if (tok_is(&p->tok, ',')) {
                    if ((st = next_token(p))) return st;
                } else if (!tok_is(&p->tok, ']')) {
                    return fail_at(p, p->tok.line, p->tok.col, "expected ',' or ']'");
                }
            }
            if ((st = next_token(p))) return st;
        } else {
            caffe_pt_field *f = add_field(p, m, &t);
            if (!f) return p->add_failed;
            if ((st = parse_scalar(p, f))) return st;
        }
        if (tok_is(&p->tok, ',') || tok_is(&p->tok, ';'))
            if ((st = next_token(p))) return st;
    }
}

nn_status caffe_pt_parse(const char *text, size_t len, const char *filename, caffe_pt_msg **out,
                         nn_error *err) {
    *out = NULL;
    if (!text && len) return nn_error_set(err, NN_ERR_ARG, "caffe_pt_parse: NULL text");
    if (len > CAFFE_MAX_FILE_BYTES)
        return nn_error_set(err, NN_ERR_LIMIT, "%s: %zu bytes is over the limit", filename, len);
    parser p = {.text = text ? text : "", .len = len, .line = 1, .col = 1,
                .filename = filename ? filename : "<prototxt>", .err = err};
    caffe_pt_msg *m = calloc(1, sizeof *m);
    if (!m) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    nn_status st = next_token(&p);
    if (!st) st = parse_message(&p, m, 0);
    if (st) {
        caffe_pt_free(m);
        return st;
    }
    *out = m;
    return NN_OK;
}

void caffe_pt_free(caffe_pt_msg *m) {
    if (!m) return;
    for (int i = 0; i < m->count; i++) {
        free(m->fields[i].name);
        free(m->fields[i].text);
        caffe_pt_free(m->fields[i].msg);
    }
    free(m->fields);
    free(m);
}

int caffe_pt_count(const caffe_pt_msg *m, const char *name) {
    int n = 0;
    for (int i = 0; m && i < m->count; i++) n += strcmp(m->fields[i].name, name) == 0;
    return n;
}

const caffe_pt_field *caffe_pt_get(const caffe_pt_msg *m, const char *name, int index) {
    for (int i = 0; m && i < m->count; i++)
        if (strcmp(m->fields[i].name, name) == 0 && index-- == 0) return &m->fields[i];
    return NULL;
}
