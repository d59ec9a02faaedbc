/* doctor: the runbook's troubleshooting as one read-only command. Gathers the
 * cluster's facts in one parallel pass (lib/doctor), runs the table of checks
 * on them and prints one line per finding: level, check id, what it found,
 * the fix. -o json|yaml prints the same findings. Never prompts: a token comes
 * from --token-file, VAULT_TOKEN or BAO_TOKEN, else the raft checks say
 * skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "doctor.h"
#include "output.h"
#include "secret.h"

/* Every check id, for completion; a test compares it with lib/doctor's table. */
#define DOCTOR_IDS                                                                                 \
    "VHA-STS-001|VHA-STS-002|VHA-STS-003|VHA-STS-004|VHA-SVC-001|VHA-SVC-002|VHA-SVC-003|"         \
    "VHA-SVC-004|VHA-EP-001|VHA-EP-002|VHA-DNS-001|VHA-PVC-001|VHA-PVC-002|VHA-PLACE-001|"         \
    "VHA-PLACE-002|VHA-PLACE-003|VHA-RAFT-001|VHA-RAFT-002|VHA-RAFT-003|VHA-RAFT-004|"             \
    "VHA-RAFT-005|VHA-TLS-001|VHA-TLS-002|VHA-TLS-003|VHA-VER-001|VHA-VER-002|VHA-VER-003|"        \
    "VHA-VER-004|VHA-LBL-001"

/* Marks the checks an id or prefix names ("VHA-SVC", "vha-dns-001"); 0 when none. */
static int select_checks(const char *word, int *selected)
{
    size_t wl = strlen(word);
    int hits = 0;
    for (size_t i = 0; doctor_checks[i].id != NULL; i++) {
        const char *id = doctor_checks[i].id;
        if (strncasecmp(id, word, wl) == 0 && (id[wl] == '\0' || id[wl] == '-')) {
            selected[i] = 1;
            hits++;
        }
    }
    return hits;
}

/* --check ID[,ID...] and any ids given as arguments. Returns 0, or -1 after a usage error. */
static int parse_selection(struct cmd_context *ctx, const struct cmd_args *args, int *selected,
                           int *any)
{
    const char *check = cmd_opt_str(args, "check");
    *any = 0;
    for (int a = -1; a < args->argc; a++) {
        const char *list = a < 0 ? check : args->argv[a];
        if (list == NULL)
            continue;
        char *copy = strdup(list), *save = NULL;
        for (char *w = strtok_r(copy, ", ", &save); w != NULL; w = strtok_r(NULL, ", ", &save)) {
            if (select_checks(w, selected) == 0) {
                cmd_errorf(ctx,
                           "no check \"%s\" (ids look like VHA-DNS-001; a prefix such as "
                           "VHA-SVC selects a group)\nsee '%s doctor --help'\n",
                           w, ctx->prog);
                free(copy);
                return -1;
            }
            *any = 1;
        }
        free(copy);
    }
    return 0;
}

static enum color level_color(enum doctor_level l)
{
    switch (l) {
    case DOCTOR_OK:
        return COLOR_GREEN;
    case DOCTOR_ADVICE:
        return COLOR_CYAN;
    case DOCTOR_WARN:
        return COLOR_YELLOW;
    case DOCTOR_ERROR:
        return COLOR_RED;
    default:
        return COLOR_DIM;
    }
}

static void count_levels(const struct doctor_report *r, int counts[DOCTOR_NLEVELS])
{
    memset(counts, 0, DOCTOR_NLEVELS * sizeof *counts);
    for (size_t i = 0; i < r->n; i++)
        counts[r->items[i].level]++;
}

static void render_lines(struct cmd_context *ctx, const struct doctor_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct doctor_finding *x = &r->items[i];
        char level[16];
        snprintf(level, sizeof level, "%-7s", doctor_level_name(x->level));
        /* The coloured level is our own text: raw; the message quotes pods: sanitized. */
        char *c = colorize(level, level_color(x->level), ctx->color);
        fflush(ctx->out);
        fputs(c ? c : level, ctx->out_raw);
        fflush(ctx->out_raw);
        fprintf(ctx->out, " %-13s %s%s%s\n", x->id, x->message, x->fix ? "; fix: " : "",
                x->fix ? x->fix : "");
        free(c);
    }
    int n[DOCTOR_NLEVELS];
    count_levels(r, n);
    fprintf(ctx->out, "\n%d ok, %d advice, %d warning%s, %d error%s, %d skipped\n", n[DOCTOR_OK],
            n[DOCTOR_ADVICE], n[DOCTOR_WARN], n[DOCTOR_WARN] == 1 ? "" : "s", n[DOCTOR_ERROR],
            n[DOCTOR_ERROR] == 1 ? "" : "s", n[DOCTOR_SKIPPED]);
}

/* The report as a document; NULL when a part could not be built, so that no finding is
 * dropped while the summary still counts it. */
static json_t *report_document(const struct doctor_facts *f, const struct doctor_report *r,
                               int exit_code)
{
    json_t *items = json_array();
    for (size_t i = 0; items != NULL && i < r->n; i++) {
        const struct doctor_finding *x = &r->items[i];
        json_t *item = json_pack("{s:s, s:s, s:s, s:s?}", "id", x->id, "level",
                                 doctor_level_name(x->level), "message", x->message, "fix", x->fix);
        if (item == NULL || json_array_append_new(items, item) < 0) {
            json_decref(items);
            return NULL;
        }
    }
    if (items == NULL)
        return NULL;
    int n[DOCTOR_NLEVELS];
    count_levels(r, n);
    return json_pack("{s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i, s:i}, s:i}", "namespace",
                     f->vc->namespace, "statefulset", f->vc->name, "findings", items, "summary",
                     "ok", n[DOCTOR_OK], "advice", n[DOCTOR_ADVICE], "warn", n[DOCTOR_WARN],
                     "error", n[DOCTOR_ERROR], "skipped", n[DOCTOR_SKIPPED], "exitCode", exit_code);
}

static int cmd_doctor_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    int selected[64] = {0};
    int any = 0;
    if (parse_selection(ctx, args, selected, &any) < 0)
        return EXIT_USAGE;

    /* The token, read before the cluster is known (gathering finds it in the same pass).
     * A --token-file is read once (it may be standard input) and serves either product;
     * from the environment, the Vault and the OpenBao readings, and gathering takes the
     * one of the product it finds (BAO_TOKEN counts only for OpenBao). */
    struct error err = {0};
    struct secret token = {0}, bao_token = {0};
    const char *file = cmd_opt_str(args, "token-file");
    int got = secret_get_token(file, 0, 0, &token, &err);
    int got_bao = got >= 0 && file == NULL ? secret_get_token(NULL, 1, 0, &bao_token, &err) : 0;
    if (got < 0 || got_bao < 0) {
        cmd_report(ctx, &err);
        secret_free(&token);
        secret_free(&bao_token);
        return EXIT_ERROR;
    }

    struct doctor_gather_options o = {
        .q = {.namespace = ctx->cfg->namespace,
              .release = ctx->g->release,
              .statefulset = ctx->g->statefulset,
              .container = ctx->g->container},
        .token = got > 0 ? &token : NULL,
        .openbao_token = got_bao > 0 ? &bao_token : NULL,
        .no_token_reason = "no Vault token: raft peers and autopilot not read",
        .prog = ctx->prog,
    };
    struct doctor_facts f;
    int rc = doctor_gather(ctx->kube, &o, &f, &err);
    secret_free(&token);
    secret_free(&bao_token);
    if (rc < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    struct doctor_report r = {0};
    doctor_judge(&f, any ? selected : NULL, &r);
    int exit_code = doctor_exit_code(&r, cmd_opt_flag(args, "strict"));
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = report_document(&f, &r, exit_code);
        if (doc == NULL) {
            error_set(&err, ERR_GENERIC,
                      "cannot build the report as %s: out of memory, or a finding is not UTF-8",
                      ctx->g->output == OUTPUT_JSON ? "JSON" : "YAML");
            cmd_report(ctx, &err);
            exit_code = EXIT_ERROR;
        } else if (cmd_print_document(ctx, NULL, doc) != EXIT_OK) {
            exit_code = EXIT_ERROR;
        }
    } else {
        render_lines(ctx, &r);
    }
    doctor_report_clear(&r);
    doctor_facts_clear(&f);
    return exit_code;
}

static const struct cmd_option doctor_options[] = {
    {"check", 0, OPT_STRING, "ID",
     "run only these checks: ids or prefixes (VHA-SVC), comma-separated; more may follow as "
     "arguments",
     DOCTOR_IDS},
    {"strict", 0, OPT_FLAG, NULL,
     "advice counts as a warning in the exit code (2), for teams that adopt the "
     "recommendations",
     NULL},
    {"token-file", 0, OPT_STRING, "FILE",
     "Vault token for the raft and autopilot checks (else VAULT_TOKEN; never asked)", "@files"},
    {0},
};

const struct cmd_entry cmd_doctor_entry = {
    .name = "doctor",
    .summary = "Find what is wrong around the Vault cluster, and how to fix it",
    .usage = "[--check ID...] [--strict] [--token-file FILE]",
    .help = "Checks what surrounds Vault (the StatefulSet, its services, endpoints and DNS, PVCs\n"
            "and disk, placement over nodes and zones, the disruption budget, TLS certificates,\n"
            "versions and the seal) and, with a Vault token, raft and autopilot. Prints one line\n"
            "per finding: level (ok, advice, warn, error, skipped), check id, what it found,\n"
            "the fix. Advice is a recommendation about a setup that works (the chart's\n"
            "defaults, a Shamir seal): it leaves the exit code at 0 unless --strict.\n"
            "Everything is read at once: the API lists in parallel, and one exec per pod that\n"
            "runs vault status, DNS lookups, df and reads the server config and certificate.\n"
            "It changes nothing. A check that RBAC or the image does not allow says skipped\n"
            "and why; the run still succeeds. The token comes from --token-file, VAULT_TOKEN or\n"
            "BAO_TOKEN (OpenBao); doctor never asks for one.\n"
            "\nExit codes:\n"
            "  0  nothing to report (ok, advice or skipped)\n"
            "  1  could not run (API unreachable, no StatefulSet)\n"
            "  2  warnings only (with --strict: or advice)\n"
            "  3  at least one error\n"
            "\nExamples:\n"
            "  kubectl vault-ha doctor\n"
            "  kubectl vault-ha doctor --check VHA-DNS-001 VHA-SVC\n"
            "  VAULT_TOKEN=... kubectl vault-ha doctor -o json\n",
    .options = doctor_options,
    .args_complete = DOCTOR_IDS,
    .flags = 0,
    .exec = cmd_doctor_exec,
};
