/* Key ceremonies in the active pod (docs/ceremonies.md): rekey (with the new
 * holders' verification), generate-root and rotate. The server keeps the
 * ceremony in the active node's memory; this module reads it back on every
 * call and never caches a nonce as truth. Shares, the OTP and the token travel
 * on the exec's stdin only: submits are `vault write -format=json
 * <path>/update -` with {"key","nonce"} on stdin (no EOF needed), the token a
 * first stdin line read by `sh` (lib/vault). Typed results are parsed from the
 * CLI's JSON; the OTP is made with libcrypto and the encoded token decoded
 * here (unpadded base64 of token XOR OTP), never by a cluster call. Nothing is
 * printed. */
#ifndef VH_CEREMONY_H
#define VH_CEREMONY_H

#include <stddef.h>

#include "error.h"
#include "ops.h"
#include "secret.h"

#define CEREMONY_NONCE_MAX 64
#define CEREMONY_PGP_MAX   16

/* What the paths and the token rule depend on. */
struct ceremony_flavor {
    int openbao;        /* bao */
    int version_known;  /* else the newest rules are assumed (a token is required) */
    int rotate_keys;    /* OpenBao >= 2.4.0: bao operator rotate-keys, sys/rotate/root|recovery */
    int needs_token;    /* Vault >= 2.0.0, OpenBao >= 2.4.0 (rotate-keys), or unknown */
    int root_token_v2;  /* OpenBao >= 2.6.0: sys/generate-root-token */
    int root_unmounted; /* OpenBao 2.5.3 to 2.5.x: no generate-root endpoint by default */
};
/* From the product and the active node's version ("2.0.4", "v2.6.0"; NULL or ""
 * when unknown). */
void ceremony_flavor_of(enum vault_product product, const char *version, struct ceremony_flavor *f);

/* Why a ceremony call failed, from the CLI's stderr. */
enum ceremony_failure {
    CER_FAIL_NONE = 0,
    CER_FAIL_OTHER,
    CER_FAIL_DENIED,         /* 403 permission denied: a token, or a better one */
    CER_FAIL_NOT_STARTED,    /* no rekey/root generation in progress */
    CER_FAIL_IN_PROGRESS,    /* already in progress */
    CER_FAIL_WRONG_NONCE,    /* the nonce changed (leaks the right one: not kept) */
    CER_FAIL_DUPLICATE,      /* this share was given already in this ceremony */
    CER_FAIL_WRONG_SHARES,   /* the quorum did not combine: progress back to 0 */
    CER_FAIL_VERIFY_PENDING, /* rekey done, the new holders must verify */
    CER_FAIL_BAD_KEY,        /* not a valid share (encoding, length) */
};
enum ceremony_failure ceremony_classify(const char *stderr_text);

/* One ceremony session: where to run and with what. */
struct ceremony {
    struct ops *o;
    const char *pod;            /* the active pod */
    const struct secret *token; /* NULL: none (Vault 1.x needs none) */
    struct ceremony_flavor flavor;
    int recovery;                  /* rekey -target=recovery */
    enum ceremony_failure failure; /* of the last call that failed */
};

/* The API path prefixes the ceremonies use (a policy grants update below them). */
const char *ceremony_rekey_prefix(const struct ceremony *c);
const char *ceremony_root_prefix(const struct ceremony *c);

/* --- rekey ------------------------------------------------------------------------------- */
struct rekey_status {
    int started;
    char nonce[CEREMONY_NONCE_MAX];
    int t, n, progress, required;
    int backup;
    int verification_required;
    char verification_nonce[CEREMONY_NONCE_MAX];
    int npgp; /* PGP fingerprints */
};
/* `operator rekey -status -format=json` (also -init's output, and a submit's
 * `write` answer when it did not complete: the status under .data). */
int ceremony_parse_rekey_status(const char *out, size_t len, struct rekey_status *st,
                                struct error *err);

struct rekey_verify_status {
    int started;
    char nonce[CEREMONY_NONCE_MAX];
    int t, n, progress;
};
int ceremony_parse_verify_status(const char *out, size_t len, struct rekey_verify_status *st,
                                 struct error *err);

/* The answer to one rekey share: progress, or the new shares. */
struct rekey_update {
    int complete;
    struct rekey_status status;  /* when not complete */
    struct secret_list keys_b64; /* when complete: the new shares (PGP: encrypted) */
    struct secret_list keys_hex;
    char *pgp_fingerprints[CEREMONY_PGP_MAX];
    int npgp;
    int backup;
    int verification_required;
    char verification_nonce[CEREMONY_NONCE_MAX];
    char nonce[CEREMONY_NONCE_MAX];
};
int ceremony_parse_rekey_update(const char *out, size_t len, struct rekey_update *u,
                                struct error *err);
void ceremony_rekey_update_clear(struct rekey_update *u);
/* The new shares in the JSON shape of init's keys file (unseal_keys_b64,
 * unseal_keys_hex, unseal_shares, unseal_threshold; with recovery, init's
 * recovery_keys_b64, recovery_keys_hex, recovery_keys_shares,
 * recovery_keys_threshold; plus pgp_fingerprints, backup and nonce when they
 * apply), into locked memory. */
int ceremony_rekey_keys_json(const struct rekey_update *u, int threshold, int recovery,
                             struct secret *out, struct error *err);
/* The verification answer: 1 complete, 0 progress in st. */
int ceremony_parse_verify_update(const char *out, size_t len, struct rekey_verify_status *st,
                                 struct error *err);

struct rekey_request {
    long shares, threshold;
    const char *pgp_keys; /* comma-separated local files, or NULL */
    int backup, verify;
};
int ceremony_rekey_status(struct ceremony *c, struct rekey_status *st, struct error *err);
int ceremony_rekey_verify_status(struct ceremony *c, struct rekey_verify_status *st,
                                 struct error *err);
int ceremony_rekey_init(struct ceremony *c, const struct rekey_request *req,
                        struct rekey_status *st, struct error *err);
/* One share (as typed: hex or base64) with the nonce of the rekey in progress. */
int ceremony_rekey_submit(struct ceremony *c, const struct secret *share, const char *nonce,
                          struct rekey_update *u, struct error *err);
/* One new share with the verification nonce; returns 1 when it completed the rekey. */
int ceremony_rekey_verify(struct ceremony *c, const struct secret *share, const char *vnonce,
                          struct rekey_verify_status *st, struct error *err);
/* Cancels with the nonce (Vault >= 1.20 needs it within 10 minutes of the start). */
int ceremony_rekey_cancel(struct ceremony *c, const char *nonce, struct error *err);

/* --- generate-root ------------------------------------------------------------------------ */
struct root_status {
    int started;
    char nonce[CEREMONY_NONCE_MAX];
    int progress, required;
    int complete;
    int otp_length;
    char pgp_fingerprint[CEREMONY_NONCE_MAX];
    struct secret encoded; /* encoded_token when complete */
};
/* generate-root -status/-init JSON, or a `write` answer (.data). */
int ceremony_parse_root(const char *out, size_t len, struct root_status *st, struct error *err);
void ceremony_root_status_clear(struct root_status *st);

int ceremony_root_status(struct ceremony *c, struct root_status *st, struct error *err);
/* Starts with the OTP (sent on stdin) or a local PGP public key file. */
int ceremony_root_init(struct ceremony *c, const struct secret *otp, const char *pgp_key_file,
                       struct root_status *st, struct error *err);
int ceremony_root_submit(struct ceremony *c, const struct secret *share, const char *nonce,
                         struct root_status *st, struct error *err);
int ceremony_root_cancel(struct ceremony *c, struct error *err);

/* A fresh OTP of length characters from [A-Za-z0-9] (libcrypto RAND_bytes). */
int ceremony_make_otp(size_t length, struct secret *otp, struct error *err);
/* token = base64-decode(encoded, unpadded) XOR otp; lengths must match. */
int ceremony_decode_token(const char *encoded, size_t len, const struct secret *otp,
                          struct secret *token, struct error *err);

/* --- rotate -------------------------------------------------------------------------------- */
struct key_status {
    long long term;
    char install_time[64]; /* RFC 3339, checked; "" when Vault's was not */
};
int ceremony_parse_key_status(const char *out, size_t len, struct key_status *ks,
                              struct error *err);
int ceremony_key_status(struct ceremony *c, struct key_status *ks, struct error *err);
/* Rotates the barrier key; *rotated says whether it happened (the key-status
 * read after it can fail on its own). */
int ceremony_rotate(struct ceremony *c, struct key_status *after, int *rotated, struct error *err);

/* --- a lost ceremony ----------------------------------------------------------------------- */
struct ceremony_start {
    char nonce[CEREMONY_NONCE_MAX];
    char stamp[20]; /* "2026-12-06T10:41:02": orders starts across pods */
    char when[24];  /* "2026-12-06 10:41 UTC" */
    int completed;  /* a later line says it completed (rekey: Vault logs that) */
};
/* Searches a Vault server log for the last line that started a ceremony of
 * kind ("rekey" or "root generation": "<RFC 3339 time> [INFO]  core: rekey
 * initialized: nonce=<nonce> ..."), with that nonce when nonce is not NULL.
 * Lines without a well-formed timestamp are skipped. Returns 1 with start
 * filled when found, else 0. */
int ceremony_find_start(const char *log, const char *kind, const char *nonce,
                        struct ceremony_start *start);

#endif
