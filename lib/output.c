#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "text.h"

struct table {
    size_t ncols;
    size_t nrows; /* header is row 0 */
    size_t cap;
    char **cells;       /* nrows * ncols */
    enum color *colors; /* nrows * ncols */
    size_t *max_width;  /* per column, 0 = no bound */
};

struct table *table_new(size_t ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    t->max_width = calloc(ncols + 1, sizeof *t->max_width);
    if (t->max_width == NULL || table_add_row(t, headers) < -1) {
        table_free(t);
        return NULL;
    }
    return t;
}

int table_add_row(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (c == NULL)
            return -2;
        t->cells = c;
        enum color *k = realloc(t->colors, cap * t->ncols * sizeof *k);
        if (k == NULL)
            return -2;
        t->colors = k;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        /* Cells hold remote text (names, reasons): sanitized here, so that the
         * rendered table, colours added, can go to the terminal as it is. */
        char *cell = text_sanitize_dup(cells[i] ? cells[i] : "-");
        t->cells[t->nrows * t->ncols + i] = cell ? cell : strdup("?");
        t->colors[t->nrows * t->ncols + i] = COLOR_NONE;
    }
    return (int)(t->nrows++) - 1;
}

void table_set_color(struct table *t, size_t row, size_t col, enum color c)
{
    if (row + 1 < t->nrows && col < t->ncols)
        t->colors[(row + 1) * t->ncols + col] = c;
}

void table_set_max_width(struct table *t, size_t col, size_t max)
{
    if (col < t->ncols && max >= 4)
        t->max_width[col] = max;
}

static const char *ansi(enum color c)
{
    switch (c) {
    case COLOR_GREEN:
        return "\033[32m";
    case COLOR_YELLOW:
        return "\033[33m";
    case COLOR_RED:
        return "\033[31m";
    case COLOR_BOLD:
        return "\033[1m";
    case COLOR_DIM:
        return "\033[2m";
    case COLOR_CYAN:
        return "\033[36m";
    default:
        return "";
    }
}

char *colorize(const char *s, enum color c, int color)
{
    char *safe = text_sanitize_dup(s);
    if (safe == NULL || !color || c == COLOR_NONE)
        return safe;
    char *out = NULL;
    if (asprintf(&out, "%s%s\033[0m", ansi(c), safe) < 0)
        out = NULL;
    free(safe);
    return out;
}

/* Display width of UTF-8 text: count code points (good enough for our cells). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* The bytes of cell shown in a column bounded to max characters (0: no bound),
 * its display width in *width and whether it was cut. Cuts fall between
 * characters: the cell is sanitized UTF-8. */
static size_t shown_bytes(const char *cell, size_t max, size_t *width, int *cut)
{
    size_t w = text_width(cell);
    *cut = max > 0 && w > max;
    if (!*cut) {
        *width = w;
        return strlen(cell);
    }
    size_t keep = max - 3, n = 0, chars = 0;
    for (; cell[n] != '\0'; n++)
        if (((unsigned char)cell[n] & 0xC0) != 0x80 && chars++ == keep)
            break;
    *width = max;
    return n;
}

char *table_render(const struct table *t, int color)
{
    size_t *width = calloc(t->ncols, sizeof *width);
    if (width == NULL)
        return NULL;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w;
            int cut;
            shown_bytes(t->cells[r * t->ncols + c], t->max_width[c], &w, &cut);
            if (w > width[c])
                width[c] = w;
        }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        free(width);
        return NULL;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            enum color k = r == 0 ? COLOR_BOLD : t->colors[r * t->ncols + c];
            int last = c + 1 == t->ncols, cut;
            size_t w, n = shown_bytes(cell, t->max_width[c], &w, &cut);
            if (color && k != COLOR_NONE)
                fputs(ansi(k), f);
            fwrite(cell, 1, n, f);
            if (cut)
                fputs("...", f);
            if (color && k != COLOR_NONE)
                fputs("\033[0m", f);
            if (!last)
                fprintf(f, "%*s", (int)(width[c] - w + 3), "");
        }
        fputc('\n', f);
    }
    fclose(f);
    free(width);
    return buf;
}

void table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->colors);
    free(t->max_width);
    free(t);
}

char *output_json(const json_t *v)
{
    /* ASCII only: every control character and everything past U+007F escaped as
     * \uXXXX (jansson leaves DEL, which is done here), so the document is as safe
     * for a terminal as it is valid JSON. */
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (s == NULL)
        return NULL;
    size_t l = strlen(s), dels = 0;
    for (size_t i = 0; i < l; i++)
        dels += s[i] == 0x7f;
    char *out = malloc(l + dels * 5 + 2);
    if (out == NULL) {
        free(s);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < l; i++) {
        if (s[i] == 0x7f) {                /* only inside a string: JSON's syntax has no DEL */
            memcpy(out + n, "\\u007F", 6); /* as jansson writes them */
            n += 6;
        } else {
            out[n++] = s[i];
        }
    }
    out[n++] = '\n';
    out[n] = '\0';
    free(s);
    return out;
}

/* Would a plain scalar with this text read back as something other than a string? */
static int needs_quotes(const char *s)
{
    static const char *const special[] = {"",     "~",     "null",  "Null",  "NULL", "true", "True",
                                          "TRUE", "false", "False", "FALSE", "yes",  "Yes",  "YES",
                                          "no",   "No",    "NO",    "on",    "On",   "ON",   "off",
                                          "Off",  "OFF",   "y",     "Y",     "n",    "N",    NULL};
    for (size_t i = 0; special[i]; i++)
        if (strcmp(s, special[i]) == 0)
            return 1;
    char *end;
    strtod(s, &end);
    if (*end == '\0')
        return 1; /* a number */
    return 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *text, int is_string)
{
    yaml_event_t ev;
    int plain = !is_string || !needs_quotes(text);
    if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG, (yaml_char_t *)text,
                                      (int)strlen(text), plain, 1, YAML_ANY_SCALAR_STYLE))
        return 0;
    return yaml_emitter_emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1,
                                                 YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return 0;
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            if (!emit_scalar(em, key, 1) || !emit_value(em, val))
                return 0;
        }
        return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
    }
    case JSON_ARRAY: {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1,
                                                  YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return 0;
        size_t i;
        const json_t *val;
        json_array_foreach((json_t *)v, i, val)
        {
            if (!emit_value(em, val))
                return 0;
        }
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
    }
    case JSON_STRING:
        return emit_scalar(em, json_string_value(v), 1);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(em, num, 0);
    case JSON_REAL:
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        return emit_scalar(em, num, 0);
    case JSON_TRUE:
        return emit_scalar(em, "true", 0);
    case JSON_FALSE:
        return emit_scalar(em, "false", 0);
    default:
        return emit_scalar(em, "null", 0);
    }
}

static int write_memstream(void *data, unsigned char *buffer, size_t size)
{
    return fwrite(buffer, 1, size, (FILE *)data) == size;
}

char *output_yaml(const json_t *v, struct error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        return NULL;
    }
    yaml_emitter_t em;
    yaml_event_t ev;
    yaml_emitter_initialize(&em);
    yaml_emitter_set_output(&em, write_memstream, f);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
             yaml_emitter_emit(&em, &ev) &&
             yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
             yaml_emitter_emit(&em, &ev) && emit_value(&em, v) &&
             yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&em, &ev) &&
             yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev);
    if (!ok)
        error_set(err, ERR_GENERIC, "YAML output failed: %s",
                  em.problem ? em.problem : "unknown problem");
    yaml_emitter_delete(&em);
    fclose(f);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

void output_age(char *buf, size_t cap, time_t now, time_t then)
{
    if (then <= 0) {
        snprintf(buf, cap, "<unknown>");
        return;
    }
    long long s = (long long)(now - then);
    if (s < 0)
        s = 0;
    long long m = s / 60, h = s / 3600, d = h / 24, y = d / 365;
    if (s < 120)
        snprintf(buf, cap, "%llds", s);
    else if (m < 10)
        s % 60 ? snprintf(buf, cap, "%lldm%llds", m, s % 60) : snprintf(buf, cap, "%lldm", m);
    else if (m < 180)
        snprintf(buf, cap, "%lldm", m);
    else if (h < 8)
        m % 60 ? snprintf(buf, cap, "%lldh%lldm", h, m % 60) : snprintf(buf, cap, "%lldh", h);
    else if (h < 48)
        snprintf(buf, cap, "%lldh", h);
    else if (h < 192)
        h % 24 ? snprintf(buf, cap, "%lldd%lldh", d, h % 24) : snprintf(buf, cap, "%lldd", d);
    else if (y < 2)
        snprintf(buf, cap, "%lldd", d);
    else if (y < 8)
        d % 365 ? snprintf(buf, cap, "%lldy%lldd", y, d % 365) : snprintf(buf, cap, "%lldy", y);
    else
        snprintf(buf, cap, "%lldy", y);
}

void output_size(char *buf, size_t cap, uint64_t bytes)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, unit[u]);
}
