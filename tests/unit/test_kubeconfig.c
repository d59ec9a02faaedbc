/* lib/kubeconfig: client-go's loading rules (docs/kubernetes.md §3). Every
 * test writes its kubeconfigs into a fresh directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <malloc.h>

#include "kubeconfig.h"
#include "wipe.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vh-kc-XXXXXX");
    assert_non_null(mkdtemp(dir));
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("POD_NAMESPACE");
    setenv("HOME", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static const char *path_of(const char *name)
{
    static char p[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static const char *put(const char *name, const char *text)
{
    const char *p = path_of(name);
    char d[256];
    snprintf(d, sizeof d, "%s", p);
    for (char *s = d + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(d, 0700);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* "hello" in base64 */
#define B64_HELLO "aGVsbG8="

static const char *BASIC =
    "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
    "clusters:\n"
    "- name: ca\n  cluster:\n    server: https://a.example:6443/prefix\n"
    "    certificate-authority-data: " B64_HELLO "\n"
    "- name: cb\n  cluster:\n    server: https://b.example\n    tls-server-name: kube.b\n"
    "users:\n"
    "- name: ua\n  user:\n    token: tok-a\n"
    "- name: ub\n  user:\n    username: bob\n    password: secret\n"
    "contexts:\n"
    "- name: a\n  context: {cluster: ca, user: ua, namespace: vault}\n"
    "- name: b\n  context: {cluster: cb, user: ub}\n";

static struct rest_config *load(const struct kubeconfig_flags *f)
{
    struct rest_config *c = NULL;
    struct error err = {0};
    int rc = kubeconfig_load(f, &c, &err);
    if (rc != 0)
        fail_msg("kubeconfig_load: %s", err.msg);
    return c;
}

static void test_current_context(void **state)
{
    (void)state;
    struct kubeconfig_flags f = {.kubeconfig = put("config", BASIC)};
    struct rest_config *c = load(&f);
    assert_string_equal(c->context_name, "a");
    assert_string_equal(c->server, "https://a.example:6443/prefix");
    assert_string_equal(c->token, "tok-a");
    assert_string_equal(c->namespace, "vault");
    assert_int_equal(c->ca.len, 5);
    assert_memory_equal(c->ca.data, "hello", 5);
    assert_non_null(strstr(c->ca_description, "certificate-authority-data of cluster \"ca\""));
    rest_config_free(c);
}

/* From memory: the same result as from a file, files it names relative to the
 * name's directory, errors naming the name and line, text without a NUL. */
static void test_load_text(void **state)
{
    (void)state;
    struct kubeconfig_flags none = {.kubeconfig = "/nonexistent/ignored"};
    struct rest_config *c = NULL;
    struct error err = {0};
    char name[300];
    snprintf(name, sizeof name, "%s/mem-config", dir);
    assert_int_equal(kubeconfig_load_text(name, BASIC, strlen(BASIC), &none, &c, &err), 0);
    assert_string_equal(c->context_name, "a");
    assert_string_equal(c->server, "https://a.example:6443/prefix");
    assert_string_equal(c->token, "tok-a");
    assert_string_equal(c->origin, name);
    rest_config_free(c);

    put("tok", "  from-file\n");
    static const char rel[] = "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
                              "'https://h'}\nusers:\n- name: u\n  user: {tokenFile: tok}\n"
                              "contexts:\n- name: a\n  context: {cluster: c, user: u}\nXXX";
    assert_int_equal(kubeconfig_load_text(name, rel, sizeof rel - 4, &none, &c, &err), 0);
    assert_string_equal(c->token, "from-file");
    rest_config_free(c);

    static const char bad[] = "clusters: 3\n";
    assert_int_equal(kubeconfig_load_text("mem", bad, sizeof bad - 1, &none, &c, &err), -1);
    assert_null(c);
    assert_string_equal(err.msg, "mem:1: clusters must be a list");
    assert_int_equal(kubeconfig_load_text("mem", NULL, 0, &none, &c, &err), -1);
    assert_string_equal(err.msg, "no current context in mem: set current-context or use --context "
                                 "(contexts: none)");
}

static void test_overrides(void **state)
{
    (void)state;
    struct kubeconfig_flags f = {.kubeconfig = put("config", BASIC), .context = "b"};
    struct rest_config *c = load(&f);
    assert_string_equal(c->server, "https://b.example");
    assert_string_equal(c->tls_server_name, "kube.b");
    assert_string_equal(c->username, "bob");
    assert_string_equal(c->password, "secret");
    assert_string_equal(c->namespace, "default");
    rest_config_free(c);
    /* --server clears tls-server-name; --token replaces the user's; -n wins. */
    f.server = "https://other:443";
    f.user = "ua";
    f.token = "flag-token";
    f.namespace = "ns1";
    c = load(&f);
    assert_string_equal(c->server, "https://other:443");
    assert_null(c->tls_server_name);
    assert_string_equal(c->token, "flag-token");
    assert_string_equal(c->namespace, "ns1");
    assert_string_equal(c->user_name, "ua");
    rest_config_free(c);
    /* --cluster picks another cluster for the same context. */
    struct kubeconfig_flags g = {.kubeconfig = f.kubeconfig, .cluster = "cb"};
    c = load(&g);
    assert_string_equal(c->server, "https://b.example");
    assert_string_equal(c->token, "tok-a");
    rest_config_free(c);
}

static void test_insecure_and_ca_flags(void **state)
{
    (void)state;
    put("ca.pem", "PEM");
    struct kubeconfig_flags f = {.kubeconfig = put("config", BASIC), .insecure_skip_tls_verify = 1};
    struct rest_config *c = load(&f);
    assert_true(c->insecure_skip_tls_verify);
    assert_int_equal(c->ca.len, 0);
    assert_string_equal(c->warnings[0],
                        "TLS verification disabled for cluster \"ca\" (insecure-skip-tls-verify)");
    rest_config_free(c);
    struct kubeconfig_flags g = {.kubeconfig = f.kubeconfig,
                                 .certificate_authority = path_of("ca.pem")};
    c = load(&g);
    assert_int_equal(c->ca.len, 3);
    assert_non_null(strstr(c->ca_description, "(--certificate-authority)"));
    rest_config_free(c);
}

static void test_merge_first_file_wins(void **state)
{
    (void)state;
    const char *one =
        put("one/config", "current-context: first\n"
                          "clusters:\n- name: c\n  cluster: {server: 'https://one'}\n"
                          "users:\n- name: u\n  user: {token: one-token}\n"
                          "contexts:\n- name: first\n  context: {cluster: c, user: u}\n");
    const char *two =
        put("two/config", "current-context: second\n"
                          "clusters:\n- name: c\n  cluster: {server: 'https://two', "
                          "insecure-skip-tls-verify: true}\n"
                          "- name: c2\n  cluster: {server: 'https://two-b'}\n"
                          "users:\n- name: u\n  user: {token: two-token}\n"
                          "contexts:\n- name: second\n  context: {cluster: c2, user: u}\n");
    char env[600];
    snprintf(env, sizeof env, "%s::%s:%s:/nonexistent/file", one, two, one);
    setenv("KUBECONFIG", env, 1);
    struct kubeconfig_flags f = {0};
    struct rest_config *c = load(&f);
    /* current-context from the first file; cluster c from the first file, as a whole. */
    assert_string_equal(c->context_name, "first");
    assert_string_equal(c->server, "https://one");
    assert_false(c->insecure_skip_tls_verify);
    rest_config_free(c);
    f.context = "second";
    c = load(&f);
    assert_string_equal(c->server, "https://two-b");
    assert_string_equal(c->token, "one-token"); /* user u from the first file */
    rest_config_free(c);
    char **names = NULL;
    struct error err = {0};
    assert_int_equal(kubeconfig_list_contexts(&f, &names, &err), 0);
    assert_string_equal(names[0], "first");
    assert_string_equal(names[1], "second");
    assert_null(names[2]);
    kubeconfig_free_strv(names);
    unsetenv("KUBECONFIG");
}

static void test_relative_paths(void **state)
{
    (void)state;
    put("sub/certs/ca.crt", "CA-PEM");
    put("sub/certs/me.crt", "CERT-PEM");
    put("sub/certs/me.key", "KEY-PEM");
    put("sub/token", "  file-token\n");
    const char *p =
        put("sub/config", "current-context: x\n"
                          "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                          "    certificate-authority: certs/ca.crt\n"
                          "users:\n- name: cert\n  user:\n    client-certificate: certs/me.crt\n"
                          "    client-key: certs/me.key\n"
                          "- name: tf\n  user:\n    tokenFile: token\n"
                          "contexts:\n- name: x\n  context: {cluster: c, user: cert}\n"
                          "- name: y\n  context: {cluster: c, user: tf}\n");
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir("/"), 0); /* relative to the file, not the working directory */
    struct kubeconfig_flags f = {.kubeconfig = p};
    struct rest_config *c = load(&f);
    assert_memory_equal(c->ca.data, "CA-PEM", 6);
    assert_memory_equal(c->client_cert.data, "CERT-PEM", 8);
    assert_memory_equal(c->client_key.data, "KEY-PEM", 7);
    char expect[300];
    snprintf(expect, sizeof expect, "file %s/sub/certs/ca.crt", dir);
    assert_string_equal(c->ca_description, expect);
    rest_config_free(c);
    f.context = "y";
    c = load(&f);
    assert_string_equal(c->token, "file-token");
    rest_config_free(c);
    assert_int_equal(chdir(cwd), 0);
}

static void test_exec_user(void **state)
{
    (void)state;
    const char *p = put("config", "current-context: x\n"
                                  "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                                  "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
                                  "      extension: {audience: vault}\n"
                                  "users:\n- name: e\n  user:\n    exec:\n"
                                  "      apiVersion: client.authentication.k8s.io/v1\n"
                                  "      command: ./bin/plugin\n      args: [get-token, --x]\n"
                                  "      env: [{name: A, value: b}]\n      interactiveMode: Never\n"
                                  "      installHint: install it\n      provideClusterInfo: true\n"
                                  "- name: onpath\n  user:\n    exec:\n"
                                  "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                  "      command: aws\n"
                                  "contexts:\n- name: x\n  context: {cluster: c, user: e}\n"
                                  "- name: y\n  context: {cluster: c, user: onpath}\n");
    struct kubeconfig_flags f = {.kubeconfig = p};
    struct rest_config *c = load(&f);
    char expect[300];
    snprintf(expect, sizeof expect, "%s/./bin/plugin", dir);
    assert_string_equal(c->exec->command, expect);
    assert_string_equal(c->exec->args[0], "get-token");
    assert_string_equal(c->exec->args[1], "--x");
    assert_null(c->exec->args[2]);
    assert_string_equal(c->exec->env[0], "A=b");
    assert_int_equal(c->exec->interactive_mode, EXEC_INTERACTIVE_NEVER);
    assert_true(c->exec->provide_cluster_info);
    assert_string_equal(c->exec->cluster_config_json, "{\"audience\":\"vault\"}");
    rest_config_free(c);
    f.context = "y";
    c = load(&f);
    assert_string_equal(c->exec->command, "aws"); /* no slash: looked up on PATH */
    assert_int_equal(c->exec->interactive_mode, EXEC_INTERACTIVE_IF_AVAILABLE);
    rest_config_free(c);
}

static void expect_error(const char *text, const struct kubeconfig_flags *extra,
                         const char *expected_fmt)
{
    const char *p = put("bad", text);
    struct kubeconfig_flags f = extra ? *extra : (struct kubeconfig_flags){0};
    f.kubeconfig = p;
    struct rest_config *c = NULL;
    struct error err = {0};
    assert_int_equal(kubeconfig_load(&f, &c, &err), -1);
    assert_null(c);
    /* expected_fmt names the file with %F. */
    char expect[1024];
    size_t n = 0;
    for (const char *q = expected_fmt; *q && n < sizeof expect - 300; q++) {
        if (q[0] == '%' && q[1] == 'F') {
            n += (size_t)snprintf(expect + n, sizeof expect - n, "%s", p);
            q++;
        } else {
            expect[n++] = *q;
        }
    }
    expect[n] = '\0';
    assert_string_equal(err.msg, expect);
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    /* YAML aliases in the exec extension: one that contains itself recursed forever;
     * 40 levels of doubling never finished (found by fuzzing and by hand). */
    static const char exec_user[] =
        "users:\n- name: e\n  user:\n    exec:\n"
        "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: e}\ncurrent-context: x\n";
    char text[8192];
    snprintf(text, sizeof text,
             "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
             "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
             "      extension: &a [*a]\n%s",
             exec_user);
    expect_error(text, NULL,
                 "%F:7: the exec extension of cluster \"c\" nests deeper than 64 levels (a YAML "
                 "alias that contains itself?)");
    size_t n = (size_t)snprintf(text, sizeof text,
                                "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                                "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
                                "      extension:\n        l0: &a0 [x, x]\n");
    for (int i = 1; i <= 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "        l%d: &a%d [*a%d, *a%d]\n", i, i,
                              i - 1, i - 1);
    snprintf(text + n, sizeof text - n, "%s", exec_user);
    expect_error(text, NULL,
                 "%F:8: the exec extension of cluster \"c\" expands to more than 10000 values "
                 "(YAML aliases that repeat each other)");
    /* A null exec argument ended the NULL-terminated argv early (found by fuzzing). */
    expect_error("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                 "users:\n- name: e\n  user:\n    exec:\n"
                 "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
                 "      args:\n      - a\n      - ~\n      - b\n"
                 "contexts:\n- name: x\n  context: {cluster: c, user: e}\ncurrent-context: x\n",
                 NULL,
                 "%F:13: user \"e\": exec args[1] is null or not a string; quote it (\"~\") or "
                 "remove it");
    expect_error("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                 "users:\n- name: e\n  user:\n    exec:\n"
                 "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
                 "      args: [a, {b: c}]\n"
                 "contexts:\n- name: x\n  context: {cluster: c, user: e}\ncurrent-context: x\n",
                 NULL,
                 "%F:11: user \"e\": exec args[1] is null or not a string; quote it (\"~\") or "
                 "remove it");
    expect_error("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                 "users:\n- name: e\n  user:\n    exec:\n"
                 "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
                 "      env: [{value: b}]\n"
                 "contexts:\n- name: x\n  context: {cluster: c, user: e}\ncurrent-context: x\n",
                 NULL, "%F:11: user \"e\": exec env[0] has no name");
    expect_error("clusters:\n- name: a\n  cluster: {server: x\n", NULL,
                 "%F:4:1: invalid YAML: did not find expected ',' or '}' while parsing a flow "
                 "mapping");
    expect_error("clusters: 3\n", NULL, "%F:1: clusters must be a list");
    expect_error("clusters:\n- name: a\n  cluster: {server: x}\n- name: a\n  cluster: {}\n", NULL,
                 "%F:4: duplicate name \"a\" in list clusters");
    struct kubeconfig_flags ctx = {.context = "nope"};
    expect_error(BASIC, &ctx, "context \"nope\" does not exist in %F (known contexts: a, b)");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h', "
                 "certificate-authority-data: '!!!'}\ncontexts:\n- name: a\n  context: "
                 "{cluster: c}\n",
                 NULL, "%F:4: certificate-authority-data is not valid base64");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                 "users:\n- name: u\n  user: {client-certificate-data: " B64_HELLO "}\n"
                 "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
                 NULL, "%F:6: user \"u\" has a client certificate but no client key");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                 "users:\n- name: u\n  user: {token: t, username: x}\n"
                 "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
                 NULL,
                 "%F:6: user \"u\": more than one authentication method (token and "
                 "username/password)");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                 "users:\n- name: u\n  user: {exec: {apiVersion: "
                 "client.authentication.k8s.io/v1, command: x}}\n"
                 "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
                 NULL,
                 "%F:7: user \"u\": exec: interactiveMode must be specified for "
                 "client.authentication.k8s.io/v1 (Never, IfAvailable or Always)");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                 "users:\n- name: u\n  user: {auth-provider: {name: gcp}}\n"
                 "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
                 NULL,
                 "%F:7: user \"u\": the gcp auth-provider was removed in Kubernetes 1.25; use "
                 "gke-gcloud-auth-plugin (an exec credential plugin)");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://h', "
                 "insecure-skip-tls-verify: true, certificate-authority-data: " B64_HELLO "}\n"
                 "contexts:\n- name: a\n  context: {cluster: c}\n",
                 NULL,
                 "cluster \"c\": specifying a root certificates file with the insecure flag is "
                 "not allowed");
    struct kubeconfig_flags missing = {0};
    struct rest_config *c = NULL;
    struct error err = {0};
    missing.kubeconfig = "/nonexistent/kubeconfig";
    assert_int_equal(kubeconfig_load(&missing, &c, &err), -1);
    assert_string_equal(err.msg, "--kubeconfig /nonexistent/kubeconfig: No such file or directory");
}

static void test_token_control_characters_refused(void **state)
{
    (void)state;
    /* From the kubeconfig, a tokenFile and --token: CR LF would end the
     * Authorization header (a hand-written WebSocket upgrade among others). */
    const char *cfgtext = "current-context: x\n"
                          "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                          "users:\n- name: u\n  user:\n    token: \"t\\r\\nX-Evil: 1\"\n"
                          "- name: f\n  user:\n    tokenFile: tok\n"
                          "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                          "- name: y\n  context: {cluster: c, user: f}\n";
    put("tok", "a\x1b]52;c;eA==\x07b\n");
    struct kubeconfig_flags f = {.kubeconfig = put("config", cfgtext)};
    struct rest_config *c = NULL;
    struct error err = {0};
    assert_int_equal(kubeconfig_load(&f, &c, &err), -1);
    assert_null(c);
    char expect[512];
    snprintf(expect, sizeof expect,
             "user \"u\" in %s: the token holds a control character (0x0d at byte 2); a token is "
             "one line of printable text",
             f.kubeconfig);
    assert_string_equal(err.msg, expect);
    f.context = "y";
    assert_int_equal(kubeconfig_load(&f, &c, &err), -1);
    snprintf(expect, sizeof expect,
             "user \"f\" in %s: the token holds a control character (0x1b at byte 2); a token is "
             "one line of printable text",
             f.kubeconfig);
    assert_string_equal(err.msg, expect);
    f.token = "x\ny";
    assert_int_equal(kubeconfig_load(&f, &c, &err), -1);
    assert_string_equal(err.msg, "--token: the token holds a control character (0x0a at byte 2); "
                                 "a token is one line of printable text");
}

static void test_no_config_and_in_cluster(void **state)
{
    (void)state;
    struct kubeconfig_flags f = {.serviceaccount_dir = path_of("sa")};
    struct rest_config *c = NULL;
    struct error err = {0};
    assert_int_equal(kubeconfig_load(&f, &c, &err), -1);
    char expect[512];
    snprintf(expect, sizeof expect,
             "no kubeconfig found (looked at %s/.kube/config) and not running in a cluster: use "
             "--kubeconfig FILE or set KUBECONFIG",
             dir);
    assert_string_equal(err.msg, expect);
    put("sa/token", "sa-token\n");
    put("sa/ca.crt", "SA-CA");
    put("sa/namespace", "vault-ns\n");
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    c = load(&f);
    assert_string_equal(c->server, "https://[fd00::1]:443");
    assert_string_equal(c->token, "sa-token");
    assert_string_equal(c->namespace, "vault-ns");
    assert_memory_equal(c->ca.data, "SA-CA", 5);
    rest_config_free(c);
    setenv("POD_NAMESPACE", "from-env", 1);
    c = load(&f);
    assert_string_equal(c->namespace, "from-env");
    rest_config_free(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("POD_NAMESPACE");
}

static void test_http_server_drops_credentials(void **state)
{
    (void)state;
    /* No CA, no insecure: a server without scheme is plain http (client-go's rule), and
     * credentials are not sent over it. With a CA it would be https. */
    struct kubeconfig_flags f = {
        .kubeconfig = put("config", BASIC), .context = "b", .server = "h:8080"};
    struct rest_config *c = load(&f);
    assert_string_equal(c->server, "http://h:8080");
    assert_null(c->password);
    assert_string_equal(c->warnings[0], "server http://h:8080 is not https: the credentials of "
                                        "user \"ub\" (password) are not sent");
    rest_config_free(c);
    f.context = "a";
    c = load(&f);
    assert_string_equal(c->server, "https://h:8080");
    assert_string_equal(c->token, "tok-a");
    rest_config_free(c);
    /* No credential of any kind goes to a plain-HTTP server: an exec plugin's token
     * neither (the plugin does not even run), nor a client certificate. */
    const char *p =
        put("exec-config", "current-context: x\n"
                           "clusters:\n- name: c\n  cluster:\n    server: http://h:8080\n"
                           "users:\n- name: e\n  user:\n    exec:\n"
                           "      apiVersion: client.authentication.k8s.io/v1\n"
                           "      command: /bin/false\n      interactiveMode: Never\n"
                           "- name: cert\n  user:\n    client-certificate-data: " B64_HELLO "\n"
                           "    client-key-data: " B64_HELLO "\n"
                           "contexts:\n- name: x\n  context: {cluster: c, user: e}\n"
                           "- name: y\n  context: {cluster: c, user: cert}\n");
    struct kubeconfig_flags fe = {.kubeconfig = p};
    c = load(&fe);
    assert_null(c->exec);
    assert_null(c->token);
    assert_string_equal(c->warnings[0], "server http://h:8080 is not https: the credentials of "
                                        "user \"e\" (exec plugin /bin/false) are not sent");
    assert_null(c->warnings[1]);
    rest_config_free(c);
    fe.context = "y";
    c = load(&fe);
    assert_int_equal(c->client_cert.len, 0);
    assert_int_equal(c->client_key.len, 0);
    assert_string_equal(c->warnings[0], "server http://h:8080 is not https: the credentials of "
                                        "user \"cert\" (client certificate) are not sent");
    rest_config_free(c);
}

/* What wipe_free hands back to free(): counted, and searched for the token. */
static int released, released_with_token;

static void count_release(void *p)
{
    released++;
    if (memmem(p, malloc_usable_size(p), "TOKEN-7f3e", 10) != NULL)
        released_with_token++;
    free(p);
}

static void test_token_file_growth_wiped(void **state)
{
    (void)state;
    /* A token file larger than the first read buffer: the buffer grows without
     * realloc, which would leave the first part of the token in freed memory. */
    size_t n = 20000;
    char *tok = malloc(n + 2);
    memcpy(tok, "TOKEN-7f3e", 10);
    memset(tok + 10, 'k', n - 10);
    tok[n] = '\n';
    tok[n + 1] = '\0';
    put("token", tok);
    const char *p = put("config", "current-context: x\n"
                                  "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                                  "users:\n- name: tf\n  user:\n    tokenFile: token\n"
                                  "contexts:\n- name: x\n  context: {cluster: c, user: tf}\n");
    struct kubeconfig_flags f = {.kubeconfig = p};
    released = released_with_token = 0;
    wipe_release = count_release;
    struct rest_config *c = load(&f);
    assert_int_equal(strlen(c->token), n);
    assert_true(released >= 3); /* 4 KiB -> 8 -> 16 -> 32 KiB */
    rest_config_free(c);
    wipe_release = free;
    assert_int_equal(released_with_token, 0);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_and_ca_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_first_file_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_config_and_in_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_drops_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_growth_wiped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_control_characters_refused, setup, teardown),
    };
    return cmocka_run_group_tests_name("kubeconfig", tests, NULL, NULL);
}
