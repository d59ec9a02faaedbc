#include "secret.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <readline/history.h>
#include <readline/readline.h>

#define KEY_MIN_BYTES 16
#define KEY_MAX_BYTES 33 /* Vault: BarrierKeyLength 32 + 1 share byte */
#define KEYS_FILE_MAX (1u << 20)

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int live_count;
static struct rlimit saved_core;
static int saved_dumpable;

static void dumps_off(void)
{
    getrlimit(RLIMIT_CORE, &saved_core);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    saved_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void dumps_restore(void)
{
    /* A hard limit lowered to 0 cannot be raised again without privilege; the
     * soft limit comes back within what is allowed. */
    struct rlimit now;
    getrlimit(RLIMIT_CORE, &now);
    struct rlimit back = {saved_core.rlim_cur, now.rlim_max};
    if (back.rlim_cur > back.rlim_max)
        back.rlim_cur = back.rlim_max;
    setrlimit(RLIMIT_CORE, &back);
    if (saved_dumpable > 0)
        prctl(PR_SET_DUMPABLE, saved_dumpable, 0, 0, 0);
}

int secret_live_count(void)
{
    pthread_mutex_lock(&live_lock);
    int n = live_count;
    pthread_mutex_unlock(&live_lock);
    return n;
}

int secret_alloc(struct secret *s, size_t cap, struct error *err)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t size = ((cap + 1 + (size_t)page - 1) / (size_t)page) * (size_t)page;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return error_set(err, ERR_GENERIC, "cannot allocate memory for a secret: %s",
                         strerror(errno));
    /* Best effort: a low RLIMIT_MEMLOCK must not stop the operator. */
    (void)mlock(p, size);
    (void)madvise(p, size, MADV_DONTDUMP);
    pthread_mutex_lock(&live_lock);
    if (live_count++ == 0)
        dumps_off();
    pthread_mutex_unlock(&live_lock);
    s->data = p;
    s->len = 0;
    s->cap = size;
    return 0;
}

int secret_from(struct secret *s, const char *text, size_t len, struct error *err)
{
    if (secret_alloc(s, len + 1, err) < 0)
        return -1;
    memcpy(s->data, text, len);
    s->data[len] = '\0';
    s->len = len;
    return 0;
}

void secret_free(struct secret *s)
{
    if (s == NULL || s->data == NULL)
        return;
    explicit_bzero(s->data, s->cap);
    munlock(s->data, s->cap);
    munmap(s->data, s->cap);
    s->data = NULL;
    s->len = s->cap = 0;
    pthread_mutex_lock(&live_lock);
    if (--live_count == 0)
        dumps_restore();
    pthread_mutex_unlock(&live_lock);
}

int secret_list_add(struct secret_list *l, const char *text, size_t len, struct error *err)
{
    struct secret *items = realloc(l->items, (l->n + 1) * sizeof *items);
    if (items == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    l->items = items;
    memset(&l->items[l->n], 0, sizeof l->items[l->n]);
    if (secret_from(&l->items[l->n], text, len, err) < 0)
        return -1;
    l->n++;
    return 0;
}

void secret_list_free(struct secret_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        secret_free(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decoded length of standard base64 (Go's StdEncoding, padding required; Go
 * skips \r and \n), or -1 when it is not base64. */
static long base64_decoded_len(const char *s, size_t len)
{
    size_t chars = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            return -1; /* data after padding */
        if (!(isalnum(c) || c == '+' || c == '/'))
            return -1;
        chars++;
    }
    if ((chars + pad) % 4 != 0 || pad > 2)
        return -1;
    return (long)((chars + pad) / 4 * 3 - pad);
}

void secret_list_truncate(struct secret_list *l, size_t n)
{
    while (l->n > n)
        secret_free(&l->items[--l->n]);
}

int secret_check_unseal_key(const char *key, size_t len, struct error *err)
{
    if (len == 0)
        return error_set(err, ERR_USAGE, "empty unseal key");
    int is_hex = len % 2 == 0;
    for (size_t i = 0; is_hex && i < len; i++)
        is_hex = hexval((unsigned char)key[i]) >= 0;
    if (is_hex && len / 2 >= KEY_MIN_BYTES && len / 2 <= KEY_MAX_BYTES)
        return 0;
    long n = base64_decoded_len(key, len);
    if (n < 0 && !is_hex)
        return error_set(err, ERR_USAGE,
                         "not an unseal key: it must be hex or base64 (as `vault operator init` "
                         "prints them), %zu characters given",
                         len);
    if (n < 0)
        n = (long)(len / 2);
    if (n < KEY_MIN_BYTES)
        return error_set(err, ERR_USAGE,
                         "unseal key too short: %ld bytes, Vault's keys have %d to %d bytes", n,
                         KEY_MIN_BYTES, KEY_MAX_BYTES);
    if (n > KEY_MAX_BYTES)
        return error_set(err, ERR_USAGE,
                         "unseal key too long: %ld bytes, Vault's keys have %d to %d bytes", n,
                         KEY_MIN_BYTES, KEY_MAX_BYTES);
    return 0;
}

/* Reads a whole secret-bearing file into locked memory, refusing files that
 * group or others can read (as ssh and doas do). */
static int read_private_file(const char *path, struct secret *buf, struct error *err)
{
    int fd;
    const char *name = path;
    if (strcmp(path, "-") == 0) {
        fd = STDIN_FILENO;
        name = "standard input";
    } else {
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return error_set(err, ERR_CONFIG, "cannot open %s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return error_set(err, ERR_CONFIG, "%s is not a regular file", path);
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
            close(fd);
            return error_set(err, ERR_CONFIG,
                             "%s holds secrets but group or others can read it (mode %04o): run "
                             "chmod 600 %s",
                             path, (unsigned)(st.st_mode & 07777), path);
        }
    }
    if (secret_alloc(buf, 4096, err) < 0) {
        if (fd != STDIN_FILENO)
            close(fd);
        return -1;
    }
    for (;;) {
        if (buf->len + 1 >= buf->cap) {
            if (buf->cap >= KEYS_FILE_MAX) {
                secret_free(buf);
                if (fd != STDIN_FILENO)
                    close(fd);
                return error_set(err, ERR_CONFIG, "%s is larger than %u bytes", name,
                                 KEYS_FILE_MAX);
            }
            struct secret bigger = {0};
            if (secret_alloc(&bigger, buf->cap * 2, err) < 0) {
                secret_free(buf);
                if (fd != STDIN_FILENO)
                    close(fd);
                return -1;
            }
            memcpy(bigger.data, buf->data, buf->len);
            bigger.len = buf->len;
            secret_free(buf);
            *buf = bigger;
        }
        ssize_t r = read(fd, buf->data + buf->len, buf->cap - 1 - buf->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            secret_free(buf);
            if (fd != STDIN_FILENO)
                close(fd);
            return error_set(err, ERR_CONFIG, "reading %s: %s", name, strerror(e));
        }
        if (r == 0)
            break;
        buf->len += (size_t)r;
    }
    buf->data[buf->len] = '\0';
    if (fd != STDIN_FILENO)
        close(fd);
    return 0;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

static int keys_from_json(const char *name, json_t *root, struct secret_list *out,
                          struct error *err)
{
    static const char *const fields[] = {"unseal_keys_b64", "keys_base64", "keys",
                                         "unseal_keys_hex", NULL};
    json_t *arr = NULL;
    const char *field = NULL;
    for (size_t i = 0; fields[i] && arr == NULL; i++) {
        json_t *a = json_object_get(root, fields[i]);
        if (json_is_array(a) && json_array_size(a) > 0) {
            arr = a;
            field = fields[i];
        }
    }
    if (arr == NULL)
        return error_set(err, ERR_CONFIG,
                         "%s is JSON but has no unseal keys (expected unseal_keys_b64 as "
                         "`vault operator init -format=json` writes it)",
                         name);
    size_t i;
    json_t *k;
    json_array_foreach(arr, i, k)
    {
        const char *v = json_string_value(k);
        if (v == NULL)
            return error_set(err, ERR_CONFIG, "%s: %s[%zu] is not a string", name, field, i);
        size_t len = strlen(v);
        if (secret_check_unseal_key(v, len, err) < 0)
            return error_wrap(err, "%s: %s[%zu]", name, field, i);
        if (secret_list_add(out, v, len, err) < 0)
            return -1;
    }
    return 0;
}

void secret_wipe_json(json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_STRING:
        explicit_bzero((char *)json_string_value(v), json_string_length(v));
        break;
    case JSON_OBJECT:
        json_object_foreach(v, key, child) secret_wipe_json(child);
        break;
    case JSON_ARRAY:
        json_array_foreach(v, i, child) secret_wipe_json(child);
        break;
    default:
        break;
    }
}

int secret_parse_keys(const char *name, const char *text, size_t text_len, struct secret_list *out,
                      struct error *err)
{
    const char *p = text;
    size_t len = text_len;
    trim(&p, &len);
    int rc = 0;
    if (len > 0 && p[0] == '{') {
        json_error_t je;
        json_t *root = json_loadb(p, len, 0, &je);
        if (root == NULL) {
            rc = error_set(err, ERR_CONFIG, "%s:%d: not valid JSON: %s", name, je.line, je.text);
        } else {
            rc = keys_from_json(name, root, out, err);
            secret_wipe_json(root);
            json_decref(root);
        }
    } else {
        int line = 0;
        const char *cur = text, *end = text + text_len;
        while (rc == 0 && cur < end) {
            const char *nl = memchr(cur, '\n', (size_t)(end - cur));
            const char *stop = nl ? nl : end;
            const char *k = cur;
            size_t kl = (size_t)(stop - cur);
            line++;
            cur = nl ? nl + 1 : end;
            trim(&k, &kl);
            if (kl == 0 || k[0] == '#')
                continue;
            if (secret_check_unseal_key(k, kl, err) < 0)
                rc = error_wrap(err, "%s:%d", name, line);
            else
                rc = secret_list_add(out, k, kl, err);
        }
    }
    if (rc == 0 && out->n == 0)
        rc = error_set(err, ERR_CONFIG, "%s holds no unseal keys", name);
    if (rc < 0)
        secret_list_free(out);
    return rc;
}

int secret_read_keys_file(const char *path, struct secret_list *out, struct error *err)
{
    struct secret buf = {0};
    if (read_private_file(path, &buf, err) < 0)
        return -1;
    int rc = secret_parse_keys(strcmp(path, "-") == 0 ? "standard input" : path, buf.data, buf.len,
                               out, err);
    secret_free(&buf);
    return rc;
}

int secret_read_token_file(const char *path, struct secret *out, struct error *err)
{
    struct secret buf = {0};
    if (read_private_file(path, &buf, err) < 0)
        return -1;
    const char *p = buf.data;
    size_t len = buf.len;
    const char *nl = memchr(p, '\n', len);
    if (nl != NULL && (size_t)(nl - p) < len) {
        const char *rest = nl;
        size_t rl = len - (size_t)(nl - p);
        trim(&rest, &rl);
        if (rl == 0)
            len = (size_t)(nl - p);
    }
    trim(&p, &len);
    int rc = 0;
    if (len == 0)
        rc = error_set(err, ERR_CONFIG, "%s holds no token", path);
    else if (memchr(p, '\n', len) != NULL)
        rc = error_set(err, ERR_CONFIG, "%s holds more than one line: a token file has one", path);
    else
        rc = secret_from(out, p, len, err);
    secret_free(&buf);
    return rc;
}

/* --- hidden prompt -------------------------------------------------------------------------- */

/* Size of rl_line_buffer: exported by libreadline but not declared in its public headers. */
extern int rl_line_buffer_len;

static volatile sig_atomic_t prompt_interrupted;
static struct secret *prompt_target;
static int prompt_done;
static int prompt_eof;
static struct error *prompt_err;

static void on_sigint(int sig)
{
    (void)sig;
    prompt_interrupted = 1;
}

/* Shows nothing of what is typed. */
static void redisplay_nothing(void)
{
}

static void line_ready(char *line)
{
    prompt_done = 1;
    if (line == NULL) {
        prompt_eof = 1;
        return;
    }
    const char *p = line;
    size_t len = strlen(line);
    trim(&p, &len);
    if (secret_from(prompt_target, p, len, prompt_err) < 0)
        prompt_eof = 2;
    explicit_bzero(line, strlen(line));
    free(line);
}

static int read_line_plain(struct secret *out, struct error *err)
{
    if (secret_alloc(out, 8192, err) < 0)
        return -1;
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        if (n + 1 >= out->cap) {
            secret_free(out);
            return error_set(err, ERR_USAGE, "input line too long");
        }
        out->data[n++] = c;
    }
    const char *p = out->data;
    size_t len = n;
    trim(&p, &len);
    memmove(out->data, p, len);
    explicit_bzero(out->data + len, out->cap - len);
    out->len = len;
    if (len == 0) {
        secret_free(out);
        return error_set(err, ERR_USAGE, "no input on standard input");
    }
    return 0;
}

int secret_prompt(const char *prompt, struct secret *out, struct error *err)
{
    if (!isatty(STDIN_FILENO))
        return read_line_plain(out, err);

    struct sigaction sa = {0}, old_int;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);

    /* Callback mode lets us notice Ctrl-C between characters and clean up
     * ourselves; readline's own signal handling is off. */
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_outstream = stderr;
    rl_instream = stdin;
    rl_redisplay_function = redisplay_nothing;
    prompt_interrupted = 0;
    prompt_done = 0;
    prompt_eof = 0;
    prompt_target = out;
    prompt_err = err;
    fputs(prompt, stderr);
    fflush(stderr);
    rl_callback_handler_install("", line_ready);
    while (!prompt_done && !prompt_interrupted) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(STDIN_FILENO, &fds);
        int r = select(STDIN_FILENO + 1, &fds, NULL, NULL, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        rl_callback_read_char();
    }
    /* Wipe what readline still holds of the line, then give the terminal back. */
    if (rl_line_buffer != NULL)
        explicit_bzero(rl_line_buffer, (size_t)rl_line_buffer_len);
    rl_free_undo_list();
    rl_callback_handler_remove();
    rl_redisplay_function = rl_redisplay;
    fputc('\n', stderr);
    sigaction(SIGINT, &old_int, NULL);
    if (prompt_interrupted) {
        secret_free(out);
        return error_set(err, ERR_INTERRUPTED, "interrupted");
    }
    if (prompt_eof == 2)
        return -1;
    if (prompt_eof || out->data == NULL) {
        secret_free(out);
        return error_set(err, ERR_USAGE, "no input");
    }
    return 0;
}

int secret_get_token(const char *token_file, int openbao, int allow_prompt, struct secret *out,
                     struct error *err)
{
    if (token_file != NULL)
        return secret_read_token_file(token_file, out, err) < 0 ? -1 : 1;
    const char *env = openbao ? getenv("BAO_TOKEN") : NULL;
    if (env == NULL || env[0] == '\0')
        env = getenv("VAULT_TOKEN");
    if (env != NULL && env[0] != '\0')
        return secret_from(out, env, strlen(env), err) < 0 ? -1 : 1;
    if (!allow_prompt || !isatty(STDIN_FILENO))
        return 0;
    return secret_prompt("Vault token (will be hidden): ", out, err) < 0 ? -1 : 1;
}

int secret_get_unseal_keys(const char *keys_file, int needed, struct secret_list *out,
                           struct error *err)
{
    if (keys_file != NULL)
        return secret_read_keys_file(keys_file, out, err);
    if (!isatty(STDIN_FILENO))
        return error_set(err, ERR_USAGE,
                         "unseal keys are needed: run on a terminal to be asked for them, or use "
                         "--keys-file FILE (or --keys-file - for standard input)");
    for (int i = 0; i < needed; i++) {
        char prompt[64];
        snprintf(prompt, sizeof prompt, "Unseal key %d of %d (will be hidden): ", i + 1, needed);
        struct secret key = {0};
        if (secret_prompt(prompt, &key, err) < 0) {
            secret_list_free(out);
            return -1;
        }
        if (secret_check_unseal_key(key.data, key.len, err) < 0) {
            /* Ask again for this one: a typo must not cost the keys already typed. */
            fprintf(stderr, "%s\n", err->msg);
            secret_free(&key);
            i--;
            continue;
        }
        int dup = 0;
        for (size_t k = 0; k < out->n; k++)
            dup |=
                out->items[k].len == key.len && memcmp(out->items[k].data, key.data, key.len) == 0;
        if (dup) {
            fprintf(stderr, "that key was already entered; enter a different one\n");
            secret_free(&key);
            i--;
            continue;
        }
        struct secret *items = realloc(out->items, (out->n + 1) * sizeof *items);
        if (items == NULL) {
            secret_free(&key);
            secret_list_free(out);
            return error_set(err, ERR_GENERIC, "out of memory");
        }
        out->items = items;
        out->items[out->n++] = key;
    }
    return 0;
}
