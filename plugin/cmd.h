/* The command table: each plugin/cmd-<name>.c ends in one declarative
 * `const struct cmd_entry cmd_<name>_entry` (name, alias, options, usage,
 * help, precondition flags, exec function), and cmd.c holds the one table.
 * One option table per command drives parsing, --help and completion. */
#ifndef VH_CMD_H
#define VH_CMD_H

#include <signal.h>
#include <stdio.h>

#include "ceremony.h"
#include "error.h"
#include "kube.h"
#include "kubeconfig.h"
#include "wait.h"

/* Process exit codes (README "Exit codes"). */
enum exit_code {
    EXIT_OK = 0,
    EXIT_ERROR = 1,       /* failed, or could not tell */
    EXIT_DEGRADED = 2,    /* status: works, quorum holds, something needs attention */
    EXIT_UNAVAILABLE = 3, /* status: no active node or no quorum */
    EXIT_USAGE = 64,      /* bad flags or arguments */
    EXIT_INTERRUPTED = 130,
};

enum output_format { OUTPUT_TABLE, OUTPUT_WIDE, OUTPUT_JSON, OUTPUT_YAML };

enum option_type { OPT_FLAG, OPT_STRING, OPT_INT };

struct cmd_option {
    const char *long_name; /* without dashes */
    char short_name;       /* 0 = none */
    enum option_type type;
    const char *arg_name; /* shown in help: --output FORMAT */
    const char *help;
    /* What completes the value: a '|'-separated list ("table|wide|json|yaml"), or
     * "@pods", "@contexts", "@namespaces", "@files", "@clusters", "@users"; NULL = nothing. */
    const char *complete;
};

#define CMD_OPTIONS_MAX 32

/* Parsed values of one command's options, indexed like its option table. */
struct cmd_args {
    const struct cmd_option *options;
    const char *values[CMD_OPTIONS_MAX]; /* last value given, NULL when absent */
    int counts[CMD_OPTIONS_MAX];         /* how many times given */
    int argc;                            /* positional arguments */
    char **argv;
};

struct global_options {
    struct kubeconfig_flags kc;
    long request_timeout_ms;
    long wait_timeout_ms; /* --timeout: each wait's limit; 0 = the command's default */
    enum output_format output;
    const char *release;
    const char *statefulset;
    const char *container; /* NULL = from the chart (vault / openbao) */
    int no_color;
    int verbose;
    enum kube_read_via read_via; /* --read-via */
    int request_timeout_set;     /* --request-timeout was given */
};

struct cmd_context {
    struct global_options *g;
    struct rest_config *cfg;  /* NULL for CMD_NO_CLUSTER commands */
    struct kube_client *kube; /* NULL for CMD_NO_CLUSTER commands */
    /* All text goes to out and err: they sanitize what is written (lib/text), so
     * remote text (names, reasons, Status messages, what pods print) cannot
     * drive the terminal. Unbuffered: bytes written to out_raw keep their place. */
    FILE *out;
    FILE *err;
    /* The real stdout and stderr, for bytes that must pass as they are: a byte-exact
     * stream (exec's stdout into a pipe or file, snapshot save -), a rendered table
     * or colorize() string (sanitized before colour was added), a progress line
     * made of our own text and control sequences. Never remote text as such. */
    FILE *out_raw;
    FILE *err_raw;
    int color;        /* colour on: out is a terminal, no --no-color, no NO_COLOR */
    const char *prog; /* "kubectl vault-ha" or the binary name, for messages */
    /* A Vault token this run already holds (bootstrap's new root token), used
     * by the status it shows at the end; borrowed, never stored. */
    const struct secret *token;
};

enum cmd_flags {
    CMD_NO_CLUSTER = 1 << 0,  /* runs without kubeconfig/API access (version, completion) */
    CMD_NEEDS_TOKEN = 1 << 1, /* needs a Vault token (VAULT_TOKEN, --token-file, prompt) */
    CMD_DESTRUCTIVE = 1 << 2, /* confirmation on a terminal, --yes otherwise; no short alias */
    CMD_HIDDEN = 1 << 3,      /* not listed in help (__complete) */
    CMD_RAW_ARGS = 1 << 4,    /* everything after "--" is passed through untouched (exec) */
    CMD_NO_ARGS = 1 << 5,     /* no positional arguments: main.c refuses them */
};

struct cmd_entry {
    const char *name;
    const char *alias; /* NULL = none */
    const char *summary;
    const char *usage; /* after "kubectl vault-ha NAME " */
    const char *help;  /* description and examples, "kubectl vault-ha ..." as users type it */
    const struct cmd_option *options; /* terminated by { 0 } */
    const char *args_complete; /* what completes positional arguments, like cmd_option.complete */
    const char *const *subcommands; /* NULL-terminated words for the first argument, or NULL */
    int flags;
    int (*exec)(struct cmd_context *ctx, const struct cmd_args *args);
};

/* Option access by long name. A name not in the command's table aborts: a programming error. */
const char *cmd_opt_str(const struct cmd_args *a, const char *name);
int cmd_opt_flag(const struct cmd_args *a, const char *name);
/* Parses an integer option; returns def when absent, -1 and err on a bad value. */
int cmd_opt_int(const struct cmd_args *a, const char *name, long def, long *out, struct error *err);

/* Loads the kubeconfig and makes the API client (done by main for every command
 * without CMD_NO_CLUSTER; such commands call it when they need the cluster).
 * Returns EXIT_OK, or an exit code after reporting. */
int cmd_connect(struct cmd_context *ctx);

struct ops;
struct vault_cluster;
struct pod_view;
struct secret;
struct secret_list;
struct join_options;

/* Finds the Vault StatefulSet from the global flags, fills *o (progress to
 * stderr) and asks every running pod for its vault status. Returns EXIT_OK, or an
 * exit code after reporting. */
int cmd_open_cluster(struct cmd_context *ctx, struct ops *o, struct pod_view **views);
void cmd_close_cluster(struct ops *o, struct pod_view *views);

/* The running pods named on the command line (names or ordinals), as indexes
 * into vc->pods, *n of them (0: none named). Returns EXIT_OK, or EXIT_USAGE after
 * naming an unknown or stopped pod. */
int cmd_select_pods(struct cmd_context *ctx, struct ops *o, const struct cmd_args *args,
                    size_t *out, size_t *n);

/* The Vault token from --token-file, VAULT_TOKEN (BAO_TOKEN) or, when
 * allow_prompt, the hidden prompt; *found tells whether there is one (there may be
 * none when not required). Returns EXIT_OK, or an exit code after reporting. */
int cmd_get_token(struct cmd_context *ctx, const struct cmd_args *args,
                  const struct vault_cluster *vc, int allow_prompt, int required,
                  struct secret *token, int *found);

/* Unseal keys from --keys-file or the prompt, at most threshold of them.
 * Returns 0, or an exit code after reporting. */
int cmd_get_keys(struct cmd_context *ctx, const struct cmd_args *args, int threshold,
                 struct secret_list *keys);

/* Tells, once, that secrets could not be locked in memory (lib/secret). */
void cmd_secret_warnings(const struct cmd_context *ctx);

/* Asks "question [y/N] " on the terminal for DESTRUCTIVE commands; without a
 * terminal, --yes is required. Returns 1 to go on. */
int cmd_confirm(struct cmd_context *ctx, const struct cmd_args *args, const char *question);

/* For irreversible changes: asks on the terminal for `expected` (the
 * StatefulSet's name) to be typed, after saying what cannot be undone; --yes
 * skips it; without a terminal --yes is required. Returns 1 to go on. */
int cmd_confirm_typed(struct cmd_context *ctx, const struct cmd_args *args, const char *what,
                      const char *expected);

/* Sets up o for this command: progress to ctx->err (cmd_progress_line and
 * cmd_progress_wait), --timeout, Ctrl-C ending waits (cmd_interrupted). */
void cmd_ops_init(struct cmd_context *ctx, struct ops *o);
void cmd_progress_line(void *ctx, const char *line);
void cmd_progress_wait(void *ctx, enum wait_event ev, const char *text);
/* How the run answers SIGINT, SIGTERM and SIGHUP (plugin/interrupt.c), weakest first. */
enum interrupt_mode {
    INTERRUPT_DEFAULT, /* they end the process */
    INTERRUPT_WAITS,   /* the first Ctrl-C during a wait ends the wait; else as DEFAULT */
    INTERRUPT_STEPS,   /* they set cmd_interrupted: a plan or a watch stops between two steps
                        * and releases its lock; a second Ctrl-C ends the process */
    INTERRUPT_STREAM,  /* they set cmd_interrupted, however many: a stream ends and removes its
                        * temporary file; SIGPIPE is ignored */
};
/* Sets the mode and returns the one before, to put back. */
enum interrupt_mode cmd_interrupt_mode(enum interrupt_mode m);
/* Raises the mode to m when it is weaker. */
void cmd_interrupt_at_least(enum interrupt_mode m);
/* A wait of cmd_progress_wait begins (1) or ends (0). */
void cmd_interrupt_waiting(int on);
/* Set by an interrupt the mode does not end the process for; every wait, stream and plan
 * step watches it (o->cancel). */
extern volatile sig_atomic_t cmd_interrupted;

/* The active pod: at once when views show one, else after waiting for a
 * leader election (ops_wait_active; views are refreshed then). Returns 0, or
 * an exit code after reporting why there is none. */
int cmd_need_active(struct cmd_context *ctx, struct ops *o, struct pod_view **views, char *active,
                    size_t cap);

struct bring_up;
/* ops_bring_up with its failure reported: EXIT_OK when every pod is back,
 * EXIT_INTERRUPTED after Ctrl-C, else EXIT_ERROR. */
int cmd_bring_up(struct cmd_context *ctx, struct ops *o, const struct bring_up *b);

struct vault_init_result;
struct init_request;
/* The init flags of args: shares and threshold, and with pgp_and_recovery (init has them,
 * bootstrap does not) the PGP keys and the recovery shares. Returns -1 and err on a bad value. */
int cmd_init_request(const struct cmd_args *args, int pgp_and_recovery, struct init_request *req,
                     struct error *err);
/* Runs `operator init` in pod index idx with req (checked by lib/init) and writes the keys to
 * output (0600, never overwritten, fsynced) or prints them once when it is NULL (init and
 * bootstrap). */
int cmd_init_pod(struct cmd_context *ctx, struct ops *o, size_t idx, const struct init_request *req,
                 const char *output, struct vault_init_result *result);

/* --- key ceremonies (plugin/ceremony.c; rekey, generate-root, rotate) --- */
struct cmd_ceremony {
    struct ops o;
    struct pod_view *views;
    char active[256]; /* the active pod, where every call runs */
    char version[64]; /* its Vault version */
    struct secret token;
    struct ceremony c; /* token, flavor and --target filled in */
};
/* Opens the cluster, finds the active pod (waiting for an election), reads the
 * token (--token-file, VAULT_TOKEN, prompt) and says so when token_always (rotate)
 * or the version (OpenBao's rotate-keys, unknown) needs one and there is none; Vault
 * 2.x without one goes on without (enable_unauthenticated_access), unprompted. target: rekey's
 * --target (barrier or recovery), NULL for the ceremonies that have no such option. Returns 0 or an
 * exit code after reporting. */
int cmd_ceremony_open(struct cmd_context *ctx, const struct cmd_args *args, const char *target,
                      int token_always, struct cmd_ceremony *cc);
void cmd_ceremony_close(struct cmd_ceremony *cc);
/* Reports a failed call, then what it means for a key holder (a refused
 * token, progress back to 0, a share given twice). kind: "rekey", "root
 * generation". */
void cmd_ceremony_report(struct cmd_context *ctx, struct cmd_ceremony *cc, const struct error *err,
                         const char *kind);
/* The ceremony of kind with nonce (NULL: the last one started) is gone: reads
 * the cluster again (cc->active becomes the pod active now), then says when
 * and where it started (the Vault logs) and why it was lost (returns 1), that
 * it ended on the active node itself (2), or that it was replaced by another
 * nonce or the nonce is unknown (3: nothing more to say). A loss is claimed
 * only for a nonce read from Vault in this run (from_vault) or seen in a log.
 * 0 when nothing was found. */
int cmd_ceremony_explain_lost(struct cmd_context *ctx, struct cmd_ceremony *cc, const char *kind,
                              const char *nonce, int from_vault);
/* A new secret file: 0600, O_EXCL, O_NOFOLLOW; -1 after reporting. */
int cmd_ceremony_file(struct cmd_context *ctx, const char *path);
/* Writes text, fsyncs the file and its directory, closes fd; -1 after reporting. */
int cmd_ceremony_file_write(struct cmd_context *ctx, int fd, const char *path,
                            const struct secret *text);
/* 1 when standard output is a terminal; else says that what (a secret) would
 * go there and names --output, and returns 0: a pipe or a file would keep it
 * where nobody looks after it. */
int cmd_ceremony_may_show(struct cmd_context *ctx, const char *what);
/* Shows a secret once on standard output, straight from locked memory. */
void cmd_ceremony_show_secret(struct cmd_context *ctx, const struct secret *text);

/* status --all-contexts / --contexts (status-contexts.c): list NULL = every
 * context of the kubeconfig, else "a,b,c". Returns the exit code. */
int cmd_status_contexts(struct cmd_context *ctx, const char *list, int watch, long interval_ms);

/* Shell completion: words typed after the plugin name, the last being completed
 * (cmd-completion.c). Prints candidates and the directive; returns 0. */
int cmd_complete_words(int n, char **words);

struct lease_lock;
/* The --force-unlock option of every command that takes the lock. */
#define CMD_FORCE_UNLOCK_OPTION                                                                    \
    {                                                                                              \
        "force-unlock", 0, OPT_FLAG, NULL,                                                         \
            "take over the lock of a run that stopped renewing it (it ended without releasing "    \
            "it)",                                                                                 \
            NULL                                                                                   \
    }
/* Takes the lock of the StatefulSet for command (lib/lease; --force-unlock),
 * renewed until cmd_unlock, and from then on lets Ctrl-C end the run between
 * two steps (so that the lock is released) instead of at once. Returns 0, or
 * an exit code after saying who holds the lock and since when. */
int cmd_lock(struct cmd_context *ctx, const struct cmd_args *args, const struct vault_cluster *vc,
             const char *command, struct lease_lock **lock);
/* Releases it (NULL: nothing); a failure is reported, not fatal. */
void cmd_unlock(struct cmd_context *ctx, struct lease_lock *lock);

/* "30s", "2m", "1h", "500ms", "0", "45" (seconds) → milliseconds; -1 when malformed. */
long cmd_parse_duration_ms(const char *s);

/* A small local file (at most CMD_FILE_MAX bytes) read whole (NUL-terminated;
 * length in *len when len is given); NULL with err naming the file. Free with
 * free(). */
#define CMD_FILE_MAX (1u << 20)
char *cmd_read_file(const char *path, size_t *len, struct error *err);

/* Reads a PEM certificate file (--leader-ca-cert: sent as content, since the CLI
 * would take a bare path as PEM text and fail later, docs/vault-cli.md §10.4). */
char *cmd_read_pem(const char *path, struct error *err);

/* The one printer of -o json|yaml documents: doc as YAML for -o yaml, else JSON, on f
 * (NULL: ctx->out, the sanitizing stream). doc is released; NULL is out of memory.
 * Returns EXIT_OK, or EXIT_ERROR after reporting. */
int cmd_print_document(struct cmd_context *ctx, FILE *f, json_t *doc);

/* Reports an error to the user: "kubectl vault-ha: message" on stderr. */
void cmd_report(const struct cmd_context *ctx, const struct error *e);
/* The one way a command writes a message of its own: "kubectl vault-ha: " + fmt
 * (errorf), "warning: " + fmt (warnf), on ctx->err, the sanitized stream. fmt ends
 * its own line. */
void cmd_errorf(const struct cmd_context *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cmd_warnf(const struct cmd_context *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The one mapping from a lib error to the process's exit code (README "Exit codes"):
 * interrupted 130, anything else 1 (bad flags and arguments, 64, are refused by the
 * parser and the commands before lib is asked). */
int cmd_exit_for(const struct error *e);

/* The global option table (shared by parsing, help and completion). */
extern const struct cmd_option global_option_table[];

/* The command table, NULL-terminated (cmd.c). */
extern const struct cmd_entry *const cmd_table[];
const struct cmd_entry *cmd_find(const char *name);
/* The index of the option named long_name (or short_name) in opts, or -1. */
int cmd_option_index(const struct cmd_option *opts, const char *long_name, char short_name);

/* The one reading of a command line, shared by the parser (main.c) and completion
 * (cmd-completion.c) so that they cannot drift: words come one by one, each classified; the
 * first word that is not an option names the command; an option that takes a value takes the
 * next word unless it has one inline; after "--" every word is an argument. */
enum cmd_word_kind {
    WORD_COMMAND,         /* the command's name (cmd_words.cmd is set) */
    WORD_UNKNOWN_COMMAND, /* where the command's name belongs, a word that names none */
    WORD_ARG,             /* a positional argument */
    WORD_DASHDASH,        /* "--" */
    WORD_OPTION,          /* an option of the command's table or of the global one */
    WORD_UNKNOWN_OPTION,  /* a word that looks like an option and names none */
};
struct cmd_word {
    enum cmd_word_kind kind;
    const char *text;             /* the word as typed */
    const struct cmd_option *opt; /* WORD_OPTION */
    int global;                   /* opt is in global_option_table, else in the command's */
    int index;                    /* opt's index in its table */
    const char *value;            /* inline (--x=v, -xv) or the next word; NULL when absent */
    int value_inline;             /* value was part of the word */
    int value_missing;            /* an option that takes a value was the last word */
};
struct cmd_words {
    int n, i, raw;
    char **words;
    const struct cmd_entry *cmd; /* once named */
};
void cmd_words_init(struct cmd_words *t, int n, char **words);
/* The next word in *out: 1, or 0 at the end. */
int cmd_words_next(struct cmd_words *t, struct cmd_word *out);
/* Classifies one option word for command cmd (NULL: global options only): 1 when it names an
 * option (*out filled, its value inline or absent), else 0. */
int cmd_word_option(const struct cmd_entry *cmd, const char *word, struct cmd_word *out);

#endif
