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

#include "text.h"

#define KEY_MIN_BYTES 16
#define KEY_MAX_BYTES 33 /* Vault: BarrierKeyLength 32 + 1 share byte */
#define KEYS_FILE_MAX (1u << 20)

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int live_count;
static int mlock_errno;  /* the first mlock failure, 0 = none */
static int mlock_warned; /* secret_mlock_warning() told it */

/* Never turned back on: a secret freed leaves copies (in libraries' buffers,
 * in the kernel's view of our pages) that a later dump would still show. */
static void dumps_off(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int secret_protect_process(struct error *err)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return error_set(err, ERR_GENERIC, "cannot turn core dumps off (RLIMIT_CORE): %s",
                         strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return error_set(err, ERR_GENERIC, "cannot turn core dumps off (PR_SET_DUMPABLE): %s",
                         strerror(errno));
    return 0;
}

int secret_mlock_warning(char *buf, size_t cap)
{
    pthread_mutex_lock(&live_lock);
    int e = mlock_errno, tell = e != 0 && !mlock_warned;
    if (tell)
        mlock_warned = 1;
    pthread_mutex_unlock(&live_lock);
    if (!tell)
        return 0;
    struct rlimit rl;
    char limit[64] = "unknown";
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            snprintf(limit, sizeof limit, "unlimited");
        else
            snprintf(limit, sizeof limit, "%llu KiB", (unsigned long long)rl.rlim_cur / 1024);
    }
    snprintf(buf, cap,
             "cannot lock the secrets' memory (mlock: %s): the keys could reach swap; raise "
             "the locked-memory limit (RLIMIT_MEMLOCK, now %s): `ulimit -l 1024` in the "
             "shell, memlock in /etc/security/limits.conf, or LimitMEMLOCK= in a systemd unit",
             strerror(e), limit);
    return 1;
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
    /* A low RLIMIT_MEMLOCK must not stop the operator: the failure is told
     * once (secret_mlock_warning), and the secret is still wiped and not dumped. */
    int locked = mlock(p, size) == 0 ? 0 : errno;
    (void)madvise(p, size, MADV_DONTDUMP);
    pthread_mutex_lock(&live_lock);
    if (live_count++ == 0)
        dumps_off();
    if (locked != 0 && mlock_errno == 0)
        mlock_errno = locked;
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
    live_count--;
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
        is_hex = text_hex_digit((unsigned char)key[i]) >= 0;
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
static volatile sig_atomic_t *cancel_reads;

void secret_cancel_reads_on(volatile sig_atomic_t *flag)
{
    cancel_reads = flag;
}

static int reads_cancelled(void)
{
    return cancel_reads != NULL && *cancel_reads;
}

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
        /* A stop that came before this read would not interrupt it: look first. */
        ssize_t r =
            reads_cancelled() ? -1 : read(fd, buf->data + buf->len, buf->cap - 1 - buf->len);
        if (r < 0 && reads_cancelled())
            errno = EINTR;
        if (r < 0 && errno == EINTR && !reads_cancelled())
            continue;
        if (r < 0 && errno == EINTR) {
            secret_free(buf);
            if (fd != STDIN_FILENO)
                close(fd);
            return error_set(err, ERR_INTERRUPTED, "interrupted while reading %s", name);
        }
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
    if (fd != STDIN_FILENO)
        close(fd);
    if (reads_cancelled()) { /* the signal came with the end of the input: stopped all the same */
        secret_free(buf);
        return error_set(err, ERR_INTERRUPTED, "interrupted while reading %s", name);
    }
    buf->data[buf->len] = '\0';
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

/* The shares and threshold init's JSON records next to the keys taken (field
 * names in docs/vault-cli.md §2): left 0 when absent or not a valid pair. */
static void keys_record_from_json(json_t *root, int recovery, struct secret_keys_record *rec)
{
    json_t *s = json_object_get(root, recovery ? "recovery_keys_shares" : "unseal_shares"),
           *t = json_object_get(root, recovery ? "recovery_keys_threshold" : "unseal_threshold");
    rec->recovery = recovery;
    if (!json_is_integer(s) || !json_is_integer(t))
        return;
    json_int_t sv = json_integer_value(s), tv = json_integer_value(t);
    if (sv < 1 || sv > 255 || tv < 1 || tv > sv)
        return;
    rec->shares = (int)sv;
    rec->threshold = (int)tv;
}

static int keys_from_json(const char *name, json_t *root, struct secret_list *out,
                          struct secret_keys_record *rec, struct error *err)
{
    /* init's JSON under auto-unseal has empty unseal_keys_* and the recovery keys, which
     * generate-root, rekey --target recovery and a migration away from the auto seal take. */
    static const char *const fields[] = {
        "unseal_keys_b64",   "keys_base64",       "keys", "unseal_keys_hex",
        "recovery_keys_b64", "recovery_keys_hex", NULL};
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
                         "%s is JSON but has no unseal keys (expected unseal_keys_b64, or "
                         "recovery_keys_b64 under auto-unseal, as `vault operator init "
                         "-format=json` writes them)",
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
    if (rec != NULL)
        keys_record_from_json(root, strncmp(field, "recovery_", 9) == 0, rec);
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

const char *secret_json_fault(const json_error_t *je)
{
    switch (json_error_code(je)) {
    case json_error_invalid_utf8:
        return "not UTF-8";
    case json_error_premature_end_of_input:
        return "it ends too early";
    case json_error_end_of_input_expected:
        return "text after the end of the document";
    case json_error_null_character:
        return "a NUL byte";
    case json_error_invalid_syntax:
        /* A fixed prefix of jansson's text, never what follows it. */
        if (strncmp(je->text, "control character", 17) == 0)
            return "a control character";
        return "invalid syntax";
    default:
        return "invalid JSON";
    }
}

/* Line and column of a JSON fault in text, whose parse started at p (after
 * leading whitespace): jansson counts from p. */
static void json_fault_place(const char *text, const char *p, const json_error_t *je, int *line,
                             int *column)
{
    int lines_before = 0;
    const char *line_start = text;
    for (const char *c = text; c < p; c++)
        if (*c == '\n') {
            lines_before++;
            line_start = c + 1;
        }
    *line = je->line + lines_before;
    *column = je->line == 1 ? je->column + (int)(p - line_start) : je->column;
}

int secret_parse_keys(const char *name, const char *text, size_t text_len, struct secret_list *out,
                      struct error *err)
{
    return secret_parse_keys_record(name, text, text_len, out, NULL, err);
}

int secret_parse_keys_record(const char *name, const char *text, size_t text_len,
                             struct secret_list *out, struct secret_keys_record *rec,
                             struct error *err)
{
    if (rec != NULL)
        memset(rec, 0, sizeof *rec);
    const char *p = text;
    size_t len = text_len;
    trim(&p, &len);
    int rc = 0;
    if (len > 0 && p[0] == '{') {
        json_error_t je;
        json_t *root = json_loadb(p, len, 0, &je);
        if (root == NULL) {
            int line, column;
            json_fault_place(text, p, &je, &line, &column);
            rc = error_set(err, ERR_CONFIG, "%s:%d:%d: not valid JSON: %s", name, line, column,
                           secret_json_fault(&je));
        } else {
            rc = keys_from_json(name, root, out, rec, err);
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
    if (rc < 0) {
        secret_list_free(out);
        if (rec != NULL)
            memset(rec, 0, sizeof *rec);
    }
    return rc;
}

int secret_read_keys_file(const char *path, struct secret_list *out, struct error *err)
{
    return secret_read_keys_file_record(path, out, NULL, err);
}

int secret_read_keys_file_record(const char *path, struct secret_list *out,
                                 struct secret_keys_record *rec, struct error *err)
{
    struct secret buf = {0};
    if (rec != NULL)
        memset(rec, 0, sizeof *rec);
    if (read_private_file(path, &buf, err) < 0)
        return -1;
    int rc = secret_parse_keys_record(strcmp(path, "-") == 0 ? "standard input" : path, buf.data,
                                      buf.len, out, rec, err);
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
    else if (secret_check_token(p, len, path, err) < 0)
        rc = -1;
    else
        rc = secret_from(out, p, len, err);
    secret_free(&buf);
    return rc;
}

/* --- hidden prompt -------------------------------------------------------------------------- */

/* Size of rl_line_buffer: exported by libreadline but not declared in its public headers. */
extern int rl_line_buffer_len;

/* The longest line the prompt takes; rl_line_buffer is made this large before
 * the first key, so readline never reallocs it (which would leave a copy). */
#define PROMPT_LINE_MAX 8192

/* The signals that end the prompt (the terminal restored first), stop it
 * (Ctrl-Z: restored, then stopped; hidden again when continued) or continue it. */
static const int prompt_signals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT};
#define NPROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])

static volatile sig_atomic_t prompt_caught[NPROMPT_SIGNALS];
static int prompt_ended_by; /* the signal that ended the last prompt, 0 = none */
static struct secret *prompt_target;
static int prompt_done;
static int prompt_eof;
static int prompt_esc; /* inside an escape sequence: 1 after ESC, 2 inside CSI/SS3 */
static struct error *prompt_err;

static void on_prompt_signal(int sig)
{
    for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
        if (prompt_signals[i] == sig)
            prompt_caught[i] = 1;
}

/* The first signal caught since the last call (in prompt_signals' order), or 0. */
static int prompt_take_signal(void)
{
    for (size_t i = 0; i < NPROMPT_SIGNALS; i++) {
        if (prompt_caught[i]) {
            prompt_caught[i] = 0;
            return prompt_signals[i];
        }
    }
    return 0;
}

int secret_prompt_signal(void)
{
    return prompt_ended_by;
}

/* The signal mask while waiting for a key: the prompt's signals unblocked. */
static sigset_t prompt_wait_mask;

static int prompt_signal_pending(void)
{
    for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
        if (prompt_caught[i])
            return 1;
    return 0;
}

/* readline's key reader. Its own waits with every signal unblocked and, after
 * one, waits again: a Ctrl-\ that also flushed the typed input would leave it
 * waiting for a key that never comes. This one waits with only the prompt's
 * signals unblocked and, once one is caught, hands readline a NUL (ignored by
 * the prompt's keymap) so that the prompt's loop sees the signal. */
static int prompt_getc(FILE *in)
{
    int fd = fileno(in);
    for (;;) {
        if (prompt_signal_pending())
            return 0;
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &prompt_wait_mask);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return EOF;
        unsigned char c;
        ssize_t n = read(fd, &c, 1);
        if (n == 1)
            return c;
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return EOF;
    }
}

/* Shows nothing of what is typed. */
static void redisplay_nothing(void)
{
}

static void wipe_line(void)
{
    if (rl_line_buffer != NULL)
        explicit_bzero(rl_line_buffer, (size_t)rl_line_buffer_len);
    rl_point = rl_end = 0;
}

/* The key functions of the prompt's own keymap. They edit rl_line_buffer in
 * place, so nothing reaches readline's undo list or kill ring, and nothing
 * is completed, yanked, recalled from history or bound by ~/.inputrc. */
static int key_insert(int count, int key)
{
    (void)count;
    if (prompt_esc == 1) { /* ESC x: an Alt chord; ESC [ / ESC O: a sequence follows */
        prompt_esc = key == '[' || key == 'O' ? 2 : 0;
        return 0;
    }
    if (prompt_esc == 2) { /* parameters until the final byte (cursor keys, F-keys) */
        if (key >= 0x40 && key <= 0x7e)
            prompt_esc = 0;
        return 0;
    }
    if (rl_end + 1 >= rl_line_buffer_len || rl_end + 1 >= PROMPT_LINE_MAX)
        return 0; /* full: the rest is dropped, and the key will not check */
    rl_line_buffer[rl_end++] = (char)key;
    rl_line_buffer[rl_end] = '\0';
    rl_point = rl_end;
    return 0;
}

static int key_rubout(int count, int key)
{
    (void)count, (void)key;
    prompt_esc = 0;
    if (rl_end > 0)
        rl_line_buffer[--rl_end] = '\0';
    rl_point = rl_end;
    return 0;
}

static int key_wipe(int count, int key)
{
    (void)count, (void)key;
    prompt_esc = 0;
    wipe_line();
    return 0;
}

static int key_escape(int count, int key)
{
    (void)count, (void)key;
    prompt_esc = 1;
    return 0;
}

static int key_ignore(int count, int key)
{
    (void)count, (void)key;
    prompt_esc = 0;
    return 0;
}

static int key_accept(int count, int key)
{
    (void)count, (void)key;
    prompt_esc = 0;
    const char *p = rl_line_buffer;
    size_t len = (size_t)rl_end;
    trim(&p, &len);
    if (secret_from(prompt_target, p, len, prompt_err) < 0)
        prompt_eof = 2;
    wipe_line();
    prompt_done = 1;
    return 0;
}

static int key_eof(int count, int key)
{
    (void)count, (void)key;
    if (rl_end == 0) { /* Ctrl-D on an empty line */
        prompt_eof = 1;
        prompt_done = 1;
    }
    return 0;
}

static Keymap prompt_keymap(void)
{
    Keymap km = rl_make_bare_keymap();
    if (km == NULL)
        return NULL;
    for (int c = 0; c < KEYMAP_SIZE; c++)
        rl_bind_key_in_map(c, (c >= 0x20 && c != 0x7f) ? key_insert : key_ignore, km);
    rl_bind_key_in_map('\r', key_accept, km);
    rl_bind_key_in_map('\n', key_accept, km);
    rl_bind_key_in_map(0x7f, key_rubout, km); /* DEL: Backspace on most terminals */
    rl_bind_key_in_map(0x08, key_rubout, km); /* ^H */
    rl_bind_key_in_map(0x15, key_wipe, km);   /* ^U */
    rl_bind_key_in_map(0x17, key_wipe, km);   /* ^W */
    rl_bind_key_in_map(0x04, key_eof, km);    /* ^D */
    rl_bind_key_in_map(0x1b, key_escape, km); /* ESC */
    return km;
}

/* End of input from readline itself (the terminal hung up). */
static void line_ready(char *line)
{
    prompt_done = 1;
    if (line == NULL) {
        prompt_eof = 1;
        return;
    }
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
        ssize_t r = reads_cancelled() ? -1 : read(STDIN_FILENO, &c, 1);
        if (r < 0 && reads_cancelled())
            errno = EINTR;
        if (r < 0 && errno == EINTR && !reads_cancelled())
            continue;
        if (r < 0 && errno == EINTR) {
            secret_free(out);
            return error_set(err, ERR_INTERRUPTED, "interrupted while reading standard input");
        }
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

/* Wipes and frees readline's undo list (its entries may hold copies of text). */
static void wipe_undo_list(void)
{
    for (UNDO_LIST *u = rl_undo_list; u != NULL; u = u->next)
        if (u->text != NULL)
            explicit_bzero(u->text, strlen(u->text));
    rl_free_undo_list();
}

/* readline reads ~/.inputrc (or $INPUTRC) when it first starts: not for us. */
static void readline_start(void)
{
    static int started;
    if (started)
        return;
    started = 1;
    rl_outstream = stderr; /* readline would take stdout, which may be a pipe */
    rl_instream = stdin;
    char *saved = getenv("INPUTRC") ? strdup(getenv("INPUTRC")) : NULL;
    setenv("INPUTRC", "/dev/null", 1);
    rl_initialize();
    if (saved != NULL) {
        setenv("INPUTRC", saved, 1);
        free(saved);
    } else {
        unsetenv("INPUTRC");
    }
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGQUIT:
        return "SIGQUIT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "a signal";
    }
}

int secret_prompt(const char *prompt, struct secret *out, struct error *err)
{
    prompt_ended_by = 0;
    if (!isatty(STDIN_FILENO))
        return read_line_plain(out, err);

    /* The prompt's signals are blocked except while waiting for a key (in
     * prompt_getc), so the loop sees each one and handles it outside the handler. */
    struct sigaction sa = {0}, old[NPROMPT_SIGNALS];
    sa.sa_handler = on_prompt_signal;
    sigemptyset(&sa.sa_mask);
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < NPROMPT_SIGNALS; i++) {
        prompt_caught[i] = 0;
        sigaction(prompt_signals[i], NULL, &old[i]);
        /* A signal ignored by whoever started us (nohup's SIGHUP) stays ignored. */
        if (old[i].sa_handler == SIG_IGN)
            continue;
        sigaddset(&block, prompt_signals[i]);
        sigaction(prompt_signals[i], &sa, NULL);
    }
    sigprocmask(SIG_BLOCK, &block, &prompt_wait_mask);
    for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
        sigdelset(&prompt_wait_mask, prompt_signals[i]);

    readline_start();
    /* Callback mode lets us handle signals between characters ourselves;
     * readline's own signal handling is off. */
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_inhibit_completion = 1;
    rl_outstream = stderr;
    rl_instream = stdin;
    rl_redisplay_function = redisplay_nothing;
    rl_getc_function = prompt_getc;
    rl_variable_bind("enable-bracketed-paste", "off"); /* a paste is typed text */
    rl_variable_bind("convert-meta", "off");           /* 8-bit input to key_insert, */
    rl_variable_bind("input-meta", "on");              /* not to meta key bindings */
    Keymap km = prompt_keymap();
    Keymap saved_km = rl_get_keymap();
    prompt_done = 0;
    prompt_eof = 0;
    prompt_esc = 0;
    prompt_target = out;
    prompt_err = err;
    fputs(prompt, stderr);
    fflush(stderr);
    rl_callback_handler_install("", line_ready);
    if (rl_end == 0 && rl_line_buffer_len < PROMPT_LINE_MAX)
        rl_extend_line_buffer(PROMPT_LINE_MAX);
    if (km != NULL)
        rl_set_keymap(km);
    int ended = 0;
    while (!prompt_done && !ended && km != NULL) {
        int sig = prompt_take_signal();
        if (sig == SIGTSTP) {
            /* Ctrl-Z: the terminal as it was, then stop; continued: hidden again. */
            (*rl_deprep_term_function)();
            fputc('\n', stderr);
            struct sigaction dfl = {0}, mine;
            dfl.sa_handler = SIG_DFL;
            sigemptyset(&dfl.sa_mask);
            sigaction(SIGTSTP, &dfl, &mine);
            sigset_t tstp;
            sigemptyset(&tstp);
            sigaddset(&tstp, SIGTSTP);
            raise(SIGTSTP);
            sigprocmask(SIG_UNBLOCK, &tstp, NULL); /* stops here until SIGCONT */
            sigprocmask(SIG_BLOCK, &tstp, NULL);
            sigaction(SIGTSTP, &mine, NULL);
            wipe_line(); /* start the key again: what was typed is gone with the screen */
            (*rl_prep_term_function)(1);
            fputs(prompt, stderr);
            fflush(stderr);
            continue;
        }
        if (sig == SIGCONT) {
            /* Continued after a stop we did not see (SIGSTOP): hide the input again. */
            (*rl_deprep_term_function)();
            (*rl_prep_term_function)(1);
            continue;
        }
        if (sig != 0) {
            ended = sig;
            break;
        }
        rl_callback_read_char(); /* one key, waited for in prompt_getc */
    }
    /* Wipe what readline still holds of the line, then give the terminal back. */
    wipe_line();
    wipe_undo_list();
    rl_callback_handler_remove();
    rl_set_keymap(saved_km);
    if (km != NULL)
        rl_free_keymap(km);
    rl_redisplay_function = rl_redisplay;
    rl_getc_function = rl_getc;
    fputc('\n', stderr);
    for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
        sigaction(prompt_signals[i], &old[i], NULL);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    if (km == NULL) {
        secret_free(out);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    if (ended) {
        prompt_ended_by = ended;
        secret_free(out);
        if (ended == SIGINT)
            return error_set(err, ERR_INTERRUPTED, "interrupted");
        return error_set(err, ERR_INTERRUPTED, "interrupted by %s", signal_name(ended));
    }
    if (prompt_eof == 2)
        return -1;
    if (prompt_eof || out->data == NULL) {
        secret_free(out);
        return error_set(err, ERR_USAGE, "no input");
    }
    return 0;
}

int secret_check_token(const char *t, size_t len, const char *what, struct error *err)
{
    if (len == 0)
        return error_set(err, ERR_USAGE, "%s: the token is empty", what);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7f)
            return error_set(err, ERR_USAGE,
                             "%s: the token holds a control character (0x%02x at byte %zu); a "
                             "token is one line of printable text",
                             what, c, i + 1);
    }
    return 0;
}

int secret_get_token(const char *token_file, int openbao, int allow_prompt, struct secret *out,
                     struct error *err)
{
    if (token_file != NULL)
        return secret_read_token_file(token_file, out, err) < 0 ? -1 : 1;
    const char *name = "BAO_TOKEN";
    const char *env = openbao ? getenv(name) : NULL;
    if (env == NULL || env[0] == '\0') {
        name = "VAULT_TOKEN";
        env = getenv(name);
    }
    if (env != NULL && env[0] != '\0') {
        if (secret_check_token(env, strlen(env), name, err) < 0)
            return -1;
        return secret_from(out, env, strlen(env), err) < 0 ? -1 : 1;
    }
    if (!allow_prompt || !isatty(STDIN_FILENO))
        return 0;
    if (secret_prompt("Vault token (will be hidden): ", out, err) < 0)
        return -1;
    if (secret_check_token(out->data, out->len, "the token typed", err) < 0) {
        secret_free(out);
        return -1;
    }
    return 1;
}

int secret_get_unseal_keys(const char *keys_file, int needed, int allow_partial,
                           struct secret_list *out, struct error *err)
{
    if (keys_file != NULL)
        return secret_read_keys_file(keys_file, out, err);
    if (!isatty(STDIN_FILENO))
        return error_set(err, ERR_USAGE,
                         "unseal keys are needed: run on a terminal to be asked for them, or use "
                         "--keys-file FILE (or --keys-file - for standard input)");
    for (int i = 0; i < needed; i++) {
        char prompt[96];
        snprintf(prompt, sizeof prompt,
                 allow_partial ? "Unseal key %d of %d (empty line: submit the keys given so far): "
                               : "Unseal key %d of %d (will be hidden): ",
                 i + 1, needed);
        struct secret key = {0};
        if (secret_prompt(prompt, &key, err) < 0) {
            secret_list_free(out);
            return -1;
        }
        if (key.len == 0 && allow_partial) {
            secret_free(&key);
            if (out->n > 0)
                break; /* a key holder with fewer keys than the threshold */
            fprintf(stderr, "no key given yet: enter at least one, or Ctrl-C to stop\n");
            i--;
            continue;
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
