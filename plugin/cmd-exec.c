/* exec: runs a command in one Vault pod (ordinal 0 by default), in the named
 * ones, or in all pods of the StatefulSet at once, over the exec WebSocket
 * (lib/kexec), like `kubectl exec` without kubectl. With one pod, stdout into
 * a pipe or a file is passed through byte for byte (binary-safe); on a
 * terminal, and on stderr, it is text for the user: control characters shown
 * escaped (lib/text). With several pods every line is prefixed "<pod>: ",
 * stdout lines to our stdout and stderr lines to our stderr, escaped too. The
 * exit code is the worst pod's: the command's own code, 1 when the command
 * could not be run or its stream broke, 130 on Ctrl-C. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "cmd.h"
#include "filesink.h"
#include "kexec.h"

#define LINE_MAX_BYTES (64u << 10)  /* a longer line is cut into prefixed pieces */
#define OUTPUT_CHUNK   (256u << 10) /* stdout is written in pieces this large (see kexec.h) */

/* One output stream (stdout or stderr) of one pod. */
struct sink {
    FILE *f;              /* text: a sanitizing stream (ctx->out, ctx->err) */
    struct filesink file; /* raw: the real stdout's descriptor */
    int raw;              /* byte-exact, through file */
    const char *pod;      /* prefix of every line, NULL = none */
    char *line;           /* the unfinished line (prefixed mode) */
    size_t len;
};

static int put(struct sink *s, const void *data, size_t len, struct error *err)
{
    if (len > 0 && fwrite(data, 1, len, s->f) != len)
        return error_set(err, ERR_GENERIC, "writing the output failed: %s", strerror(errno));
    return 0;
}

static int emit_line(struct sink *s, const char *tail, size_t tail_len, int newline,
                     struct error *err)
{
    if (fprintf(s->f, "%s: ", s->pod) < 0 || put(s, s->line, s->len, err) < 0 ||
        put(s, tail, tail_len, err) < 0 || (newline && fputc('\n', s->f) == EOF))
        return error_set(err, ERR_GENERIC, "writing the output failed: %s", strerror(errno));
    s->len = 0;
    return 0;
}

static int sink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct sink *s = ctx;
    if (s->raw) {
        /* One pod into a pipe or a file: straight through, binary-safe. */
        if (filesink_write(&s->file, data, len, err) < 0)
            return error_wrap(err, "writing the output failed");
        return 0;
    }
    if (s->pod == NULL) /* one pod, to the user: escaped as it goes */
        return put(s, data, len, err);
    const char *p = data;
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl ? (size_t)(nl - p) : len;
        if (nl != NULL) {
            if (emit_line(s, p, take, 1, err) < 0)
                return -1;
            p += take + 1;
            len -= take + 1;
            continue;
        }
        if (s->len + take > LINE_MAX_BYTES) {
            /* A very long line: print what we hold as a line of its own. */
            size_t room = LINE_MAX_BYTES - s->len;
            if (emit_line(s, p, room, 1, err) < 0)
                return -1;
            p += room;
            len -= room;
            continue;
        }
        memcpy(s->line + s->len, p, take);
        s->len += take;
        len = 0;
    }
    if (fflush(s->f) == EOF)
        return error_set(err, ERR_GENERIC, "writing the output failed: %s", strerror(errno));
    return 0;
}

/* The end of a pod's stream: a last line without newline gets one. */
static void sink_finish(struct sink *s)
{
    struct error ignored = {0};
    if (s->pod != NULL && s->len > 0)
        emit_line(s, NULL, 0, 1, &ignored);
    filesink_close(&s->file);
    fflush(s->f);
}

static void on_note(void *ctx, const char *pod, enum kexec_note note)
{
    struct cmd_context *c = ctx;
    if (note == KEXEC_NOTE_STDIN_EOF_UNSUPPORTED)
        fprintf(c->err,
                "%s: warning: %s: the API server speaks %s, which cannot signal the end of stdin; "
                "a command that reads its input to the end keeps waiting (Ctrl-C to stop; "
                "Kubernetes >= 1.30 speaks %s)\n",
                c->prog, pod, KEXEC_PROTO_V4, KEXEC_PROTO_V5);
}

/* "v5,v4" -> { v5, v4, NULL }; returns 0 or -1. */
static int parse_protocols(const char *spec, const char *out[3])
{
    size_t n = 0;
    const char *p = spec;
    while (*p != '\0') {
        size_t l = strcspn(p, ",");
        const char *proto = NULL;
        if (l == 2 && strncmp(p, "v5", 2) == 0)
            proto = KEXEC_PROTO_V5;
        else if (l == 2 && strncmp(p, "v4", 2) == 0)
            proto = KEXEC_PROTO_V4;
        if (proto == NULL || n >= 2)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (out[i] == proto)
                return -1;
        out[n++] = proto;
        p += l;
        if (*p == ',')
            p++;
    }
    out[n] = NULL;
    return n > 0 ? 0 : -1;
}

static int usage(struct cmd_context *ctx, const char *msg)
{
    cmd_errorf(ctx, "%s\nsee '%s exec --help'\n", msg, ctx->prog);
    return EXIT_USAGE;
}

static int cmd_exec_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    /* Positional: pods, then "--" (kept by the parser for CMD_RAW_ARGS), then the command. */
    int dashdash = -1;
    for (int i = 0; i < args->argc; i++) {
        if (strcmp(args->argv[i], "--") == 0) {
            dashdash = i;
            break;
        }
    }
    if (dashdash < 0 || dashdash + 1 >= args->argc)
        return usage(ctx, "exec needs a command after \"--\": exec [POD...|--all] [-i] -- "
                          "COMMAND [ARGS...]");
    int npod_args = dashdash;
    const char *const *command = (const char *const *)&args->argv[dashdash + 1];
    int all = cmd_opt_flag(args, "all");
    int want_stdin = cmd_opt_flag(args, "stdin");
    if (all && npod_args > 0)
        return usage(ctx, "name pods or use --all, not both");
    long timeout_ms = 0;
    const char *t = cmd_opt_str(args, "timeout");
    if (t != NULL && (timeout_ms = cmd_parse_duration_ms(t)) < 0)
        return usage(ctx, "--timeout wants a duration like 30s or 5m");
    const char *protocols[3] = {KEXEC_PROTO_V5, KEXEC_PROTO_V4, NULL};
    const char *ps = cmd_opt_str(args, "exec-protocols");
    if (ps != NULL && parse_protocols(ps, protocols) < 0)
        return usage(ctx, "--exec-protocols wants v5,v4 (the default), v4,v5, v5 or v4");

    struct error err = {0};
    struct cluster_query q = {.namespace = ctx->cfg->namespace,
                              .release = ctx->g->release,
                              .statefulset = ctx->g->statefulset,
                              .container = ctx->g->container};
    struct vault_cluster *vc = NULL;
    if (cluster_discover(ctx->kube, &q, &vc, &err) < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }

    /* Which pods: named (names or ordinals), all, or ordinal 0. */
    size_t cap = vc->npods + (size_t)npod_args + 1;
    struct vault_pod **pods = calloc(cap, sizeof *pods);
    size_t n = 0;
    int worst = 0;
    if (pods == NULL) {
        cluster_free(vc);
        return EXIT_ERROR;
    }
    if (all) {
        for (size_t i = 0; i < vc->npods; i++)
            if (vc->pods[i].exists)
                pods[n++] = &vc->pods[i];
    } else if (npod_args == 0) {
        struct vault_pod *p = cluster_find_pod(vc, "0");
        if (p != NULL && p->exists)
            pods[n++] = p;
    } else {
        size_t *idx = calloc((size_t)npod_args + 1, sizeof *idx);
        int got = idx == NULL ? error_set(&err, ERR_GENERIC, "out of memory")
                              : cluster_select_pods(vc, args->argv, npod_args, 0, idx, &err);
        if (got < 0) {
            cmd_report(ctx, &err);
            free(idx);
            free(pods);
            cluster_free(vc);
            /* A pod name that is not one of the StatefulSet's is a bad argument. */
            return err.kind == ERR_USAGE ? EXIT_USAGE : cmd_exit_for(&err);
        }
        for (int i = 0; i < got; i++)
            pods[n++] = &vc->pods[idx[i]];
        free(idx);
    }
    if (n == 0) {
        cmd_errorf(ctx, "StatefulSet %s/%s has no pod to run the command in\n", vc->namespace,
                   vc->name);
        free(pods);
        cluster_free(vc);
        return EXIT_ERROR;
    }
    if (want_stdin && n > 1) {
        free(pods);
        cluster_free(vc);
        return usage(ctx, "-i passes stdin to one pod only");
    }

    /* Pods that cannot run a command are reported and count as failures. */
    size_t nrun = 0;
    for (size_t i = 0; i < n; i++) {
        if (pods[i]->running) {
            pods[nrun++] = pods[i];
            continue;
        }
        cmd_errorf(ctx, "%s is not running (%s%s%s)\n", pods[i]->name, pods[i]->phase,
                   pods[i]->reason ? ": " : "", pods[i]->reason ? pods[i]->reason : "");
        worst = EXIT_ERROR;
    }
    int prefixed = n > 1;
    int raw_stdout = !prefixed && !isatty(fileno(ctx->out_raw));

    struct kexec_request *req = calloc(nrun + 1, sizeof *req);
    struct kexec_result *res = calloc(nrun + 1, sizeof *res);
    struct sink *outs = calloc(2 * nrun + 1, sizeof *outs);
    if (req == NULL || res == NULL || outs == NULL) {
        free(req), free(res), free(outs), free(pods);
        cluster_free(vc);
        return EXIT_ERROR;
    }
    int ok = 1;
    for (size_t i = 0; i < nrun; i++) {
        struct sink *so = &outs[2 * i], *se = &outs[2 * i + 1];
        so->f = ctx->out;
        se->f = ctx->err;
        so->raw = raw_stdout;
        filesink_open(&so->file, fileno(ctx->out_raw), 0); /* plain until the run, see below */
        filesink_open(&se->file, fileno(ctx->err_raw), 0);
        if (prefixed) {
            so->pod = se->pod = pods[i]->name;
            so->line = malloc(LINE_MAX_BYTES);
            se->line = malloc(LINE_MAX_BYTES);
            ok &= so->line != NULL && se->line != NULL;
        }
        req[i] = (struct kexec_request){
            .namespace = vc->namespace,
            .pod = pods[i]->name,
            .container = vc->container,
            .argv = command,
            .out = sink_write,
            .out_ctx = so,
            .out_coalesce = OUTPUT_CHUNK,
            .err = sink_write,
            .err_ctx = se,
            .note = on_note,
            .note_ctx = ctx,
            .protocols = protocols,
            .handshake_timeout_ms =
                ctx->g->request_timeout_ms > 0 ? ctx->g->request_timeout_ms : -1,
            .timeout_ms = timeout_ms,
            .cancel = &cmd_interrupted,
        };
        if (want_stdin) {
            req[i].in.kind = KEXEC_STDIN_FD;
            req[i].in.fd = STDIN_FILENO;
        }
    }

    int rc = worst;
    if (ok && nrun > 0) {
        fflush(ctx->out);
        fflush(ctx->err);
        fflush(ctx->out_raw);
        fflush(ctx->err_raw);
        if (raw_stdout) /* one pod's raw stdout: O_DIRECT where it is a regular file */
            filesink_open(&outs[0].file, fileno(ctx->out_raw), 1);
        /* Ctrl-C ends every stream and the run says so; a second one ends the process. */
        enum interrupt_mode before = cmd_interrupt_mode(INTERRUPT_STEPS);
        kexec_run_many(ctx->kube, req, nrun, res);
        cmd_interrupt_mode(before);
        for (size_t i = 0; i < 2 * nrun; i++)
            sink_finish(&outs[i]);
        int was_interrupted = 0;
        for (size_t i = 0; i < nrun; i++) {
            if (res[i].rc == 0) {
                if (res[i].exit_code > rc)
                    rc = res[i].exit_code;
                continue;
            }
            if (res[i].err.kind == ERR_INTERRUPTED) {
                was_interrupted = 1;
                continue;
            }
            cmd_report(ctx, &res[i].err);
            if (rc < EXIT_ERROR)
                rc = EXIT_ERROR;
        }
        if (was_interrupted) {
            cmd_errorf(ctx, "interrupted\n");
            rc = EXIT_INTERRUPTED;
        }
    } else if (!ok) {
        cmd_errorf(ctx, "out of memory\n");
        rc = EXIT_ERROR;
    }
    for (size_t i = 0; i < 2 * nrun; i++)
        free(outs[i].line);
    free(outs), free(req), free(res), free(pods);
    cluster_free(vc);
    return rc;
}

static const struct cmd_option exec_options[] = {
    {"stdin", 'i', OPT_FLAG, NULL, "pass our stdin to the command (one pod only)", NULL},
    {"all", 0, OPT_FLAG, NULL, "run in every pod of the StatefulSet, in parallel", NULL},
    {"timeout", 0, OPT_STRING, "DURATION",
     "stop the command when it runs longer, e.g. 30s, 5m (default: no limit)", NULL},
    {"exec-protocols", 0, OPT_STRING, "LIST",
     "exec subprotocols to offer, in order: v5,v4 (default), v4,v5, v5 or v4 (troubleshooting)",
     "v5,v4|v4,v5|v5|v4"},
    {0},
};

const struct cmd_entry cmd_exec_entry = {
    .name = "exec",
    .alias = NULL,
    .summary = "Run a command in Vault pods (one, several or all at once)",
    .usage = "[POD...|--all] [-i] -- COMMAND [ARGS...]",
    .help =
        "Runs COMMAND in the Vault container of one pod (ordinal 0 unless named), of the named\n"
        "pods (names or ordinals), or of every pod with --all, in parallel, through the\n"
        "Kubernetes API (exec over WebSocket; no kubectl needed). The command is not run\n"
        "through a shell, and its arguments are written to the API server's audit log: never\n"
        "put secrets in them, pass them on stdin with -i.\n"
        "\n"
        "With one pod, stdout into a pipe or a file is passed through unchanged (binary-safe).\n"
        "On a terminal, and on stderr, control characters are shown escaped (\\x1b): a pod\n"
        "cannot drive your terminal. With several pods, every line is prefixed with\n"
        "\"<pod>: \", stdout lines on stdout and stderr lines on stderr. The exit code is the\n"
        "worst pod's: the command's own exit code, 1 when it could not run or the connection\n"
        "broke, 130 on Ctrl-C.\n"
        "\n"
        "-i passes stdin (one pod only). Its end reaches the command on Kubernetes >= 1.30\n"
        "(v5.channel.k8s.io). Older API servers speak only v4.channel.k8s.io, which cannot\n"
        "signal the end of input: a command that reads stdin to the end then keeps waiting;\n"
        "make it read a known length instead (sh -c 'head -c N | ...').\n"
        "\n"
        "Examples:\n"
        "  kubectl vault-ha exec -- vault status\n"
        "  kubectl vault-ha exec --all -- vault version\n"
        "  kubectl vault-ha exec vault-1 2 -- sh -c 'ls -l /vault/data'\n"
        "  kubectl vault-ha exec -i vault-0 -- sh -c 'cat > /tmp/policy.hcl' < policy.hcl\n",
    .options = exec_options,
    .flags = CMD_RAW_ARGS,
    .exec = cmd_exec_exec,
};
