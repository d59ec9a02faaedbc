/* doctor's check of the seal configuration (docs/seal-migration.md): the seal
 * stanzas of the server config the pods run, and the seal-related env of the
 * StatefulSet. Pure, like every check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_internal.h"
#include "sealmig.h"

void doctor_check_seal_config(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-VER-004";
    const struct doctor_pod *with_config = NULL;
    for (size_t i = 0; i < f->vc->npods && with_config == NULL; i++)
        if (f->pods[i].config != NULL)
            with_config = &f->pods[i];
    if (with_config == NULL) {
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod's server config was read", NULL);
        return;
    }
    struct seal_config cfg;
    struct error err = {0};
    if (sealmig_parse_config(with_config->config, strlen(with_config->config), &cfg, &err) < 0) {
        doctor_add_owned(r, id, DOCTOR_WARN, xfmt("the server config: %s", err.msg), NULL);
        return;
    }
    int bao = f->vc->product == PRODUCT_OPENBAO;
    struct seal_env env;
    sealmig_parse_env(f->sts, f->vc->container, f->vc->product, &env);
    const char *token_var = f->vc->token_env;
    const char *type_var = bao ? "BAO_SEAL_TYPE" : "VAULT_SEAL_TYPE";
    int problems = 0, enabled = 0;
    const char *enabled_type = "shamir", *disabled_type = NULL;
    for (size_t i = 0; i < cfg.n; i++) {
        if (cfg.stanzas[i].disabled)
            disabled_type = cfg.stanzas[i].type;
        else {
            enabled++;
            enabled_type = cfg.stanzas[i].type;
        }
    }
    if (enabled > 1) {
        problems++;
        doctor_add_owned(r, id, DOCTOR_ERROR,
                         xfmt("the server config has %d enabled seal stanzas: %s refuses to "
                              "start with them (Seal HA is Vault Enterprise's)",
                              enabled, bao ? "OpenBao" : "Vault"),
                         xfmt("keep one enabled seal; mark the old one disabled = \"true\""));
    }
    if (env.token) {
        problems++;
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("the pods get %s from %s: every vault command run in them with `kubectl "
                 "exec` inherits it (a privileged one without its own token gets 403; this "
                 "plugin unsets it for its own commands)",
                 token_var, env.token_from),
            xfmt("put the seal stanza with its token in a Secret mounted as an extra config "
                 "file (server.volumes, server.volumeMounts, server.extraArgs "
                 "-config=/vault/userconfig/<name>/seal.hcl) instead of %s",
                 token_var));
    }
    if (env.seal_type[0]) {
        problems++;
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("the StatefulSet sets %s=%s: it overrides the seal stanza's type "
                 "(%s)",
                 type_var, env.seal_type, enabled_type),
            xfmt("remove %s from the pod env (server.extraEnvironmentVars)", type_var));
    }
    if (disabled_type != NULL) {
        int migrating = 0, on_target = 0, answered = 0;
        for (size_t i = 0; i < f->vc->npods; i++) {
            const struct doctor_pod *p = &f->pods[i];
            if (!p->have_status || p->st.type == NULL)
                continue;
            answered++;
            migrating += p->st.migration;
            on_target += strcmp(p->st.type, enabled_type) == 0;
        }
        if (answered > 0 && migrating == 0 && on_target == answered) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("the disabled seal \"%s\" stanza is still in the config although every pod "
                     "runs seal %s: restarted pods come up sealed and need the keys, and the old "
                     "seal stays a start-up dependency",
                     disabled_type, enabled_type),
                xfmt("remove the disabled seal \"%s\" stanza (helm upgrade); the pods read "
                     "it when they next start",
                     disabled_type));
        }
    }
    if (problems == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("seal config: %s%s%s", enabled_type,
                              disabled_type ? ", migrating from " : "",
                              disabled_type ? disabled_type : ""),
                         NULL);
}
