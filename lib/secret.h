/* Secrets (unseal keys, root and bearer tokens): held in locked, non-dumpable
 * memory and wiped on every path; core dumps off for the whole process. Also
 * the hidden readline prompt (no echo, no history, no completion, no
 * ~/.inputrc, the terminal restored on every signal that ends or stops it),
 * local validation of unseal keys and tokens, and keys files. */
#ifndef VH_SECRET_H
#define VH_SECRET_H

#include <signal.h>
#include <stddef.h>

#include <jansson.h>

#include "error.h"

/* A NUL-terminated secret in locked memory. */
struct secret {
    char *data;
    size_t len;
    size_t cap; /* mapped size */
};

/* Turns core dumps off for the whole process, for good: RLIMIT_CORE 0 (soft
 * and hard) and not dumpable. The plugin calls it first thing, before any
 * credential or key is read (a kubeconfig token is a secret too). */
int secret_protect_process(struct error *err);

/* The flag a caller's signal handler sets to stop the run (NULL: none): a read of a
 * keys file or token from standard input that a signal interrupts then ends with
 * ERR_INTERRUPTED instead of reading on. */
void secret_cancel_reads_on(volatile sig_atomic_t *flag);

/* Allocates a zeroed secret buffer able to hold cap-1 characters, locked in
 * memory when RLIMIT_MEMLOCK allows (else see secret_mlock_warning). The first
 * one also turns core dumps off, for good, as secret_protect_process does. */
int secret_alloc(struct secret *s, size_t cap, struct error *err);
/* 1 with a message in buf the first time it is called after a secret could not
 * be locked in memory (what failed, and how to raise the limit); else 0. */
int secret_mlock_warning(char *buf, size_t cap);
/* Copies text into a new secret. */
int secret_from(struct secret *s, const char *text, size_t len, struct error *err);
/* Wipes and unmaps; safe on a zeroed struct. */
void secret_free(struct secret *s);
/* Number of live secret buffers (tests). */
int secret_live_count(void);

/* A list of secrets (unseal keys). */
struct secret_list {
    struct secret *items;
    size_t n;
};
int secret_list_add(struct secret_list *l, const char *text, size_t len, struct error *err);
void secret_list_free(struct secret_list *l);
/* Wipes the entries after the first n. */
void secret_list_truncate(struct secret_list *l, size_t n);

/* Checks an unseal key the way Vault decodes it (docs/vault-cli.md §3.4): hex first,
 * then standard base64; the decoded key must be 16..33 bytes. Leading and
 * trailing spaces must already be trimmed. The message never contains the key. */
int secret_check_unseal_key(const char *key, size_t len, struct error *err);

/* Reads unseal keys from a file: one key per line (blank lines and lines
 * starting with '#' skipped), or the JSON of `vault operator init
 * -format=json` / `init --output` (unseal_keys_b64, else keys_base64/keys).
 * path "-" reads stdin. A file that group or others can read is refused.
 * Each key is checked with secret_check_unseal_key (error names the line). */
int secret_read_keys_file(const char *path, struct secret_list *out, struct error *err);

/* The same from a keys file's text (len bytes, need not be NUL-terminated);
 * name stands for the file in messages. */
int secret_parse_keys(const char *name, const char *text, size_t len, struct secret_list *out,
                      struct error *err);

/* What a keys file records beside its keys: init's JSON says how many shares
 * and what threshold they were made for (unseal_shares/unseal_threshold, or
 * recovery_keys_shares/recovery_keys_threshold when the keys taken are the
 * recovery keys). 0/0 when the file does not say (key lines, or no valid pair). */
struct secret_keys_record {
    int shares, threshold;
    int recovery; /* the keys are recovery keys */
};

/* secret_read_keys_file and secret_parse_keys that also fill *rec from the
 * same single parse of the locked buffer (no second read of the file). */
int secret_read_keys_file_record(const char *path, struct secret_list *out,
                                 struct secret_keys_record *rec, struct error *err);
int secret_parse_keys_record(const char *name, const char *text, size_t len,
                             struct secret_list *out, struct secret_keys_record *rec,
                             struct error *err);

/* What is wrong with JSON that failed to parse, in words that hold none of
 * its content ("a control character", "not UTF-8", ...): jansson's own text
 * quotes up to 16 characters near the fault, a piece of a key or token when
 * the input holds secrets. Callers add the place: file, line and column. */
const char *secret_json_fault(const json_error_t *je);

/* Overwrites every string inside v (jansson keeps its own copies of parsed
 * text): call before json_decref on a document that held secrets. */
void secret_wipe_json(json_t *v);

/* Checks a token (a Vault token, or a bearer token for the API server): not
 * empty, and no control character (CR and LF would split the stdin line that
 * `sh` reads in the pod, or an HTTP header; the others are no part of a
 * token). what names the source for the message ("VAULT_TOKEN", a file);
 * the message never holds the token. */
int secret_check_token(const char *t, size_t len, const char *what, struct error *err);

/* Reads a token (first line, trimmed) from a file that only its owner can read. */
int secret_read_token_file(const char *path, struct secret *out, struct error *err);

/* A Vault token from, in order: token_file (when not NULL), the environment
 * (VAULT_TOKEN, or BAO_TOKEN then VAULT_TOKEN when openbao), the hidden
 * prompt when allow_prompt and stdin is a terminal; checked with
 * secret_check_token. Returns 1 when found, 0 when there is none (and no
 * prompt was allowed), -1 on error. */
int secret_get_token(const char *token_file, int openbao, int allow_prompt, struct secret *out,
                     struct error *err);

/* Unseal keys from keys_file ("-" = stdin) or, without one, `needed` keys
 * asked one by one on the terminal ("Unseal key 1 of 3: "), each checked as
 * it is typed. With allow_partial (a key holder with one share), an empty
 * line after at least one key ends the input early. */
int secret_get_unseal_keys(const char *keys_file, int needed, int allow_partial,
                           struct secret_list *out, struct error *err);

/* Asks for a secret on the terminal with readline: input hidden, nothing in
 * history, no completion, no ~/.inputrc, editing limited to Backspace and
 * Ctrl-U, the line buffer wiped (and nothing in readline's undo list or kill
 * ring). SIGINT, SIGQUIT, SIGTERM and SIGHUP restore the terminal and return
 * ERR_INTERRUPTED (secret_prompt_signal() tells which); SIGTSTP restores it,
 * then stops; when continued the input is hidden again and the key asked
 * again. End of input returns ERR_USAGE. When stdin is not a terminal, reads
 * one line from stdin instead (no prompt). */
int secret_prompt(const char *prompt, struct secret *out, struct error *err);

/* The signal that ended the last prompt, 0 when none did. A process that
 * unwinds after it should end by that signal (SIGQUIT, SIGTERM, SIGHUP). */
int secret_prompt_signal(void);

#endif
