/* completion: shell completion scripts (bash, zsh, fish) and kubectl's plugin
 * completion (kubectl >= 1.26 runs kubectl_complete-vault_ha, docs/kubernetes.md §4.3).
 * All of them call the hidden `__complete` command, which speaks Cobra's
 * protocol: one candidate per line ("value\tdescription"), then ":N" with the
 * ShellCompDirective. Candidates come from the same option tables that drive
 * parsing and --help. Also the hidden `__man`, which writes the man page from
 * those tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "cmd.h"
#include "kube.h"
#include "kubeconfig.h"
#include "text.h"
#include "json.h"

/* Cobra's ShellCompDirective bits. */
#define DIRECTIVE_DEFAULT    0
#define DIRECTIVE_NOSPACE    2
#define DIRECTIVE_NOFILECOMP 4

#define COMPLETE_TIMEOUT_MS 2000 /* a slow cluster must never hang the shell */

static const char bash_script[] =
    "# bash completion for kubectl-vault_ha\n"
    "# source it: source <(kubectl-vault_ha completion bash)\n"
    "_kubectl_vault_ha() {\n"
    "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" out directive line\n"
    "    out=$(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" "
    "2>/dev/null) || return\n"
    "    directive=${out##*:}\n"
    "    out=${out%:*}\n"
    "    COMPREPLY=()\n"
    "    while IFS= read -r line; do\n"
    "        [ -n \"$line\" ] || continue\n"
    "        line=${line%%$'\\t'*}\n"
    "        [[ \"$line\" == \"$cur\"* ]] && COMPREPLY+=(\"$line\")\n"
    "    done <<< \"$out\"\n"
    "    if (( (directive & 2) != 0 )); then compopt -o nospace; fi\n"
    "    if (( ${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then\n"
    "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "    fi\n"
    "}\n"
    "complete -F _kubectl_vault_ha kubectl-vault_ha\n";

static const char zsh_script[] =
    "#compdef kubectl-vault_ha\n"
    "# zsh completion for kubectl-vault_ha\n"
    "# put it in a directory of $fpath as _kubectl-vault_ha, or:\n"
    "#   source <(kubectl-vault_ha completion zsh)\n"
    "_kubectl_vault_ha() {\n"
    "    local -a lines candidates\n"
    "    local out directive line\n"
    "    out=$(\"${words[1]}\" __complete \"${(@)words[2,CURRENT]}\" 2>/dev/null) || return 1\n"
    "    directive=${out##*:}\n"
    "    out=${out%:*}\n"
    "    lines=(\"${(@f)out}\")\n"
    "    for line in $lines; do\n"
    "        [[ -n $line ]] || continue\n"
    "        candidates+=(\"${line//:/\\\\:}\")\n"
    "    done\n"
    "    candidates=(\"${(@)candidates//$'\\t'/:}\")\n"
    "    if (( ${#candidates} > 0 )); then\n"
    "        _describe 'kubectl-vault_ha' candidates\n"
    "    elif (( (directive & 4) == 0 )); then\n"
    "        _files\n"
    "    fi\n"
    "}\n"
    "compdef _kubectl_vault_ha kubectl-vault_ha\n";

static const char fish_script[] =
    "# fish completion for kubectl-vault_ha\n"
    "# kubectl-vault_ha completion fish > ~/.config/fish/completions/kubectl-vault_ha.fish\n"
    "function __kubectl_vault_ha_complete\n"
    "    set -l args (commandline -opc)\n"
    "    set -l cur (commandline -ct)\n"
    "    set -l out ($args[1] __complete $args[2..-1] $cur 2>/dev/null)\n"
    "    or return\n"
    "    set -l directive (string replace -r '^:' '' -- $out[-1])\n"
    "    for line in $out[1..-2]\n"
    "        test -n \"$line\"; and echo $line\n"
    "    end\n"
    "    if test (count $out) -le 1; and test (math \"$directive % 8 - $directive % 4\") -eq 0\n"
    "        __fish_complete_path $cur\n"
    "    end\n"
    "end\n"
    "complete -c kubectl-vault_ha -f -a '(__kubectl_vault_ha_complete)'\n";

static const char kubectl_script[] =
    "#!/bin/sh\n"
    "# kubectl's plugin completion (kubectl >= 1.26) runs kubectl_complete-vault_ha with\n"
    "# the words typed after `kubectl vault-ha`; put this file on your PATH, executable.\n"
    "exec kubectl-vault_ha __complete \"$@\"\n";

static const char *script_for(const char *shell)
{
    if (strcmp(shell, "bash") == 0)
        return bash_script;
    if (strcmp(shell, "zsh") == 0)
        return zsh_script;
    if (strcmp(shell, "fish") == 0)
        return fish_script;
    if (strcmp(shell, "kubectl") == 0)
        return kubectl_script;
    return NULL;
}

static int cmd_completion_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    const char *s = args->argc == 1 ? script_for(args->argv[0]) : NULL;
    if (s == NULL) {
        cmd_errorf(ctx, "completion wants one of: bash, zsh, fish, kubectl\n");
        return EXIT_USAGE;
    }
    fputs(s, ctx->out);
    return EXIT_OK;
}

/* --- __complete ----------------------------------------------------------------------------- */

/* Flag values we need to reach the right cluster while completing. */
struct seen {
    struct kubeconfig_flags kc;
    const char *release, *statefulset, *container;
};

static void remember(struct seen *s, const struct cmd_option *o, const char *v)
{
    const char *n = o->long_name;
    if (strcmp(n, "kubeconfig") == 0)
        s->kc.kubeconfig = v;
    else if (strcmp(n, "context") == 0)
        s->kc.context = v;
    else if (strcmp(n, "cluster") == 0)
        s->kc.cluster = v;
    else if (strcmp(n, "user") == 0)
        s->kc.user = v;
    else if (strcmp(n, "namespace") == 0)
        s->kc.namespace = v;
    else if (strcmp(n, "server") == 0)
        s->kc.server = v;
    else if (strcmp(n, "release") == 0)
        s->release = v;
    else if (strcmp(n, "statefulset") == 0)
        s->statefulset = v;
    else if (strcmp(n, "container") == 0)
        s->container = v;
}

/* One line of the protocol: no control character (the shell shows it; a tab or
 * newline would also split it), nothing a terminal would act on (lib/text). */
static int one_clean_line(const char *s)
{
    return text_is_safe(s, strlen(s)) && strpbrk(s, "\t\n") == NULL;
}

static void candidate(const char *prefix, const char *value, const char *desc, const char *word)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, value);
    if (strncmp(full, word, strlen(word)) != 0 || !one_clean_line(full))
        return; /* names from the API server are not trusted to be names */
    if (desc != NULL && desc[0] != '\0' && one_clean_line(desc))
        printf("%s\t%s\n", full, desc);
    else
        printf("%s\n", full);
}

static struct kube_client *quick_client(struct seen *s, struct rest_config **cfg)
{
    struct error err = {0};
    if (kubeconfig_load(&s->kc, cfg, &err) < 0)
        return NULL;
    struct kube_client_options o = {.request_timeout_ms = COMPLETE_TIMEOUT_MS, .max_retries = 0};
    struct kube_client *kube = NULL;
    if (kube_client_new(*cfg, &o, &kube, &err) < 0)
        return NULL;
    return kube;
}

/* Completes a value of kind spec; returns the directive. */
static int complete_value(struct seen *s, const char *spec, const char *prefix, const char *word)
{
    if (spec == NULL)
        return DIRECTIVE_NOFILECOMP;
    if (strcmp(spec, "@files") == 0)
        return DIRECTIVE_DEFAULT;
    if (spec[0] != '@') {
        char *copy = strdup(spec), *save = NULL;
        for (char *t = strtok_r(copy, "|", &save); t != NULL; t = strtok_r(NULL, "|", &save))
            candidate(prefix, t, NULL, word);
        free(copy);
        return DIRECTIVE_NOFILECOMP;
    }
    if (strcmp(spec, "@contexts") == 0) {
        char **names = NULL;
        struct error err = {0};
        if (kubeconfig_list_contexts(&s->kc, &names, &err) == 0) {
            for (size_t i = 0; names[i] != NULL; i++)
                candidate(prefix, names[i], NULL, word);
            kubeconfig_free_strv(names);
        }
        return DIRECTIVE_NOFILECOMP;
    }
    struct rest_config *cfg = NULL;
    struct kube_client *kube = quick_client(s, &cfg);
    if (kube != NULL && strcmp(spec, "@namespaces") == 0) {
        json_t *list = NULL;
        struct error err = {0};
        if (kube_get(kube, "/api/v1/namespaces", &list, &err) == 0) {
            size_t i;
            json_t *it;
            json_array_foreach(json_object_get(list, "items"), i, it)
            {
                const char *n = jpath_str(it, "metadata", "name");
                if (n != NULL)
                    candidate(prefix, n, NULL, word);
            }
            json_decref(list);
        }
    } else if (kube != NULL && strcmp(spec, "@pods") == 0) {
        struct cluster_query q = {.namespace = cfg->namespace,
                                  .release = s->release,
                                  .statefulset = s->statefulset,
                                  .container = s->container};
        struct vault_cluster *vc = NULL;
        struct error err = {0};
        if (cluster_discover(kube, &q, &vc, &err) == 0) {
            for (size_t i = 0; i < vc->npods; i++)
                candidate(prefix, vc->pods[i].name, vc->pods[i].phase, word);
            cluster_free(vc);
        }
    }
    kube_client_free(kube);
    rest_config_free(cfg);
    return DIRECTIVE_NOFILECOMP;
}

static void list_flags(const struct cmd_option *opts, const char *word)
{
    for (size_t i = 0; opts != NULL && opts[i].long_name != NULL; i++) {
        char name[96];
        snprintf(name, sizeof name, "--%s", opts[i].long_name);
        candidate("", name, opts[i].help, word);
        if (opts[i].short_name != 0 && word[1] != '-') {
            char s[3] = {'-', opts[i].short_name, '\0'};
            candidate("", s, opts[i].help, word);
        }
    }
}

/* words: what was typed after the plugin name; the last one is being completed. The words
 * before it are read as the parser reads them (cmd_words_next). */
int cmd_complete_words(int n, char **words)
{
    struct seen s = {0};
    int positional = 0;
    const char *word = n > 0 ? words[n - 1] : "";
    struct cmd_words t;
    struct cmd_word w;
    cmd_words_init(&t, n > 0 ? n - 1 : 0, words);
    while (cmd_words_next(&t, &w)) {
        if (w.kind == WORD_ARG)
            positional++;
        if (w.kind != WORD_OPTION || w.opt->type == OPT_FLAG)
            continue;
        if (w.value_missing) {
            /* The word being completed is this option's value. */
            printf(":%d\n", complete_value(&s, w.opt->complete, "", word));
            return EXIT_OK;
        }
        remember(&s, w.opt, w.value);
    }
    const struct cmd_entry *cmd = t.cmd;
    int directive = DIRECTIVE_NOFILECOMP;
    if (!t.raw && word[0] == '-') {
        if (cmd_word_option(cmd, word, &w) && w.value_inline && w.opt->type != OPT_FLAG) {
            char prefix[128];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(w.value - word), word);
            directive = complete_value(&s, w.opt->complete, prefix, word);
        } else {
            if (cmd != NULL)
                list_flags(cmd->options, word);
            list_flags(global_option_table, word);
        }
    } else if (cmd == NULL) {
        for (size_t i = 0; cmd_table[i] != NULL; i++)
            if (!(cmd_table[i]->flags & CMD_HIDDEN))
                candidate("", cmd_table[i]->name, cmd_table[i]->summary, word);
    } else if (cmd->subcommands != NULL && positional == 0) {
        for (size_t i = 0; cmd->subcommands[i] != NULL; i++)
            candidate("", cmd->subcommands[i], NULL, word);
    } else if (!t.raw) {
        directive = complete_value(&s, cmd->args_complete, "", word);
    } else {
        directive = DIRECTIVE_DEFAULT;
    }
    printf(":%d\n", directive);
    return EXIT_OK;
}

static int cmd_complete_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    (void)ctx;
    return cmd_complete_words(args->argc, args->argv);
}

/* --- __man ---------------------------------------------------------------------------------- */

static void roff(FILE *f, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", f);
        else if (*p == '-')
            fputs("\\-", f);
        else if ((p == text || p[-1] == '\n') && (*p == '.' || *p == '\''))
            fprintf(f, "\\&%c", *p);
        else
            fputc(*p, f);
    }
}

static void man_options(FILE *f, const struct cmd_option *opts)
{
    for (size_t i = 0; opts != NULL && opts[i].long_name != NULL; i++) {
        fputs(".TP\n.B ", f);
        if (opts[i].short_name)
            fprintf(f, "\\-%c, ", opts[i].short_name);
        fputs("\\-\\-", f);
        roff(f, opts[i].long_name);
        if (opts[i].type != OPT_FLAG)
            fprintf(f, " \\fI%s\\fR", opts[i].arg_name ? opts[i].arg_name : "VALUE");
        fputc('\n', f);
        roff(f, opts[i].help);
        fputc('\n', f);
    }
}

static int cmd_man_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    (void)args;
    FILE *f = ctx->out;
    fprintf(f, ".TH KUBECTL\\-VAULT_HA 1 \"\" \"kubectl-vault_ha %s\" \"User Commands\"\n",
            VH_VERSION);
    fputs(".SH NAME\nkubectl\\-vault_ha \\- operate HashiCorp Vault and OpenBao HA clusters on "
          "Kubernetes\n.SH SYNOPSIS\n.B kubectl vault\\-ha\n[\\fIglobal flags\\fR] "
          "\\fICOMMAND\\fR [\\fIflags\\fR] [\\fIargs\\fR]\n.SH DESCRIPTION\nA kubectl plugin "
          "that turns the runbook of a Vault HA cluster with Raft storage (init, unseal, raft "
          "join, list\\-peers, snapshots) into one command line. It finds the Vault StatefulSet "
          "through the kubeconfig and runs the Vault CLI in the pods through the Kubernetes API. "
          "Unseal keys and tokens travel on standard input, never on a command line.\n"
          ".SH COMMANDS\n",
          f);
    for (size_t i = 0; cmd_table[i] != NULL; i++) {
        const struct cmd_entry *e = cmd_table[i];
        if (e->flags & CMD_HIDDEN)
            continue;
        fputs(".SS \"", f);
        roff(f, e->name);
        fputc(' ', f);
        roff(f, e->usage);
        fputs("\"\n", f);
        roff(f, e->summary);
        fputs(".\n", f);
        if (e->alias != NULL) {
            fputs("Alias: ", f);
            roff(f, e->alias);
            fputs(".\n", f);
        }
        if (e->help != NULL) {
            fputs(".PP\n.nf\n", f);
            roff(f, e->help);
            fputs(".fi\n", f);
        }
        man_options(f, e->options);
    }
    fputs(".SH GLOBAL FLAGS\n", f);
    man_options(f, global_option_table);
    fputs(".SH EXIT STATUS\n.TP\n0\nsuccess; for status: healthy; for doctor: nothing to "
          "report\n.TP\n1\nerror, or status could not tell, or doctor could not run\n.TP\n2\n"
          "status: degraded; doctor: warnings only\n.TP\n3\nstatus: unavailable; doctor: at "
          "least one error\n.TP\n64\nbad "
          "flags or arguments\n.TP\n130\ninterrupted\n.SH ENVIRONMENT\n.TP\nKUBECONFIG\n"
          "kubeconfig files, colon\\-separated\n.TP\nVAULT_TOKEN\nVault token for the commands "
          "that need one (BAO_TOKEN for OpenBao)\n.TP\nNO_COLOR\nno colour\n.SH SEE ALSO\n"
          ".BR kubectl (1)\n",
          f);
    return EXIT_OK;
}

static const struct cmd_option no_options[] = {{0}};
static const char *const shells[] = {"bash", "zsh", "fish", "kubectl", NULL};

const struct cmd_entry cmd_completion_entry = {
    .name = "completion",
    .summary = "Print a shell completion script (bash, zsh, fish, kubectl)",
    .usage = "bash|zsh|fish|kubectl",
    .help = "bash:    source <(kubectl-vault_ha completion bash)\n"
            "zsh:     kubectl-vault_ha completion zsh > \"${fpath[1]}/_kubectl-vault_ha\"\n"
            "fish:    kubectl-vault_ha completion fish > "
            "~/.config/fish/completions/kubectl-vault_ha.fish\n"
            "kubectl: completes `kubectl vault-ha ...` (kubectl >= 1.26); krew cannot install\n"
            "         it, so write it next to the plugin on your PATH:\n"
            "         kubectl vault-ha completion kubectl > ~/.krew/bin/kubectl_complete-vault_ha\n"
            "         chmod +x ~/.krew/bin/kubectl_complete-vault_ha\n",
    .options = no_options,
    .subcommands = shells,
    .flags = CMD_NO_CLUSTER,
    .exec = cmd_completion_exec,
};

const struct cmd_entry cmd_complete_entry = {
    .name = "__complete",
    .summary = "Completion candidates (Cobra protocol), for the shell scripts",
    .usage = "WORDS...",
    .options = no_options,
    .flags = CMD_NO_CLUSTER | CMD_HIDDEN | CMD_RAW_ARGS,
    .exec = cmd_complete_exec,
};

const struct cmd_entry cmd_man_entry = {
    .name = "__man",
    .summary = "The man page, in roff",
    .usage = "",
    .options = no_options,
    .flags = CMD_NO_CLUSTER | CMD_HIDDEN,
    .exec = cmd_man_exec,
};
