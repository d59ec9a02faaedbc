#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "clock.h"
#include "secret.h"
#include "wipe.h"
#include "json.h"

#define PLUGIN_TIMEOUT_MS (60 * 1000)
#define PLUGIN_OUTPUT_MAX (1u << 20)

extern char **environ;

struct cache_entry {
    char *key;
    struct credential cred;
    struct cache_entry *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;

void credential_free(struct credential *c)
{
    wipe_free_str(c->token);
    c->token = NULL;
    blob_free(&c->client_cert);
    blob_free(&c->client_key);
    c->expiry = 0;
}

static int copy_credential(const struct credential *from, struct credential *to)
{
    memset(to, 0, sizeof *to);
    to->expiry = from->expiry;
    if (from->token != NULL && (to->token = strdup(from->token)) == NULL)
        return -1;
    const struct blob *src[2] = {&from->client_cert, &from->client_key};
    struct blob *dst[2] = {&to->client_cert, &to->client_key};
    for (int i = 0; i < 2; i++) {
        if (src[i]->len == 0)
            continue;
        dst[i]->data = malloc(src[i]->len + 1);
        if (dst[i]->data == NULL)
            return -1;
        memcpy(dst[i]->data, src[i]->data, src[i]->len);
        dst[i]->data[src[i]->len] = '\0';
        dst[i]->len = src[i]->len;
    }
    return 0;
}

void credentials_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    while (cache != NULL) {
        struct cache_entry *e = cache;
        cache = e->next;
        credential_free(&e->cred);
        free(e->key);
        free(e);
    }
    pthread_mutex_unlock(&cache_lock);
}

static char *cache_key(const struct rest_config *cfg)
{
    const struct exec_plugin_config *e = cfg->exec;
    size_t len = strlen(e->api_version) + strlen(e->command) + strlen(cfg->server) + 8;
    for (char **a = e->args; a && *a; a++)
        len += strlen(*a) + 1;
    for (char **a = e->env; a && *a; a++)
        len += strlen(*a) + 1;
    char *k = calloc(len, 1);
    if (k == NULL)
        return NULL;
    strcat(k, e->api_version);
    strcat(k, "\n");
    strcat(k, e->command);
    for (char **a = e->args; a && *a; a++)
        strcat(strcat(k, "\x01"), *a);
    for (char **a = e->env; a && *a; a++)
        strcat(strcat(k, "\x02"), *a);
    strcat(strcat(k, "\n"), cfg->server);
    return k;
}

int credentials_parse(const char *api_version, const char *text, size_t len, struct credential *out,
                      struct error *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (root == NULL)
        return error_set(err, ERR_CONFIG,
                         "the credential plugin printed invalid JSON: %s at line %d, column %d",
                         secret_json_fault(&je), je.line, je.column);
    int rc = 0;
    const char *av = jstr(root, "apiVersion");
    const char *kind = jstr(root, "kind");
    json_t *status = json_object_get(root, "status");
    const char *token = jstr(status, "token");
    const char *cert = jstr(status, "clientCertificateData");
    const char *key = jstr(status, "clientKeyData");
    const char *exp = jstr(status, "expirationTimestamp");
    if (av == NULL || strcmp(av, api_version) != 0)
        rc = error_set(err, ERR_CONFIG,
                       "the credential plugin answered apiVersion \"%s\", but the kubeconfig "
                       "asks for \"%s\"",
                       av ? av : "", api_version);
    else if (kind == NULL || strcmp(kind, "ExecCredential") != 0)
        rc = error_set(err, ERR_CONFIG,
                       "the credential plugin answered kind \"%s\", not "
                       "ExecCredential",
                       kind ? kind : "");
    else if (!json_is_object(status))
        rc = error_set(err, ERR_CONFIG, "the credential plugin's ExecCredential has no status");
    else if ((cert == NULL) != (key == NULL))
        rc = error_set(err, ERR_CONFIG,
                       "the credential plugin gave %s without %s: both or neither are needed",
                       cert ? "clientCertificateData" : "clientKeyData",
                       cert ? "clientKeyData" : "clientCertificateData");
    else if (token == NULL && cert == NULL)
        rc = error_set(err, ERR_CONFIG,
                       "the credential plugin's status has neither a token nor a client "
                       "certificate");
    if (rc == 0 && token != NULL &&
        secret_check_token(token, strlen(token), "the credential plugin's token", err) < 0) {
        err->kind = ERR_CONFIG;
        rc = -1;
    }
    if (rc == 0 && exp != NULL && clock_parse_rfc3339(exp, &out->expiry) < 0)
        rc = error_set(err, ERR_CONFIG,
                       "the credential plugin's expirationTimestamp \"%s\" is not RFC 3339", exp);
    if (rc == 0) {
        if (token != NULL)
            out->token = strdup(token);
        if (cert != NULL) {
            /* Raw PEM in ExecCredential, unlike the kubeconfig's base64 *-data. */
            out->client_cert.data = (unsigned char *)strdup(cert);
            out->client_cert.len = strlen(cert);
            out->client_key.data = (unsigned char *)strdup(key);
            out->client_key.len = strlen(key);
        }
    }
    if (token != NULL)
        explicit_bzero((char *)token, strlen(token));
    if (key != NULL)
        explicit_bzero((char *)key, strlen(key));
    json_decref(root);
    if (rc < 0)
        credential_free(out);
    return rc;
}

static char *exec_info(const struct rest_config *cfg, int interactive)
{
    const struct exec_plugin_config *e = cfg->exec;
    json_t *spec = json_pack("{s:b}", "interactive", interactive);
    if (e->provide_cluster_info) {
        json_t *cl = json_pack("{s:s}", "server", cfg->server);
        if (cfg->tls_server_name)
            json_object_set_new(cl, "tls-server-name", json_string(cfg->tls_server_name));
        if (cfg->insecure_skip_tls_verify)
            json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
        if (cfg->ca.len > 0) {
            char *b64 = malloc(4 * ((cfg->ca.len + 2) / 3) + 1);
            EVP_EncodeBlock((unsigned char *)b64, cfg->ca.data, (int)cfg->ca.len);
            json_object_set_new(cl, "certificate-authority-data", json_string(b64));
            free(b64);
        }
        if (cfg->proxy_url)
            json_object_set_new(cl, "proxy-url", json_string(cfg->proxy_url));
        if (cfg->disable_compression)
            json_object_set_new(cl, "disable-compression", json_true());
        if (e->cluster_config_json != NULL)
            json_object_set_new(cl, "config", json_loads(e->cluster_config_json, 0, NULL));
        json_object_set_new(spec, "cluster", cl);
    }
    json_t *root = json_pack("{s:s, s:s, s:o}", "kind", "ExecCredential", "apiVersion",
                             e->api_version, "spec", spec);
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

/* Strips ANSI escape sequences from an install hint (client-go does too). */
static void strip_ansi(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\033') {
            if (r[1] == '[') {
                r += 2;
                while (*r && !(*r >= '@' && *r <= '~'))
                    r++;
                if (*r == '\0')
                    break;
            }
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
}

static int run_plugin(const struct rest_config *cfg, long limit_ms, struct credential *out,
                      struct error *err)
{
    const struct exec_plugin_config *e = cfg->exec;
    int tty = isatty(STDIN_FILENO);
    if (e->interactive_mode == EXEC_INTERACTIVE_ALWAYS && !tty)
        return error_set(err, ERR_CONFIG,
                         "the credential plugin %s needs a terminal (interactiveMode Always), "
                         "but standard input is not one",
                         e->command);
    int interactive = tty && e->interactive_mode != EXEC_INTERACTIVE_NEVER;
    char *info = exec_info(cfg, interactive);
    size_t nenv = 0, nargs = 0;
    while (environ[nenv])
        nenv++;
    for (char **a = e->env; a && *a; a++)
        nenv++;
    while (e->args && e->args[nargs])
        nargs++;
    char **envp = calloc(nenv + 2, sizeof *envp);
    char **argv = calloc(nargs + 2, sizeof *argv);
    size_t k = 0;
    for (char **p = environ; *p; p++)
        if (strncmp(*p, "KUBERNETES_EXEC_INFO=", 21) != 0)
            envp[k++] = *p;
    for (char **a = e->env; a && *a; a++)
        envp[k++] = *a;
    char *info_env = NULL;
    if (asprintf(&info_env, "KUBERNETES_EXEC_INFO=%s", info) < 0)
        info_env = NULL;
    envp[k++] = info_env;
    argv[0] = e->command;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = e->args[i];
    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        free(envp), free(argv), free(info), free(info_env);
        return error_set(err, ERR_GENERIC, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (!interactive) {
            int nul = open("/dev/null", O_RDONLY);
            dup2(nul, STDIN_FILENO);
        }
        dup2(outp[1], STDOUT_FILENO);
        /* stderr stays the user's: it is the plugin's own message to them. */
        execvpe(argv[0], argv, envp);
        /* Tell the parent that exec failed: errno on the error pipe. */
        int e2 = errno;
        if (write(errp[1], &e2, sizeof e2) < 0)
            _exit(127);
        _exit(127);
    }
    close(outp[1]);
    close(errp[1]);
    free(envp), free(argv), free(info), free(info_env);
    if (pid < 0) {
        close(outp[0]);
        close(errp[0]);
        return error_set(err, ERR_GENERIC, "fork: %s", strerror(errno));
    }
    int exec_errno = 0;
    ssize_t er = read(errp[0], &exec_errno, sizeof exec_errno);
    close(errp[0]);
    char *buf = malloc(PLUGIN_OUTPUT_MAX + 1);
    if (buf == NULL) {
        close(outp[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    size_t len = 0;
    int timed_out = 0, too_long = 0;
    long long start = clock_now_ms();
    for (;;) {
        long left = (long)(limit_ms - (clock_now_ms() - start));
        if (left <= 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pfd = {.fd = outp[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t r = read(outp[0], buf + len, PLUGIN_OUTPUT_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == PLUGIN_OUTPUT_MAX) { /* no ExecCredential is that long */
            too_long = 1;
            kill(pid, SIGKILL);
            break;
        }
    }
    close(outp[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    buf[len] = '\0';
    int rc = 0;
    if (er == (ssize_t)sizeof exec_errno) {
        char hint[1024] = "";
        if (e->install_hint != NULL) {
            snprintf(hint, sizeof hint, "%s", e->install_hint);
            strip_ansi(hint);
        }
        rc =
            error_set(err, ERR_CONFIG, "cannot run the credential plugin %s of user \"%s\": %s%s%s",
                      e->command, cfg->user_name ? cfg->user_name : "?", strerror(exec_errno),
                      hint[0] ? "\n" : "", hint);
    } else if (too_long) {
        rc = error_set(err, ERR_CONFIG,
                       "the credential plugin %s of user \"%s\" printed %u bytes or more: that "
                       "is no ExecCredential",
                       e->command, cfg->user_name ? cfg->user_name : "?", PLUGIN_OUTPUT_MAX);
    } else if (timed_out) {
        rc = error_set(err, ERR_TIMEOUT, "the credential plugin %s did not answer within %ld ms",
                       e->command, limit_ms);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = error_set(err, ERR_CONFIG, "the credential plugin %s of user \"%s\" failed (%s %d)",
                       e->command, cfg->user_name ? cfg->user_name : "?",
                       WIFEXITED(status) ? "exit code" : "signal",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    } else {
        rc = credentials_parse(e->api_version, buf, len, out, err);
        if (rc < 0)
            error_wrap(err, "%s", e->command);
    }
    explicit_bzero(buf, len);
    free(buf);
    return rc;
}

int credentials_get(const struct rest_config *cfg, int force_refresh, struct credential *out,
                    struct error *err)
{
    return credentials_get_until(cfg, force_refresh, 0, out, err);
}

int credentials_get_until(const struct rest_config *cfg, int force_refresh, long long deadline_ms,
                          struct credential *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    if (cfg->exec == NULL)
        return error_set(err, ERR_CONFIG, "user \"%s\" has no credential plugin",
                         cfg->user_name ? cfg->user_name : "?");
    char *key = cache_key(cfg);
    if (key == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *e = cache;
    while (e != NULL && strcmp(e->key, key) != 0)
        e = e->next;
    time_t now = time(NULL);
    int rc = 0;
    if (e != NULL && !force_refresh && (e->cred.expiry == 0 || e->cred.expiry > now)) {
        rc = copy_credential(&e->cred, out) < 0 ? error_set(err, ERR_GENERIC, "out of memory") : 0;
    } else {
        struct credential fresh;
        long limit = PLUGIN_TIMEOUT_MS;
        if (deadline_ms > 0) {
            long long left = deadline_ms - clock_now_ms();
            limit = left < 1 ? 1 : left < limit ? (long)left : limit;
        }
        /* Not under the lock: another context's plugin that hangs must not hold this
         * one up (status --all-contexts). Two runs for one key at once are harmless. */
        pthread_mutex_unlock(&cache_lock);
        rc = run_plugin(cfg, limit, &fresh, err);
        pthread_mutex_lock(&cache_lock);
        e = cache;
        while (e != NULL && strcmp(e->key, key) != 0)
            e = e->next;
        if (rc == 0) {
            if (e == NULL) {
                e = calloc(1, sizeof *e);
                e->key = key;
                key = NULL;
                e->next = cache;
                cache = e;
            } else {
                credential_free(&e->cred);
            }
            e->cred = fresh;
            rc = copy_credential(&e->cred, out) < 0 ? error_set(err, ERR_GENERIC, "out of memory")
                                                    : 0;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    free(key);
    return rc;
}
