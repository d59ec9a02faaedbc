/* kubectl-vault_ha: main(): global options, dispatch and help (the command
 * table is plugin/cmd.c, the helpers commands share plugin/cmd-util.c).
 * kubectl passes everything after "vault-ha" through verbatim and parses no
 * global flag for plugins (docs/kubernetes.md §4.1), so we parse --context,
 * -n and friends ourselves, before or after the command name. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cluster.h"
#include "cmd.h"
#include "init.h"
#include "filesink.h"
#include "kube.h"
#include "kubeconfig.h"
#include "lease.h"
#include "ops.h"
#include "output.h"
#include "secret.h"
#include "text.h"
#include "vault.h"
#include "vaultread.h"
#include "wipe.h"

static const char *const global_short_help =
    "Global flags: --kubeconfig, --context, --cluster, --user, -n/--namespace, --server, "
    "--token,\n--certificate-authority, --insecure-skip-tls-verify, --tls-server-name, "
    "--request-timeout,\n--timeout, -o/--output table|wide|json|yaml, --release, --statefulset, "
    "--container, --read-via, --no-color, -v, -h/--help\n";

/* A "waiting for ..." line is left open until the wait ends, so that its
 * outcome lands on the same line; anything else printed first closes it. */
static int partial_line;

static void end_partial_line(FILE *f)
{
    if (partial_line) {
        fputc('\n', f);
        partial_line = 0;
    }
}

void cmd_report(const struct cmd_context *ctx, const struct error *e)
{
    end_partial_line(ctx->err);
    cmd_errorf(ctx, "%s\n", e->msg[0] ? e->msg : "failed");
}

void cmd_errorf(const struct cmd_context *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(ctx->err, "%s: ", ctx->prog);
    vfprintf(ctx->err, fmt, ap);
    va_end(ap);
}

void cmd_warnf(const struct cmd_context *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("warning: ", ctx->err);
    vfprintf(ctx->err, fmt, ap);
    va_end(ap);
}

int cmd_exit_for(const struct error *e)
{
    /* lib's ERR_USAGE also names bad input (a keys file, a token, a missing key): a failed
     * run (1); bad flags and arguments are refused before any lib call, with 64. */
    return e->kind == ERR_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_ERROR;
}

void cmd_progress_line(void *vctx, const char *line)
{
    struct cmd_context *ctx = vctx;
    end_partial_line(ctx->err);
    fprintf(ctx->err, "%s\n", line);
}

void cmd_progress_wait(void *vctx, enum wait_event ev, const char *text)
{
    struct cmd_context *ctx = vctx;
    switch (ev) {
    case WAIT_BEGIN:
        cmd_interrupt_waiting(1); /* before the line: whoever reads it may press Ctrl-C at once */
        end_partial_line(ctx->err);
        fprintf(ctx->err, "%s...", text);
        partial_line = 1;
        break;
    case WAIT_PROGRESS:
        end_partial_line(ctx->err);
        fprintf(ctx->err, "  %s\n", text);
        break;
    case WAIT_END:
        fprintf(ctx->err, "%s%s\n", partial_line ? " " : "", text);
        partial_line = 0;
        cmd_interrupt_waiting(0);
        break;
    }
    fflush(ctx->err);
}

void cmd_ops_init(struct cmd_context *ctx, struct ops *o)
{
    memset(o, 0, sizeof *o);
    o->kube = ctx->kube;
    o->report = cmd_progress_line;
    o->wait_report = cmd_progress_wait;
    o->report_ctx = ctx;
    o->timeout_ms = ctx->g->wait_timeout_ms > 0 ? ctx->g->wait_timeout_ms : WAIT_DEFAULT_MS;
    o->cancel = &cmd_interrupted;
    o->prog = ctx->prog;
    cmd_interrupt_at_least(INTERRUPT_WAITS);
}

struct parsed {
    const struct cmd_entry *cmd;
    struct cmd_args global;
    struct cmd_args local;
    char **positional;
    int npositional;
};

/* stdout and stderr through the one sanitizer (lib/text), for all text. */
static FILE *safe_out, *safe_err;

static void close_safe_streams(void)
{
    /* Emits a UTF-8 sequence left incomplete, then flushes what is underneath. */
    if (safe_out != NULL && safe_out != stdout)
        fclose(safe_out);
    if (safe_err != NULL && safe_err != stderr)
        fclose(safe_err);
    safe_out = safe_err = NULL;
    fflush(stdout);
    fflush(stderr);
}

static int open_safe_streams(void)
{
    safe_out = text_open_stream(stdout);
    safe_err = text_open_stream(stderr);
    if (safe_out == NULL || safe_err == NULL)
        return -1;
    atexit(close_safe_streams);
    return 0;
}

static void usage_error(const char *prog, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void usage_error(const char *prog, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(safe_err, "%s: ", prog);
    vfprintf(safe_err, fmt, ap);
    va_end(ap);
    fprintf(safe_err, "\nsee '%s%s%s --help'\n", prog, cmd ? " " : "", cmd ? cmd : "");
}

/* Ends the run after a usage error (reported): the one way out with 64, so that
 * no such exit leaks the arguments or frees the --token copy unwiped. */
static int usage_exit(struct parsed *p, char *token_copy)
{
    free(p->positional);
    wipe_free_str(token_copy);
    return EXIT_USAGE;
}

/* Stores one option's value; returns 0, or -1 after reporting a usage error. */
static int store_option(const char *prog, const struct parsed *p, struct cmd_args *target,
                        const struct cmd_word *w)
{
    const struct cmd_option *o = w->opt;
    const char *value = w->value;
    const char *cmd = p->cmd ? p->cmd->name : NULL;
    if (o->type == OPT_FLAG) {
        value = "true";
        if (w->value_inline) {
            if (strcasecmp(w->value, "true") == 0 || strcmp(w->value, "1") == 0)
                value = "true";
            else if (strcasecmp(w->value, "false") == 0 || strcmp(w->value, "0") == 0)
                value = NULL;
            else if (o->short_name == 'v') /* kubectl's -v=N levels: any level > 0 traces */
                value = atoi(w->value) > 0 ? "true" : NULL;
            else {
                usage_error(prog, cmd, "%s takes no value", w->text);
                return -1;
            }
        }
        if (value == NULL) {
            target->counts[w->index] = 0;
            target->values[w->index] = NULL;
            return 0;
        }
    } else if (w->value_missing) {
        usage_error(prog, cmd, "%s needs a value (%s)", w->text,
                    o->arg_name ? o->arg_name : "VALUE");
        return -1;
    }
    target->values[w->index] = value;
    target->counts[w->index]++;
    return 0;
}

/* Returns 0; -1 after reporting a usage error; -2 when out of memory. */
static int parse_args(const char *prog, int argc, char **argv, struct parsed *p)
{
    memset(p, 0, sizeof *p);
    p->global.options = global_option_table;
    p->positional = calloc((size_t)argc + 1, sizeof *p->positional);
    if (p->positional == NULL) {
        fprintf(safe_err, "%s: out of memory\n", prog);
        return -2;
    }
    struct cmd_words t;
    struct cmd_word w;
    cmd_words_init(&t, argc - 1, argv + 1);
    while (cmd_words_next(&t, &w)) {
        switch (w.kind) {
        case WORD_COMMAND:
            p->cmd = t.cmd;
            p->local.options = p->cmd->options;
            break;
        case WORD_UNKNOWN_COMMAND:
            usage_error(prog, NULL, "unknown command \"%s\"", w.text);
            return -1;
        case WORD_ARG:
            p->positional[p->npositional++] = (char *)w.text;
            break;
        case WORD_DASHDASH:
            if (p->cmd != NULL && (p->cmd->flags & CMD_RAW_ARGS))
                p->positional[p->npositional++] = (char *)w.text; /* where "--" was */
            break;
        case WORD_UNKNOWN_OPTION:
            usage_error(prog, p->cmd ? p->cmd->name : NULL, "unknown flag \"%s\"", w.text);
            return -1;
        case WORD_OPTION:
            if (store_option(prog, p, w.global ? &p->global : &p->local, &w) < 0)
                return -1;
            break;
        }
    }
    p->local.argc = p->npositional;
    p->local.argv = p->positional;
    return 0;
}

static void print_options(FILE *f, const struct cmd_option *opts)
{
    for (size_t i = 0; opts != NULL && opts[i].long_name != NULL; i++) {
        const struct cmd_option *o = &opts[i];
        char left[96];
        int n = 0;
        if (o->short_name)
            n = snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->long_name);
        else
            n = snprintf(left, sizeof left, "      --%s", o->long_name);
        if (o->type != OPT_FLAG && n > 0 && (size_t)n < sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg_name ? o->arg_name : "VALUE");
        fprintf(f, "%-36s %s\n", left, o->help);
    }
}

static void print_overview(FILE *f, const char *prog)
{
    fprintf(f,
            "Operate HashiCorp Vault (and OpenBao) HA clusters with Raft storage on Kubernetes.\n"
            "\nUsage: %s [global flags] COMMAND [flags] [args]\n\nCommands:\n",
            prog);
    for (size_t i = 0; cmd_table[i] != NULL; i++) {
        const struct cmd_entry *e = cmd_table[i];
        if (e->flags & CMD_HIDDEN)
            continue;
        fprintf(f, "  %-14s %s\n", e->name, e->summary);
    }
    fprintf(f, "\nGlobal flags:\n");
    print_options(f, global_option_table);
    fprintf(f, "\nRun '%s COMMAND --help' for a command's flags and examples.\n", prog);
}

static void print_command_help(FILE *f, const char *prog, const struct cmd_entry *e)
{
    fprintf(f, "%s\n\nUsage: %s %s%s%s\n", e->summary, prog, e->name, e->usage[0] ? " " : "",
            e->usage);
    if (e->alias != NULL)
        fprintf(f, "Alias: %s\n", e->alias);
    if (e->help != NULL && e->help[0] != '\0')
        fprintf(f, "\n%s", e->help);
    if (e->options != NULL && e->options[0].long_name != NULL) {
        fprintf(f, "\nFlags:\n");
        print_options(f, e->options);
    }
    fprintf(f, "\n%s", global_short_help);
}

/* -v lines: they quote what the API server said. Called from several threads
 * (exec upgrades): one fprintf is one locked write. */
static void trace_to_err(void *c, const char *line)
{
    const struct cmd_context *ctx = c;
    fprintf(ctx->err, "trace: %s\n", line);
}

int cmd_connect(struct cmd_context *ctx)
{
    if (ctx->kube != NULL)
        return EXIT_OK;
    struct error err = {0};
    if (kubeconfig_load(&ctx->g->kc, &ctx->cfg, &err) < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }
    for (char **w = ctx->cfg->warnings; w != NULL && *w != NULL; w++)
        cmd_errorf(ctx, "warning: %s\n", *w);
    struct kube_client_options ko = {
        .request_timeout_ms = ctx->g->request_timeout_ms,
        .max_retries = -1,
        .trace = ctx->g->verbose ? trace_to_err : NULL,
        .trace_ctx = ctx,
        .read_via = ctx->g->read_via,
    };
    if (kube_client_new(ctx->cfg, &ko, &ctx->kube, &err) < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }
    return EXIT_OK;
}

/* "kubectl vault-ha" when run as a kubectl plugin (argv[0] kubectl-vault_ha), else the name. */
static const char *program_name(const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    if (strncmp(base, "kubectl-", 8) == 0)
        return "kubectl vault-ha";
    return base;
}

void cmd_secret_warnings(const struct cmd_context *ctx)
{
    char msg[512];
    if (secret_mlock_warning(msg, sizeof msg))
        cmd_errorf(ctx, "warning: %s\n", msg);
}

int main(int argc, char **argv)
{
    /* Before anything is read: a kubeconfig token, a key typed at the first
     * prompt and every copy a library makes are never in a core dump. */
    struct error perr = {0};
    int protected = secret_protect_process(&perr);
    wipe_json_allocator(); /* before the first JSON value: keys and tokens pass through jansson */
    secret_cancel_reads_on(&cmd_interrupted); /* a stopped run stops reading keys too */
    const char *prog = program_name(argv[0]);
    if (protected < 0)
        fprintf(stderr, "%s: warning: %s\n", prog, perr.msg);
    if (argc >= 2 && strcmp(argv[1], "__complete") == 0) /* words verbatim, flags included */
        return cmd_complete_words(argc - 2, argv + 2);
    if (open_safe_streams() < 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_ERROR;
    }
    struct parsed p;
    int parsed = parse_args(prog, argc, argv, &p);
    if (parsed == -2)
        return EXIT_ERROR;
    if (parsed < 0)
        return usage_exit(&p, NULL);
    struct cmd_args *g = &p.global;
    int want_help = cmd_option_index(g->options, "help", 0) >= 0 && cmd_opt_flag(g, "help");
    if (p.cmd == NULL) {
        print_overview(want_help ? safe_out : safe_err, prog);
        if (!want_help)
            return usage_exit(&p, NULL);
        free(p.positional);
        return EXIT_OK;
    }
    if (want_help) {
        print_command_help(safe_out, prog, p.cmd);
        free(p.positional);
        return EXIT_OK;
    }

    struct global_options go = {0};
    go.kc.kubeconfig = cmd_opt_str(g, "kubeconfig");
    go.kc.context = cmd_opt_str(g, "context");
    go.kc.cluster = cmd_opt_str(g, "cluster");
    go.kc.user = cmd_opt_str(g, "user");
    go.kc.namespace = cmd_opt_str(g, "namespace");
    go.kc.server = cmd_opt_str(g, "server");
    go.kc.certificate_authority = cmd_opt_str(g, "certificate-authority");
    go.kc.insecure_skip_tls_verify = cmd_opt_flag(g, "insecure-skip-tls-verify");
    go.kc.tls_server_name = cmd_opt_str(g, "tls-server-name");
    char *token_copy = NULL;
    const char *token_arg = cmd_opt_str(g, "token");
    if (token_arg != NULL) {
        /* Keep our own copy and blank the argv string: /proc/PID/cmdline then shows
         * no token for the rest of the run. */
        token_copy = strdup(token_arg);
        memset((char *)token_arg, 'x', strlen(token_arg));
        go.kc.token = token_copy;
    }
    go.release = cmd_opt_str(g, "release");
    go.statefulset = cmd_opt_str(g, "statefulset");
    go.container = cmd_opt_str(g, "container");
    go.no_color = cmd_opt_flag(g, "no-color");
    go.verbose = cmd_opt_flag(g, "verbose");
    go.request_timeout_ms = 30000;
    const char *rt = cmd_opt_str(g, "request-timeout");
    if (rt != NULL && (go.request_timeout_ms = cmd_parse_duration_ms(rt)) < 0) {
        usage_error(prog, p.cmd->name,
                    "--request-timeout wants a duration like 30s or 2m, not "
                    "\"%s\"",
                    rt);
        return usage_exit(&p, token_copy);
    }
    const char *rv = cmd_opt_str(g, "read-via");
    go.read_via = KUBE_READ_AUTO;
    if (rv != NULL) {
        if (strcmp(rv, "proxy") == 0)
            go.read_via = KUBE_READ_PROXY;
        else if (strcmp(rv, "exec") == 0)
            go.read_via = KUBE_READ_EXEC;
        else if (strcmp(rv, "auto") != 0) {
            usage_error(prog, p.cmd->name, "--read-via takes auto, proxy or exec, not \"%s\"", rv);
            return usage_exit(&p, token_copy);
        }
    }
    go.request_timeout_set = rt != NULL;
    go.wait_timeout_ms = 0;
    const char *wt = cmd_opt_str(g, "timeout");
    if (wt != NULL && ((go.wait_timeout_ms = cmd_parse_duration_ms(wt)) <= 0)) {
        usage_error(prog, p.cmd->name, "--timeout wants a duration like 90s or 5m, not \"%s\"", wt);
        return usage_exit(&p, token_copy);
    }
    if ((p.cmd->flags & CMD_NO_ARGS) && p.local.argc > 0) {
        usage_error(prog, p.cmd->name, "%s takes no arguments (got \"%s\")", p.cmd->name,
                    p.local.argv[0]);
        return usage_exit(&p, token_copy);
    }
    const char *of = cmd_opt_str(g, "output");
    go.output = OUTPUT_TABLE;
    if (of != NULL) {
        if (strcmp(of, "table") == 0)
            go.output = OUTPUT_TABLE;
        else if (strcmp(of, "wide") == 0)
            go.output = OUTPUT_WIDE;
        else if (strcmp(of, "json") == 0)
            go.output = OUTPUT_JSON;
        else if (strcmp(of, "yaml") == 0)
            go.output = OUTPUT_YAML;
        else {
            usage_error(prog, p.cmd->name,
                        "unknown output format \"%s\" (table, wide, json or yaml)", of);
            return usage_exit(&p, token_copy);
        }
    }

    const char *no_color_env = getenv("NO_COLOR");
    struct cmd_context ctx = {
        .g = &go,
        .out = safe_out,
        .err = safe_err,
        .out_raw = stdout,
        .err_raw = stderr,
        .prog = prog,
        .color = isatty(STDOUT_FILENO) && !go.no_color &&
                 (no_color_env == NULL || no_color_env[0] == '\0'),
    };
    int rc = EXIT_ERROR;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(ctx.err, "%s: cannot initialise libcurl\n", prog);
        goto out;
    }
    if (!(p.cmd->flags & CMD_NO_CLUSTER) && cmd_connect(&ctx) != EXIT_OK)
        goto out;
    rc = p.cmd->exec(&ctx, &p.local);
out:
    kube_client_free(ctx.kube);
    rest_config_free(ctx.cfg);
    curl_global_cleanup();
    wipe_free_str(token_copy);
    free(p.positional);
    cmd_secret_warnings(&ctx);
    close_safe_streams();
    int sig = secret_prompt_signal();
    if (sig == SIGQUIT || sig == SIGTERM || sig == SIGHUP) {
        /* Ended at the prompt by a signal: everything is wiped and the terminal is
         * back, so end by that signal, as the caller expects (no core: dumps are off). */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    return rc;
}
