/* The command table, the global options, and option access: what every command file and the
 * argument parser share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* One line per command file; the order is the order of `--help`. */
extern const struct cmd_entry cmd_doctor_entry, cmd_upgrade_entry, cmd_recover_entry;
extern const struct cmd_entry cmd_migrate_seal_entry;
extern const struct cmd_entry cmd_rekey_entry, cmd_generate_root_entry, cmd_rotate_entry;
extern const struct cmd_entry cmd_status_entry, cmd_init_entry, cmd_unseal_entry, cmd_join_entry,
    cmd_bootstrap_entry, cmd_peers_entry, cmd_step_down_entry, cmd_remove_peer_entry,
    cmd_exec_entry, cmd_completion_entry, cmd_version_entry, cmd_complete_entry, cmd_man_entry,
    cmd_snapshot_entry;

const struct cmd_entry *const cmd_table[] = {
    &cmd_status_entry,        &cmd_doctor_entry,
    &cmd_init_entry,          &cmd_unseal_entry,
    &cmd_join_entry,          &cmd_bootstrap_entry,
    &cmd_peers_entry,         &cmd_step_down_entry,
    &cmd_remove_peer_entry,   &cmd_snapshot_entry,
    &cmd_upgrade_entry,       &cmd_migrate_seal_entry,
    &cmd_recover_entry,       &cmd_rekey_entry,
    &cmd_generate_root_entry, &cmd_rotate_entry,
    &cmd_exec_entry,          &cmd_completion_entry,
    &cmd_version_entry,       &cmd_complete_entry,
    &cmd_man_entry,           NULL,
};

const struct cmd_option global_option_table[] = {
    {"kubeconfig", 0, OPT_STRING, "FILE", "kubeconfig file to use (only this file)", "@files"},
    {"context", 0, OPT_STRING, "NAME", "kubeconfig context to use", "@contexts"},
    {"cluster", 0, OPT_STRING, "NAME", "kubeconfig cluster to use", "@clusters"},
    {"user", 0, OPT_STRING, "NAME", "kubeconfig user to use", "@users"},
    {"namespace", 'n', OPT_STRING, "NS", "namespace of the Vault StatefulSet", "@namespaces"},
    {"server", 's', OPT_STRING, "URL", "API server address (overrides the kubeconfig)", NULL},
    {"token", 0, OPT_STRING, "TOKEN",
     "bearer token for the API server (visible in your shell history: prefer a kubeconfig)", NULL},
    {"certificate-authority", 0, OPT_STRING, "FILE", "CA file for the API server", "@files"},
    {"insecure-skip-tls-verify", 0, OPT_FLAG, NULL,
     "do not verify the API server's certificate (insecure)", NULL},
    {"tls-server-name", 0, OPT_STRING, "NAME", "server name for the API server's certificate",
     NULL},
    {"request-timeout", 0, OPT_STRING, "DURATION",
     "time limit for each API request, e.g. 10s, 1m; 0 = none (default 30s)", NULL},
    {"timeout", 0, OPT_STRING, "DURATION",
     "how long each wait (leader election, pod start, voter promotion) may take (default 2m)",
     NULL},
    {"output", 'o', OPT_STRING, "FORMAT", "output format: table, wide, json or yaml",
     "table|wide|json|yaml"},
    {"release", 0, OPT_STRING, "NAME", "Helm release of the Vault to use", NULL},
    {"statefulset", 0, OPT_STRING, "NAME", "StatefulSet of the Vault to use", NULL},
    {"container", 0, OPT_STRING, "NAME", "container running Vault (default: vault / openbao)",
     NULL},
    {"no-color", 0, OPT_FLAG, NULL, "no colour (also NO_COLOR=1)", NULL},
    {"verbose", 'v', OPT_FLAG, NULL, "trace API requests on stderr (secrets redacted)", NULL},
    {"read-via", 0, OPT_STRING, "HOW",
     "how Vault is read: auto (pods/proxy when RBAC allows it, else exec), proxy or exec",
     "auto|proxy|exec"},
    {"help", 'h', OPT_FLAG, NULL, "show help", NULL},
    {0},
};

const struct cmd_entry *cmd_find(const char *name)
{
    for (size_t i = 0; cmd_table[i] != NULL; i++) {
        const struct cmd_entry *e = cmd_table[i];
        if (strcmp(e->name, name) == 0 || (e->alias != NULL && strcmp(e->alias, name) == 0))
            return e;
    }
    return NULL;
}

int cmd_option_index(const struct cmd_option *opts, const char *long_name, char short_name)
{
    if (opts == NULL)
        return -1;
    for (int i = 0; opts[i].long_name != NULL; i++) {
        if (long_name != NULL && strcmp(opts[i].long_name, long_name) == 0)
            return i;
        if (short_name != 0 && opts[i].short_name == short_name)
            return i;
    }
    return -1;
}

/* A name the command's table does not have is a bug in the command (it would read as "not
 * given" for ever, as cmd_init_pod's pgp-keys did for bootstrap): stop at once, in tests and in
 * use alike. */
static int known_option(const struct cmd_args *a, const char *name)
{
    int i = cmd_option_index(a->options, name, 0);
    if (i < 0) {
        fprintf(stderr,
                "kubectl vault-ha: internal error: option --%s is not in the command's table\n",
                name);
        abort();
    }
    return i;
}

const char *cmd_opt_str(const struct cmd_args *a, const char *name)
{
    return a->values[known_option(a, name)];
}

int cmd_opt_flag(const struct cmd_args *a, const char *name)
{
    return a->counts[known_option(a, name)] > 0;
}

int cmd_opt_int(const struct cmd_args *a, const char *name, long def, long *out, struct error *err)
{
    const char *v = cmd_opt_str(a, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return error_set(err, ERR_USAGE, "--%s wants a whole number, not \"%s\"", name, v);
    *out = n;
    return 0;
}

/* --- the one reading of a command line ------------------------------------------------------ */

/* The option word names in the command's table or the global one: --name, --name=VALUE, -x,
 * -xVALUE, -x=VALUE (and kubectl's --v=N for --verbose). */
static int match_option(const struct cmd_entry *cmd, const char *word, struct cmd_word *out)
{
    char name[128];
    char short_name = 0;
    const char *inline_value = NULL;
    if (word[1] == '-') {
        const char *eq = strchr(word + 2, '=');
        size_t nl = eq ? (size_t)(eq - word - 2) : strlen(word + 2);
        if (nl >= sizeof name)
            return 0;
        memcpy(name, word + 2, nl);
        name[nl] = '\0';
        inline_value = eq ? eq + 1 : NULL;
        if (strcmp(name, "v") == 0) /* --v=N as kubectl spells it */
            snprintf(name, sizeof name, "verbose");
    } else {
        short_name = word[1];
        if (word[2] == '=')
            inline_value = word + 3;
        else if (word[2] != '\0')
            inline_value = word + 2;
    }
    const struct cmd_option *tables[2] = {cmd ? cmd->options : NULL, global_option_table};
    for (int t = 0; t < 2; t++) {
        int idx = cmd_option_index(tables[t], short_name ? NULL : name, short_name);
        if (idx < 0)
            continue;
        const struct cmd_option *o = &tables[t][idx];
        /* -vx is not -v with a value: a flag takes a value only as -v=N. */
        if (short_name && o->type == OPT_FLAG && word[2] != '\0' && word[2] != '=')
            return 0;
        out->opt = o;
        out->global = t == 1;
        out->index = idx;
        out->value = inline_value;
        out->value_inline = inline_value != NULL;
        return 1;
    }
    return 0;
}

int cmd_word_option(const struct cmd_entry *cmd, const char *word, struct cmd_word *out)
{
    memset(out, 0, sizeof *out);
    out->text = word;
    out->kind = WORD_ARG;
    if (word[0] != '-' || word[1] == '\0' || strcmp(word, "--") == 0)
        return 0;
    if (!match_option(cmd, word, out)) {
        out->kind = WORD_UNKNOWN_OPTION;
        return 0;
    }
    out->kind = WORD_OPTION;
    return 1;
}

void cmd_words_init(struct cmd_words *t, int n, char **words)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->words = words;
}

int cmd_words_next(struct cmd_words *t, struct cmd_word *out)
{
    if (t->i >= t->n)
        return 0;
    char *w = t->words[t->i++];
    memset(out, 0, sizeof *out);
    out->text = w;
    if (t->raw || w[0] != '-' || w[1] == '\0') {
        out->kind = WORD_ARG;
        if (t->cmd == NULL && !t->raw) {
            t->cmd = cmd_find(w);
            out->kind = t->cmd ? WORD_COMMAND : WORD_UNKNOWN_COMMAND;
        }
        return 1;
    }
    if (strcmp(w, "--") == 0) {
        t->raw = 1;
        out->kind = WORD_DASHDASH;
        return 1;
    }
    if (!cmd_word_option(t->cmd, w, out))
        return 1; /* WORD_UNKNOWN_OPTION */
    if (out->opt->type != OPT_FLAG && !out->value_inline) {
        if (t->i < t->n)
            out->value = t->words[t->i++];
        else
            out->value_missing = 1;
    }
    return 1;
}
