#include "ceremony.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "init.h"
#include "text.h"
#include "vault.h"
#include "json.h"
#include "version.h"

/* 1 when version is at least min; -1 when it is not a version at all. */
static int at_least(const char *version, const char *min)
{
    int c = version_compare(version, min);
    return c == -2 ? -1 : c >= 0;
}

void ceremony_flavor_of(enum vault_product product, const char *version, struct ceremony_flavor *f)
{
    memset(f, 0, sizeof *f);
    f->openbao = product == PRODUCT_OPENBAO;
    f->version_known = at_least(version, "0.0.0") >= 0;
    if (!f->version_known) {
        /* Guessing 1.x rules would send no token and blame the 403 on one: the
         * newest rules (a token, the newest paths) are the safe guess. */
        f->needs_token = 1;
        f->rotate_keys = f->openbao;
        f->root_token_v2 = f->openbao;
        return;
    }
    if (f->openbao) {
        /* docs/ceremonies.md §6: rotate-keys (authenticated sys/rotate/ paths) since 2.4.0;
         * generate-root over sys/generate-root-token since 2.6.0; 2.5.3 to 2.5.x
         * unmount the unauthenticated sys/generate-root by default and have no other. */
        f->rotate_keys = at_least(version, "2.4.0") == 1;
        f->root_token_v2 = at_least(version, "2.6.0") == 1;
        f->root_unmounted = !f->root_token_v2 && at_least(version, "2.5.3") == 1;
        f->needs_token = f->rotate_keys;
    } else {
        /* docs/ceremonies.md §1.6: Vault 2.0.0 authenticates sys/rekey and sys/generate-root. */
        f->needs_token = at_least(version, "2.0.0") == 1;
    }
}

const char *ceremony_rekey_prefix(const struct ceremony *c)
{
    if (c->flavor.rotate_keys)
        return c->recovery ? "sys/rotate/recovery" : "sys/rotate/root";
    return c->recovery ? "sys/rekey-recovery-key" : "sys/rekey";
}

const char *ceremony_root_prefix(const struct ceremony *c)
{
    return c->flavor.root_token_v2 ? "sys/generate-root-token" : "sys/generate-root";
}

enum ceremony_failure ceremony_classify(const char *e)
{
    if (e == NULL || *e == '\0')
        return CER_FAIL_OTHER;
    if (strstr(e, "permission denied") != NULL)
        return CER_FAIL_DENIED;
    if (strstr(e, "already been provided") != NULL)
        return CER_FAIL_DUPLICATE;
    if (strstr(e, "verification failed") != NULL || strstr(e, "failed to compute") != NULL ||
        strstr(e, "root generation aborted") != NULL)
        return CER_FAIL_WRONG_SHARES;
    if (strstr(e, "verification must be performed") != NULL)
        return CER_FAIL_VERIFY_PENDING;
    if (strstr(e, "incorrect nonce") != NULL || strstr(e, "invalid request") != NULL)
        return CER_FAIL_WRONG_NONCE;
    if (strstr(e, "already in progress") != NULL)
        return CER_FAIL_IN_PROGRESS;
    if (strstr(e, "in progress") != NULL)
        return CER_FAIL_NOT_STARTED;
    if (strstr(e, "'key' must") != NULL || strstr(e, "key is shorter") != NULL ||
        strstr(e, "key is longer") != NULL)
        return CER_FAIL_BAD_KEY;
    return CER_FAIL_OTHER;
}

/* --- parsing ------------------------------------------------------------------------------- */

/* A `vault write` answer carries the struct under .data; the operator commands print it bare. */
static json_t *body_of(json_t *root)
{
    json_t *data = json_object_get(root, "data");
    return json_is_object(data) ? data : root;
}

static int get_int(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return 0;
    json_int_t i = json_integer_value(v);
    return i < 0 ? 0 : i > 1000000 ? 1000000 : (int)i;
}

/* A nonce goes back into a JSON body and a command line: a UUID's characters only. */
static void get_nonce(json_t *o, const char *k, char *buf, size_t cap)
{
    const char *s = jstr(o, k);
    buf[0] = '\0';
    if (s == NULL || strlen(s) >= cap || strspn(s, "0123456789abcdefABCDEF-") != strlen(s))
        return;
    snprintf(buf, cap, "%s", s);
}

static void fill_rekey_status(json_t *b, struct rekey_status *st)
{
    memset(st, 0, sizeof *st);
    st->started = jbool(b, "started");
    get_nonce(b, "nonce", st->nonce, sizeof st->nonce);
    st->t = get_int(b, "t");
    st->n = get_int(b, "n");
    st->progress = get_int(b, "progress");
    st->required = get_int(b, "required");
    st->backup = jbool(b, "backup");
    st->verification_required = jbool(b, "verification_required");
    get_nonce(b, "verification_nonce", st->verification_nonce, sizeof st->verification_nonce);
    json_t *fps = json_object_get(b, "pgp_fingerprints");
    st->npgp = json_is_array(fps) ? (int)json_array_size(fps) : 0;
}

/* The body of the answer `what` when it says "started" (or, with complete_ok, "complete":
 * true); *root is to be released. NULL with err otherwise. */
static json_t *started_body(const char *out, size_t len, const char *what, int complete_ok,
                            json_t **root, struct error *err)
{
    *root = vault_load_output(out, len, what, err);
    if (*root == NULL)
        return NULL;
    json_t *b = body_of(*root);
    if (json_object_get(b, "started") == NULL && !(complete_ok && jbool(b, "complete"))) {
        json_decref(*root);
        *root = NULL;
        error_set(err, ERR_PROTOCOL, "%s has no \"started\"", what);
        return NULL;
    }
    return b;
}

int ceremony_parse_rekey_status(const char *out, size_t len, struct rekey_status *st,
                                struct error *err)
{
    memset(st, 0, sizeof *st);
    json_t *root;
    json_t *b = started_body(out, len, "the rekey status", 0, &root, err);
    if (b == NULL)
        return -1;
    fill_rekey_status(b, st);
    json_decref(root);
    return 0;
}

static void fill_verify(json_t *b, struct rekey_verify_status *st)
{
    memset(st, 0, sizeof *st);
    st->started = jbool(b, "started");
    get_nonce(b, "nonce", st->nonce, sizeof st->nonce);
    st->t = get_int(b, "t");
    st->n = get_int(b, "n");
    st->progress = get_int(b, "progress");
}

int ceremony_parse_verify_status(const char *out, size_t len, struct rekey_verify_status *st,
                                 struct error *err)
{
    memset(st, 0, sizeof *st);
    json_t *root;
    json_t *b = started_body(out, len, "the rekey verification status", 0, &root, err);
    if (b == NULL)
        return -1;
    fill_verify(b, st);
    json_decref(root);
    return 0;
}

int ceremony_parse_verify_update(const char *out, size_t len, struct rekey_verify_status *st,
                                 struct error *err)
{
    memset(st, 0, sizeof *st);
    json_t *root;
    json_t *b = started_body(out, len, "the verification answer", 1, &root, err);
    if (b == NULL)
        return -1;
    int complete = jbool(b, "complete");
    fill_verify(b, st);
    json_decref(root);
    return complete;
}

void ceremony_rekey_update_clear(struct rekey_update *u)
{
    secret_list_free(&u->keys_b64);
    secret_list_free(&u->keys_hex);
    for (int i = 0; i < u->npgp; i++)
        free(u->pgp_fingerprints[i]);
    memset(u, 0, sizeof *u);
}

static int add_strings(json_t *arr, struct secret_list *l, const char *what, struct error *err)
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr))
        return error_set(err, ERR_PROTOCOL, "the final rekey answer has no %s list", what);
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL)
            return error_set(err, ERR_PROTOCOL,
                             "the final rekey answer has a %s entry that is "
                             "not a string",
                             what);
        if (secret_list_add(l, s, strlen(s), err) < 0)
            return -1;
    }
    return 0;
}

int ceremony_parse_rekey_update(const char *out, size_t len, struct rekey_update *u,
                                struct error *err)
{
    memset(u, 0, sizeof *u);
    json_t *root = vault_load_output(out, len, "the rekey answer", err);
    if (root == NULL)
        return -1;
    json_t *b = body_of(root);
    int rc = 0;
    if (!jbool(b, "complete")) {
        if (json_object_get(b, "started") == NULL)
            rc = error_set(err, ERR_PROTOCOL,
                           "the rekey answer has neither \"complete\" nor "
                           "\"started\"");
        else
            fill_rekey_status(b, &u->status);
        goto out;
    }
    u->complete = 1;
    get_nonce(b, "nonce", u->nonce, sizeof u->nonce);
    u->backup = jbool(b, "backup");
    u->verification_required = jbool(b, "verification_required");
    get_nonce(b, "verification_nonce", u->verification_nonce, sizeof u->verification_nonce);
    if (add_strings(json_object_get(b, "keys_base64"), &u->keys_b64, "keys_base64", err) < 0 ||
        add_strings(json_object_get(b, "keys"), &u->keys_hex, "keys", err) < 0) {
        rc = -1;
        goto out;
    }
    if (u->keys_b64.n != u->keys_hex.n) {
        rc = error_set(err, ERR_PROTOCOL,
                       "the final rekey answer has %zu keys and %zu base64 "
                       "keys",
                       u->keys_hex.n, u->keys_b64.n);
        goto out;
    }
    json_t *fps = json_object_get(b, "pgp_fingerprints");
    size_t i;
    json_t *v;
    json_array_foreach(fps, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || u->npgp >= CEREMONY_PGP_MAX || strlen(s) > 128 ||
            strspn(s, "0123456789abcdefABCDEF") != strlen(s))
            continue; /* a fingerprint is hex: anything else is not shown */
        u->pgp_fingerprints[u->npgp++] = strdup(s);
    }
out:
    secret_wipe_json(root);
    json_decref(root);
    if (rc < 0)
        ceremony_rekey_update_clear(u);
    return rc;
}

int ceremony_rekey_keys_json(const struct rekey_update *u, int threshold, int recovery,
                             struct secret *out, struct error *err)
{
    json_t *doc = json_object(), *b64 = json_array(), *hex = json_array();
    int rc = -1;
    if (doc == NULL || b64 == NULL || hex == NULL) {
        json_decref(doc), json_decref(b64), json_decref(hex);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    for (size_t i = 0; i < u->keys_b64.n; i++) {
        json_array_append_new(b64,
                              json_stringn(u->keys_b64.items[i].data, u->keys_b64.items[i].len));
        json_array_append_new(hex,
                              json_stringn(u->keys_hex.items[i].data, u->keys_hex.items[i].len));
    }
    /* init's names, so that the file serves the next ceremony and a reader knows what it is */
    json_object_set_new(doc, recovery ? "recovery_keys_b64" : "unseal_keys_b64", b64);
    json_object_set_new(doc, recovery ? "recovery_keys_hex" : "unseal_keys_hex", hex);
    json_object_set_new(doc, recovery ? "recovery_keys_shares" : "unseal_shares",
                        json_integer((json_int_t)u->keys_b64.n));
    json_object_set_new(doc, recovery ? "recovery_keys_threshold" : "unseal_threshold",
                        json_integer(threshold));
    if (u->npgp > 0) {
        json_t *fps = json_array();
        for (int i = 0; i < u->npgp; i++)
            json_array_append_new(fps, json_string(u->pgp_fingerprints[i]));
        json_object_set_new(doc, "pgp_fingerprints", fps);
        json_object_set_new(doc, "backup", json_boolean(u->backup));
    }
    if (u->nonce[0])
        json_object_set_new(doc, "nonce", json_string(u->nonce));
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
    } else {
        size_t n = strlen(text);
        rc = secret_alloc(out, n + 2, err);
        if (rc == 0) {
            memcpy(out->data, text, n);
            out->data[n] = '\n';
            out->len = n + 1;
        }
        explicit_bzero(text, n);
        free(text);
    }
    secret_wipe_json(doc);
    json_decref(doc);
    return rc;
}

void ceremony_root_status_clear(struct root_status *st)
{
    secret_free(&st->encoded);
    memset(st, 0, sizeof *st);
}

int ceremony_parse_root(const char *out, size_t len, struct root_status *st, struct error *err)
{
    memset(st, 0, sizeof *st);
    json_t *root = vault_load_output(out, len, "the root generation status", err);
    if (root == NULL)
        return -1;
    json_t *b = body_of(root);
    int rc = 0;
    if (json_object_get(b, "started") == NULL) {
        rc = error_set(err, ERR_PROTOCOL, "the root generation status has no \"started\"");
        goto out;
    }
    st->started = jbool(b, "started");
    get_nonce(b, "nonce", st->nonce, sizeof st->nonce);
    st->progress = get_int(b, "progress");
    st->required = get_int(b, "required");
    st->complete = jbool(b, "complete");
    st->otp_length = get_int(b, "otp_length");
    const char *fp = jstr(b, "pgp_fingerprint");
    if (fp != NULL && strlen(fp) < sizeof st->pgp_fingerprint &&
        strspn(fp, "0123456789abcdefABCDEF") == strlen(fp))
        snprintf(st->pgp_fingerprint, sizeof st->pgp_fingerprint, "%s", fp);
    const char *enc = jstr(b, "encoded_token");
    if (st->complete) {
        if (enc == NULL || *enc == '\0' || strlen(enc) > 65536) {
            rc = error_set(err, ERR_PROTOCOL,
                           "the completed root generation has no "
                           "encoded_token");
            goto out;
        }
        rc = secret_from(&st->encoded, enc, strlen(enc), err);
    }
out:
    secret_wipe_json(root);
    json_decref(root);
    if (rc < 0)
        ceremony_root_status_clear(st);
    return rc;
}

int ceremony_parse_key_status(const char *out, size_t len, struct key_status *ks, struct error *err)
{
    memset(ks, 0, sizeof *ks);
    json_t *root = vault_load_output(out, len, "the key status", err);
    if (root == NULL)
        return -1;
    json_t *b = body_of(root);
    json_t *term = json_object_get(b, "term");
    const char *t = jstr(b, "install_time");
    int rc = 0;
    if (!json_is_integer(term) || t == NULL)
        rc = error_set(err, ERR_PROTOCOL, "the key status has no term or install_time");
    else {
        ks->term = json_integer_value(term);
        /* Shown to the operator: only a real timestamp, else none. */
        time_t when;
        if (strlen(t) < sizeof ks->install_time && clock_parse_rfc3339(t, &when) == 0)
            snprintf(ks->install_time, sizeof ks->install_time, "%s", t);
    }
    json_decref(root);
    return rc;
}

/* --- OTP and decode ------------------------------------------------------------------------ */

int ceremony_make_otp(size_t length, struct secret *otp, struct error *err)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (length == 0 || length > 256)
        return error_set(err, ERR_PROTOCOL, "Vault reports an OTP length of %zu", length);
    if (secret_alloc(otp, length + 1, err) < 0)
        return -1;
    unsigned char r[64];
    size_t got = 0;
    while (got < length) {
        if (RAND_bytes(r, sizeof r) != 1) {
            explicit_bzero(r, sizeof r);
            secret_free(otp);
            return error_set(err, ERR_GENERIC, "the random generator failed (libcrypto)");
        }
        /* 248 = 4 * 62: bytes above it are dropped so that every character is equally likely. */
        for (size_t i = 0; i < sizeof r && got < length; i++)
            if (r[i] < 248)
                otp->data[got++] = alphabet[r[i] % 62];
    }
    explicit_bzero(r, sizeof r);
    otp->data[length] = '\0';
    otp->len = length;
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int ceremony_decode_token(const char *encoded, size_t len, const struct secret *otp,
                          struct secret *token, struct error *err)
{
    /* base64.RawStdEncoding (docs/ceremonies.md §3.3): no padding; a padded token is a PGP one. */
    while (len > 0 &&
           (encoded[len - 1] == '\n' || encoded[len - 1] == ' ' || encoded[len - 1] == '\r'))
        len--;
    if (len == 0)
        return error_set(err, ERR_USAGE, "the encoded token is empty");
    if (memchr(encoded, '=', len) != NULL)
        return error_set(err, ERR_USAGE,
                         "the encoded token is padded base64: it was encrypted with --pgp-key "
                         "(decrypt it with `base64 -d | gpg -d`), not XORed with an OTP");
    if (len % 4 == 1 || len > 4096)
        return error_set(err, ERR_USAGE,
                         "the encoded token is not unpadded base64 (%zu "
                         "characters)",
                         len);
    size_t out_len = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (out_len != otp->len)
        return error_set(err, ERR_USAGE,
                         "the encoded token is %zu bytes and the OTP %zu: this OTP is not the one "
                         "of this root generation",
                         out_len, otp->len);
    if (secret_alloc(token, out_len + 1, err) < 0)
        return -1;
    unsigned int acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)encoded[i]);
        if (v < 0) {
            secret_free(token);
            return error_set(err, ERR_USAGE,
                             "the encoded token has a character that is not "
                             "base64 at position %zu",
                             i + 1);
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            token->data[o] = (char)(((acc >> bits) & 0xFF) ^ (unsigned char)otp->data[o]);
            o++;
        }
    }
    acc = 0;
    token->data[o] = '\0';
    token->len = o;
    for (size_t i = 0; i < o; i++)
        if ((unsigned char)token->data[i] < 0x21 || (unsigned char)token->data[i] > 0x7e) {
            secret_free(token);
            return error_set(err, ERR_USAGE,
                             "decoding gives no token: this OTP is not the one of this root "
                             "generation");
        }
    return 0;
}

/* --- running the CLI in the active pod ------------------------------------------------------ */

static const char *rekey_cmd(const struct ceremony *c)
{
    return c->flavor.rotate_keys ? "rotate-keys" : "rekey";
}

/* Runs args in the active pod with the token (if any) and input on stdin; on a
 * non-zero exit sets err ("what: <Vault's words>") and c->failure. */
static int run(struct ceremony *c, const char *what, const char *const *args, const char *input,
               size_t input_len, int secret_out, struct vault_call *call, struct error *err)
{
    memset(call, 0, sizeof *call);
    call->pod = c->pod;
    call->input = input;
    call->input_len = input_len;
    call->secret_output = secret_out;
    c->failure = CER_FAIL_NONE;
    if (vault_run_cli(c->o->kube, c->o->vc, call, c->token, args, what, NULL, err) == 0)
        return 0;
    if (!call->ran) {
        c->failure = CER_FAIL_OTHER;
        return error_wrap(err, "%s on %s", what, c->pod);
    }
    char why[900];
    vault_error_summary(call->err_out, why, sizeof why);
    c->failure = ceremony_classify(why);
    return -1;
}

int ceremony_rekey_status(struct ceremony *c, struct rekey_status *st, struct error *err)
{
    const char *args[] = {c->o->vc->cli, "operator",     rekey_cmd(c),
                          "-status",     "-format=json", c->recovery ? "-target=recovery" : NULL,
                          NULL};
    struct vault_call call;
    int rc = run(c, "reading the rekey status", args, NULL, 0, 0, &call, err);
    if (rc == 0)
        rc = ceremony_parse_rekey_status(call.out, call.out_len, st, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_rekey_verify_status(struct ceremony *c, struct rekey_verify_status *st,
                                 struct error *err)
{
    const char *args[] = {c->o->vc->cli,
                          "operator",
                          rekey_cmd(c),
                          "-status",
                          "-verify",
                          "-format=json",
                          c->recovery ? "-target=recovery" : NULL,
                          NULL};
    struct vault_call call;
    int rc = run(c, "reading the verification status", args, NULL, 0, 0, &call, err);
    if (rc == 0)
        rc = ceremony_parse_verify_status(call.out, call.out_len, st, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_rekey_init(struct ceremony *c, const struct rekey_request *req,
                        struct rekey_status *st, struct error *err)
{
    char shares[32], threshold[32], pgp_flag[INIT_FLAG_MAX] = "";
    snprintf(shares, sizeof shares, "-key-shares=%ld", req->shares);
    snprintf(threshold, sizeof threshold, "-key-threshold=%ld", req->threshold);
    const char *args[16];
    int a = 0;
    args[a++] = c->o->vc->cli;
    args[a++] = "operator";
    args[a++] = rekey_cmd(c);
    args[a++] = "-init";
    args[a++] = "-format=json";
    args[a++] = shares;
    args[a++] = threshold;
    if (c->recovery)
        args[a++] = "-target=recovery";
    if (req->verify)
        args[a++] = "-verify";
    if (req->backup)
        args[a++] = "-backup";
    struct init_stage *stage = NULL;
    int rc = 0;
    if (req->pgp_keys != NULL) {
        static const char *const option[1] = {"pgp-keys"}, *const tag[1] = {"rekey"};
        int n = 0;
        stage = init_stage_read(option, tag, &req->pgp_keys, 1, &n, err);
        if (stage == NULL)
            rc = -1;
        else if (n != req->shares)
            rc = error_set(err, ERR_USAGE, "--pgp-keys names %d key%s but --shares is %ld", n,
                           n == 1 ? "" : "s", req->shares);
        else if (init_stage_copy(c->o, c->pod, stage, &pgp_flag, err) < 0)
            rc = -1;
        args[a++] = pgp_flag;
    }
    args[a] = NULL;
    /* Last thing before the call: the copies are still the files that were sent. */
    if (rc == 0 && stage != NULL)
        rc = init_stage_check(c->o, c->pod, stage, err);
    if (rc == 0) {
        struct vault_call call;
        rc = run(c, "starting the rekey", args, NULL, 0, 0, &call, err);
        if (rc == 0)
            rc = ceremony_parse_rekey_status(call.out, call.out_len, st, err);
        vault_call_clear(&call);
    }
    init_stage_free(c->o, c->pod, stage);
    return rc;
}

/* {"key":"<share>","nonce":"<nonce>"} (or {"otp":...}) in locked memory; the
 * share was checked by lib/secret (hex or base64 characters only), the nonce
 * by get_nonce, so nothing needs escaping. */
static int json_body(const char *name, const struct secret *value, const char *nonce,
                     struct secret *out, struct error *err)
{
    if (strspn(value->data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
        value->len)
        return error_set(err, ERR_USAGE, "the %s has a character that is neither hex nor base64",
                         name);
    if (nonce != NULL && strspn(nonce, "0123456789abcdefABCDEF-") != strlen(nonce))
        return error_set(err, ERR_USAGE, "the nonce \"%.80s\" is not a Vault nonce (a UUID)",
                         nonce);
    size_t cap = value->len + (nonce ? strlen(nonce) : 0) + 64;
    if (secret_alloc(out, cap, err) < 0)
        return -1;
    int w = nonce != NULL ? snprintf(out->data, cap, "{\"%s\":\"%.*s\",\"nonce\":\"%s\"}\n", name,
                                     (int)value->len, value->data, nonce)
                          : snprintf(out->data, cap, "{\"%s\":\"%.*s\"}\n", name, (int)value->len,
                                     value->data);
    out->len = (size_t)w;
    return 0;
}

/* `vault write -format=json <path> -` with body on stdin. */
static int write_path(struct ceremony *c, const char *what, const char *path,
                      const struct secret *body, int secret_out, struct vault_call *call,
                      struct error *err)
{
    const char *args[] = {c->o->vc->cli, "write", "-format=json", path, "-", NULL};
    return run(c, what, args, body->data, body->len, secret_out, call, err);
}

/* Sends one share with its nonce to <prefix>/<leaf> on stdin; the answer is
 * in call's locked memory (a final rekey answer holds the new shares). */
static int send_share(struct ceremony *c, const char *prefix, const char *leaf,
                      const struct secret *share, const char *nonce, struct vault_call *call,
                      struct error *err)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s", prefix, leaf);
    struct secret body = {0};
    memset(call, 0, sizeof *call);
    if (json_body("key", share, nonce, &body, err) < 0)
        return -1;
    int rc = write_path(c, "submitting the share", path, &body, 1, call, err);
    secret_free(&body);
    return rc;
}

int ceremony_rekey_submit(struct ceremony *c, const struct secret *share, const char *nonce,
                          struct rekey_update *u, struct error *err)
{
    memset(u, 0, sizeof *u);
    struct vault_call call;
    int rc = send_share(c, ceremony_rekey_prefix(c), "update", share, nonce, &call, err);
    if (rc == 0)
        rc = ceremony_parse_rekey_update(call.secret_out.data, call.secret_out.len, u, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_rekey_verify(struct ceremony *c, const struct secret *share, const char *vnonce,
                          struct rekey_verify_status *st, struct error *err)
{
    struct vault_call call;
    int rc = send_share(c, ceremony_rekey_prefix(c), "verify", share, vnonce, &call, err);
    if (rc == 0)
        rc = ceremony_parse_verify_update(call.secret_out.data, call.secret_out.len, st, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_rekey_cancel(struct ceremony *c, const char *nonce, struct error *err)
{
    char flag[CEREMONY_NONCE_MAX + 16];
    snprintf(flag, sizeof flag, "-nonce=%s", nonce ? nonce : "");
    const char *args[] = {c->o->vc->cli, "operator", rekey_cmd(c),
                          "-cancel",     flag,       c->recovery ? "-target=recovery" : NULL,
                          NULL};
    struct vault_call call;
    int rc = run(c, "cancelling the rekey", args, NULL, 0, 0, &call, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_root_status(struct ceremony *c, struct root_status *st, struct error *err)
{
    const char *args[] = {c->o->vc->cli, "operator",     "generate-root",
                          "-status",     "-format=json", NULL};
    struct vault_call call;
    int rc = run(c, "reading the root generation status", args, NULL, 0, 0, &call, err);
    if (rc == 0)
        rc = ceremony_parse_root(call.out, call.out_len, st, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_root_init(struct ceremony *c, const struct secret *otp, const char *pgp_key_file,
                       struct root_status *st, struct error *err)
{
    struct vault_call call;
    int rc;
    if (otp != NULL) {
        /* The OTP on stdin: `-init -otp=X` would put it in the exec's argv. */
        struct secret body = {0};
        char path[64];
        snprintf(path, sizeof path, "%s/attempt", ceremony_root_prefix(c));
        if (json_body("otp", otp, NULL, &body, err) < 0)
            return -1;
        rc = write_path(c, "starting the root generation", path, &body, 0, &call, err);
        secret_free(&body);
    } else {
        static const char *const option[1] = {"pgp-key"}, *const tag[1] = {"root"};
        char flag[INIT_FLAG_MAX];
        int n = 0;
        struct init_stage *stage = init_stage_read(option, tag, &pgp_key_file, 1, &n, err);
        rc = stage == NULL ? -1 : 0;
        if (rc == 0 && n != 1)
            rc = error_set(err, ERR_USAGE, "--pgp-key takes exactly one key file");
        if (rc == 0)
            rc = init_stage_copy(c->o, c->pod, stage, &flag, err);
        if (rc == 0)
            rc = init_stage_check(c->o, c->pod, stage, err);
        memset(&call, 0, sizeof call);
        if (rc == 0) {
            /* init_stage_copy named it -pgp-key=<copy>, the flag generate-root takes. */
            const char *args[] = {
                c->o->vc->cli, "operator", "generate-root", "-init", "-format=json", flag, NULL};
            rc = run(c, "starting the root generation", args, NULL, 0, 0, &call, err);
        }
        init_stage_free(c->o, c->pod, stage);
    }
    if (rc == 0)
        rc = ceremony_parse_root(call.out, call.out_len, st, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_root_submit(struct ceremony *c, const struct secret *share, const char *nonce,
                         struct root_status *st, struct error *err)
{
    memset(st, 0, sizeof *st);
    struct vault_call call;
    int rc = send_share(c, ceremony_root_prefix(c), "update", share, nonce, &call, err);
    if (rc == 0)
        rc = ceremony_parse_root(call.secret_out.data, call.secret_out.len, st, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_root_cancel(struct ceremony *c, struct error *err)
{
    const char *args[] = {c->o->vc->cli, "operator", "generate-root", "-cancel", NULL};
    struct vault_call call;
    int rc = run(c, "cancelling the root generation", args, NULL, 0, 0, &call, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_key_status(struct ceremony *c, struct key_status *ks, struct error *err)
{
    const char *args[] = {c->o->vc->cli, "operator", "key-status", "-format=json", NULL};
    struct vault_call call;
    int rc = run(c, "reading the key status (needs read on sys/key-status)", args, NULL, 0, 0,
                 &call, err);
    if (rc == 0)
        rc = ceremony_parse_key_status(call.out, call.out_len, ks, err);
    vault_call_clear(&call);
    return rc;
}

int ceremony_rotate(struct ceremony *c, struct key_status *after, int *rotated, struct error *err)
{
    const char *args[] = {c->o->vc->cli, "operator", "rotate", "-format=json", NULL};
    struct vault_call call;
    int rc = run(c, "rotating the encryption key", args, NULL, 0, 0, &call, err);
    /* docs/ceremonies.md §4.1: rotate, then key-status; the second can fail after the first worked.
     */
    *rotated = rc == 0 || (call.ran && call.err_out != NULL &&
                           strstr(call.err_out, "Error reading key status") != NULL);
    if (rc < 0 && *rotated)
        error_wrap(err, "the key was rotated, but reading the new key status failed");
    if (rc == 0)
        rc = ceremony_parse_key_status(call.out, call.out_len, after, err);
    vault_call_clear(&call);
    return rc;
}

/* "2026-12-06T10:41:02": digits at every digit position, the separators in place. */
static int is_log_stamp(const char *p, size_t avail)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (avail < sizeof shape - 1)
        return 0;
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != shape[i])
            return 0;
    return 1;
}

/* 1 when the line says that a ceremony of kind completed (Vault logs it for a rekey only). */
static int is_completion(const char *bol, const char *eol, const char *kind)
{
    static const char *const rekey_done[] = {"core: rekey complete", "security barrier rekeyed",
                                             "recovery key rekeyed"};
    if (strcmp(kind, "rekey") != 0)
        return 0;
    for (size_t i = 0; i < sizeof rekey_done / sizeof rekey_done[0]; i++) {
        const char *hit = memmem(bol, (size_t)(eol - bol), rekey_done[i], strlen(rekey_done[i]));
        if (hit != NULL)
            return 1;
    }
    return 0;
}

int ceremony_find_start(const char *log, const char *kind, const char *nonce,
                        struct ceremony_start *start)
{
    memset(start, 0, sizeof *start);
    if (log == NULL)
        return 0;
    char needle[CEREMONY_NONCE_MAX + 64];
    snprintf(needle, sizeof needle, "%s initialized: nonce=", kind);
    int hit = 0;
    for (const char *bol = log; *bol != '\0';) {
        const char *eol = strchr(bol, '\n');
        if (eol == NULL)
            eol = bol + strlen(bol);
        size_t linelen = (size_t)(eol - bol);
        /* "2026-12-06T10:41:02.123Z [INFO]  core: rekey initialized: nonce=..." */
        if (is_log_stamp(bol, linelen)) {
            const char *p = linelen < 300 ? memmem(bol, linelen, needle, strlen(needle)) : NULL;
            const char *n = p != NULL ? p + strlen(needle) : NULL;
            size_t nlen = n != NULL ? strspn(n, "0123456789abcdefABCDEF-") : 0;
            if (n != NULL && nlen > 0 && nlen < CEREMONY_NONCE_MAX &&
                (nonce == NULL || (strlen(nonce) == nlen && strncmp(n, nonce, nlen) == 0))) {
                snprintf(start->nonce, sizeof start->nonce, "%.*s", (int)nlen, n);
                snprintf(start->stamp, sizeof start->stamp, "%.19s", bol);
                snprintf(start->when, sizeof start->when, "%.10s %.5s UTC", bol, bol + 11);
                start->completed = 0;
                hit = 1; /* keep going: the last start counts */
            } else if (hit && is_completion(bol, eol, kind)) {
                start->completed = 1;
            }
        }
        bol = *eol ? eol + 1 : eol;
    }
    return hit;
}
