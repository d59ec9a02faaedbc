/* lib/credentials: exec credential plugins (docs/kubernetes.md §3.4), with a
 * shell-script plugin written by each test that records its runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "credentials.h"

static char dir[64];
static char plugin[128], runs[128], info[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vh-cred-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(plugin, sizeof plugin, "%s/plugin", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    snprintf(info, sizeof info, "%s/info", dir);
    credentials_clear();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    credentials_clear();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* A plugin that counts its runs, saves KUBERNETES_EXEC_INFO and prints body. */
static void write_plugin(const char *body, int exit_code)
{
    FILE *f = fopen(plugin, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\necho run >> '%s'\nprintf '%%s' \"$KUBERNETES_EXEC_INFO\" > '%s'\n"
            "cat <<'JSON'\n%s\nJSON\nexit %d\n",
            runs, info, body, exit_code);
    fclose(f);
    chmod(plugin, 0755);
}

static int run_count(void)
{
    FILE *f = fopen(runs, "r");
    if (f == NULL)
        return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static char *args_none[] = {NULL};
static char *env_none[] = {NULL};

static struct exec_plugin_config exec_cfg = {
    .api_version = "client.authentication.k8s.io/v1",
    .command = plugin,
    .args = args_none,
    .env = env_none,
    .interactive_mode = EXEC_INTERACTIVE_NEVER,
};

static struct rest_config cfg = {
    .server = "https://api.example:6443",
    .user_name = "dev",
    .exec = &exec_cfg,
};

#define TOKEN_OK                                                                                   \
    "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","             \
    "\"status\":{\"token\":\"tok-1\"}}"

static void test_token_and_cache(void **state)
{
    (void)state;
    write_plugin(TOKEN_OK, 0);
    struct credential c;
    struct error err = {0};
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), 0);
    assert_string_equal(c.token, "tok-1");
    assert_int_equal(c.expiry, 0);
    credential_free(&c);
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), 0); /* cached: no expiry */
    credential_free(&c);
    assert_int_equal(run_count(), 1);
    assert_int_equal(credentials_get(&cfg, 1, &c, &err), 0); /* after a 401 */
    credential_free(&c);
    assert_int_equal(run_count(), 2);
    /* KUBERNETES_EXEC_INFO as client-go sends it. */
    FILE *f = fopen(info, "r");
    char buf[512] = "";
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "{\"kind\":\"ExecCredential\",\"apiVersion\":"
                             "\"client.authentication.k8s.io/v1\",\"spec\":{\"interactive\":"
                             "false}}");
}

static void test_expiry(void **state)
{
    (void)state;
    write_plugin("{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
                 "\"status\":{\"token\":\"old\",\"expirationTimestamp\":\"2001-02-03T04:05:06Z\"}}",
                 0);
    struct credential c;
    struct error err = {0};
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), 0);
    assert_int_equal(c.expiry, 981173106);
    credential_free(&c);
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), 0); /* expired: run again */
    credential_free(&c);
    assert_int_equal(run_count(), 2);
    write_plugin("{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
                 "\"status\":{\"token\":\"new\",\"expirationTimestamp\":"
                 "\"2999-01-01T00:00:00.123+02:00\"}}",
                 0);
    credentials_clear();
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), 0);
    assert_string_equal(c.token, "new");
    assert_int_equal(c.expiry, 32472144000 - 7200); /* 2999-01-01T00:00:00+02:00 */
    credential_free(&c);
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), 0);
    credential_free(&c);
    assert_int_equal(run_count(), 3);
}

static void test_client_certificate(void **state)
{
    (void)state;
    struct credential c;
    struct error err = {0};
    const char *json = "{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1beta1\",\"status\":{"
                       "\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nX\\n\","
                       "\"clientKeyData\":\"-----BEGIN PRIVATE KEY-----\\nY\\n\"}}";
    assert_int_equal(
        credentials_parse("client.authentication.k8s.io/v1beta1", json, strlen(json), &c, &err), 0);
    assert_null(c.token);
    assert_string_equal((char *)c.client_cert.data, "-----BEGIN CERTIFICATE-----\nX\n");
    assert_string_equal((char *)c.client_key.data, "-----BEGIN PRIVATE KEY-----\nY\n");
    credential_free(&c);
}

static void expect_parse_error(const char *json, const char *msg)
{
    struct credential c;
    struct error err = {0};
    assert_int_equal(
        credentials_parse("client.authentication.k8s.io/v1", json, strlen(json), &c, &err), -1);
    assert_string_equal(err.msg, msg);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1beta1\",\"status\":{\"token\":\"t\"}}",
                       "the credential plugin answered apiVersion "
                       "\"client.authentication.k8s.io/v1beta1\", but the kubeconfig asks for "
                       "\"client.authentication.k8s.io/v1\"");
    expect_parse_error("{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1\"}",
                       "the credential plugin's ExecCredential has no status");
    expect_parse_error("{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1\",\"status\":{\"clientKeyData\":\"k\"}}",
                       "the credential plugin gave clientKeyData without clientCertificateData: "
                       "both or neither are needed");
    expect_parse_error("{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"t\","
                       "\"expirationTimestamp\":\"tomorrow\"}}",
                       "the credential plugin's expirationTimestamp \"tomorrow\" is not RFC 3339");
    /* A short offset ("+1:1", found by fuzzing) was read past its end. */
    expect_parse_error("{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"t\","
                       "\"expirationTimestamp\":\"2026-01-01T00:00:00+1:1\"}}",
                       "the credential plugin's expirationTimestamp \"2026-01-01T00:00:00+1:1\" "
                       "is not RFC 3339");
    /* CR LF in a bearer token would end the Authorization header and add others. */
    expect_parse_error("{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1\",\"status\":{\"token\":"
                       "\"t\\r\\nImpersonate-User: admin\"}}",
                       "the credential plugin's token: the token holds a control character (0x0d "
                       "at byte 2); a token is one line of printable text");
    expect_parse_error("nope", "the credential plugin printed invalid JSON: invalid syntax at "
                               "line 1, column 4");
    /* jansson's own text would quote the token up to there (20 characters at most). */
    expect_parse_error("{\"kind\":\"ExecCredential\",\"apiVersion\":"
                       "\"client.authentication.k8s.io/v1\",\"status\":{\"token\":"
                       "\"sha256~SECRET\tTOKENVALUE\"}}",
                       "the credential plugin printed invalid JSON: a control character at line "
                       "1, column 104");
}

static void test_plugin_failures(void **state)
{
    (void)state;
    write_plugin("{}", 3);
    struct credential c;
    struct error err = {0};
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), -1);
    char expect[512];
    snprintf(expect, sizeof expect, "the credential plugin %s of user \"dev\" failed (exit code 3)",
             plugin);
    assert_string_equal(err.msg, expect);
    struct exec_plugin_config missing = exec_cfg;
    missing.command = "vh-no-such-plugin";
    missing.install_hint = "\033[1minstall\033[0m it with apt";
    struct rest_config mc = cfg;
    mc.exec = &missing;
    assert_int_equal(credentials_get(&mc, 0, &c, &err), -1);
    assert_string_equal(err.msg, "cannot run the credential plugin vh-no-such-plugin of user "
                                 "\"dev\": No such file or directory\ninstall it with apt");
    /* A plugin that prints without end: read up to the cap, then told. */
    struct exec_plugin_config endless = exec_cfg;
    endless.command = "/usr/bin/yes";
    mc.exec = &endless;
    assert_int_equal(credentials_get(&mc, 0, &c, &err), -1);
    assert_string_equal(err.msg, "the credential plugin /usr/bin/yes of user \"dev\" printed "
                                 "1048576 bytes or more: that is no ExecCredential");
}

static void test_cluster_info(void **state)
{
    (void)state;
    write_plugin(TOKEN_OK, 0);
    struct exec_plugin_config e = exec_cfg;
    e.provide_cluster_info = 1;
    e.cluster_config_json = "{\"audience\":\"vault\"}";
    struct rest_config c2 = cfg;
    c2.exec = &e;
    c2.ca.data = (unsigned char *)"hello";
    c2.ca.len = 5;
    c2.tls_server_name = "api";
    struct credential c;
    struct error err = {0};
    assert_int_equal(credentials_get(&c2, 0, &c, &err), 0);
    credential_free(&c);
    FILE *f = fopen(info, "r");
    char buf[1024] = "";
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "{\"kind\":\"ExecCredential\",\"apiVersion\":"
                             "\"client.authentication.k8s.io/v1\",\"spec\":{\"interactive\":"
                             "false,\"cluster\":{\"server\":\"https://api.example:6443\","
                             "\"tls-server-name\":\"api\",\"certificate-authority-data\":"
                             "\"aGVsbG8=\",\"config\":{\"audience\":\"vault\"}}}}");
}

/* A plugin that never answers, run with a deadline (status --all-contexts). */
static char hang_plugin[160];
static struct exec_plugin_config hang_exec = {
    .api_version = "client.authentication.k8s.io/v1",
    .command = hang_plugin,
    .args = args_none,
    .env = env_none,
    .interactive_mode = EXEC_INTERACTIVE_NEVER,
};
static struct rest_config hang_cfg = {
    .server = "https://api.other:6443",
    .user_name = "other",
    .exec = &hang_exec,
};

static void *hang_thread(void *arg)
{
    struct error *err = arg;
    struct credential c;
    credentials_get_until(&hang_cfg, 0, clock_now_ms() + 1500, &c, err);
    return NULL;
}

static void test_deadline(void **state)
{
    (void)state;
    snprintf(hang_plugin, sizeof hang_plugin, "%s/hang", dir);
    FILE *f = fopen(hang_plugin, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexec sleep 60\n", f);
    fclose(f);
    chmod(hang_plugin, 0755);
    write_plugin(TOKEN_OK, 0);
    struct error hang_err = {0};
    long long t0 = clock_now_ms();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hang_thread, &hang_err), 0);
    /* The other context's plugin does not wait for the one that hangs. */
    while (clock_now_ms() - t0 < 200)
        usleep(10000);
    struct credential c;
    struct error err = {0};
    assert_int_equal(credentials_get(&cfg, 0, &c, &err), 0);
    assert_true(clock_now_ms() - t0 < 1400);
    assert_string_equal(c.token, "tok-1");
    credential_free(&c);
    pthread_join(t, NULL);
    long long took = clock_now_ms() - t0;
    assert_true(took >= 1400 && took < 10000); /* the deadline, not the plugin's 60 s */
    assert_int_equal(hang_err.kind, ERR_TIMEOUT);
    assert_non_null(strstr(hang_err.msg, "/hang did not answer within 1"));
    assert_non_null(strstr(hang_err.msg, " ms"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_and_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
    };
    return cmocka_run_group_tests_name("credentials", tests, NULL, NULL);
}
