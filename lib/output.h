/* Rendering for commands: aligned tables (colour only when asked), JSON and
 * YAML documents from jansson values, kubectl-style ages, a progress line.
 * Everything renders into strings; the command decides where they go. Table
 * cells and colorize()'s text are sanitized (lib/text) before colour is added:
 * a rendered table or colorized string is safe for a terminal as it is. */
#ifndef VH_OUTPUT_H
#define VH_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "error.h"

enum color {
    COLOR_NONE = 0,
    COLOR_GREEN,
    COLOR_YELLOW,
    COLOR_RED,
    COLOR_BOLD,
    COLOR_DIM,
    COLOR_CYAN,
};

struct table;

struct table *table_new(size_t ncols, const char *const *headers);
/* Copies ncols cells, sanitized (NULL prints as "-"). Returns the data row's
 * index (0 for the first row after the header), or -2 when out of memory. */
int table_add_row(struct table *t, const char *const *cells);
void table_set_color(struct table *t, size_t row, size_t col, enum color c);
/* Cells of column col wider than max characters (max >= 4) are shown cut to
 * max - 3 characters and "...", so that no remote text sets a line's length. */
void table_set_max_width(struct table *t, size_t col, size_t max);
/* Columns separated by 3 spaces like kubectl; headers in bold when color. */
char *table_render(const struct table *t, int color);
void table_free(struct table *t);

/* s sanitized, then wrapped in the ANSI sequence of c when color is on; returns
 * a malloc'd string. */
char *colorize(const char *s, enum color c, int color);

/* Pretty JSON (2-space indent, keys in insertion order) with a trailing newline. */
char *output_json(const json_t *v);
/* A YAML document of v; strings that would read back as another type are quoted. */
char *output_yaml(const json_t *v, struct error *err);

/* kubectl's age format (apimachinery HumanDuration): 45s, 5m10s, 3h, 2d4h, 400d. */
void output_age(char *buf, size_t cap, time_t now, time_t then);

/* Human size: 512 B, 1.5 KiB, 3.2 MiB, 1.0 GiB. */
void output_size(char *buf, size_t cap, uint64_t bytes);

#endif
