/* Kubeconfig loading with client-go's semantics (docs/kubernetes.md §3):
 * KUBECONFIG list merged (first file to set a value wins, named entries win as
 * a whole), --kubeconfig loads only that file, flag overrides, relative paths
 * resolved against the file that defined them, *-data base64, in-cluster
 * config when there is no kubeconfig. The result is a rest_config: everything
 * lib/kube needs to reach one API server as one user. */
#ifndef VH_KUBECONFIG_H
#define VH_KUBECONFIG_H

#include <stddef.h>
#include <time.h>

#include "error.h"

/* Command-line overrides, with kubectl's flag names. NULL/0 = not given. */
struct kubeconfig_flags {
    const char *kubeconfig;            /* --kubeconfig: only this file, must exist */
    const char *context;               /* --context */
    const char *cluster;               /* --cluster */
    const char *user;                  /* --user */
    const char *namespace;             /* -n/--namespace */
    const char *server;                /* --server/-s: also clears tls-server-name */
    const char *token;                 /* --token: sets the token, clears tokenFile */
    const char *certificate_authority; /* --certificate-authority */
    int insecure_skip_tls_verify;      /* --insecure-skip-tls-verify */
    const char *tls_server_name;       /* --tls-server-name */
    /* Where in-cluster credentials live; NULL = /var/run/secrets/kubernetes.io/serviceaccount.
     * Tests point it elsewhere. */
    const char *serviceaccount_dir;
};

/* Bytes owned by the config (PEM text for certificates and keys). */
struct blob {
    unsigned char *data;
    size_t len;
};

/* Wipes and frees the bytes (all of them: keys among them). */
void blob_free(struct blob *b);

enum exec_interactive_mode {
    EXEC_INTERACTIVE_NEVER,
    EXEC_INTERACTIVE_IF_AVAILABLE,
    EXEC_INTERACTIVE_ALWAYS,
};

/* users[].user.exec: a client.authentication.k8s.io credential plugin. */
struct exec_plugin_config {
    char *api_version; /* client.authentication.k8s.io/v1 or /v1beta1 */
    char *command;     /* resolved: absolute when it contained a '/', else looked up on PATH */
    char **args;       /* argv[1..], NULL-terminated */
    char **env;        /* "NAME=value" entries added to the environment, NULL-terminated */
    char *install_hint;
    int provide_cluster_info;
    enum exec_interactive_mode interactive_mode;
    char *cluster_config_json; /* extensions[client.authentication.k8s.io/exec] as JSON, or NULL */
};

struct rest_config {
    /* Where the values came from, for messages: "context \"kind-a\" in /home/u/.kube/config". */
    char *context_name; /* NULL for in-cluster */
    char *cluster_name;
    char *user_name;
    char *origin; /* file that defined the context (or "in-cluster config") */

    char *server;          /* full URL without trailing '/', path prefix kept */
    char *tls_server_name; /* NULL = host of server */
    int insecure_skip_tls_verify;
    struct blob ca;       /* PEM; len 0 = system trust store */
    char *ca_description; /* "file /x/ca.crt", "certificate-authority-data of cluster \"c\"" */
    char *proxy_url;      /* NULL = environment (HTTPS_PROXY, NO_PROXY) */
    int disable_compression;

    struct blob client_cert; /* PEM */
    struct blob client_key;  /* PEM; secret, wiped on free */
    char *token;             /* secret, wiped on free */
    char *token_file;        /* read at load; kept for messages */
    char *username;
    char *password;                  /* secret, wiped on free */
    struct exec_plugin_config *exec; /* NULL when none */

    char *namespace; /* flag, else context's, else in-cluster namespace, else "default" */
    char **warnings; /* NULL-terminated: things the user should hear (insecure, etc.) */
};

/* Loads, merges and resolves the configuration. On failure err says which file
 * (and line, for YAML errors), which name was missing and what exists instead. */
int kubeconfig_load(const struct kubeconfig_flags *flags, struct rest_config **out,
                    struct error *err);

/* The same from a kubeconfig held in memory, as if it were the only file
 * (flags->kubeconfig is not read): name stands for the file in messages, and
 * the files it refers to (certificate-authority, tokenFile, ...) are relative
 * to name's directory. The text need not be NUL-terminated. */
int kubeconfig_load_text(const char *name, const char *text, size_t len,
                         const struct kubeconfig_flags *flags, struct rest_config **out,
                         struct error *err);

void rest_config_free(struct rest_config *cfg);

/* Context names of the merged kubeconfig, for completion and for messages.
 * *names is NULL-terminated and freed with kubeconfig_free_strv(). */
int kubeconfig_list_contexts(const struct kubeconfig_flags *flags, char ***names,
                             struct error *err);

void kubeconfig_free_strv(char **strv);

#endif
