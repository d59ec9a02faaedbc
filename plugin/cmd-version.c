/* version: the plugin's version and the libraries it was built with. */
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>
#include <jansson.h>
#include <yaml.h>

#include "cmd.h"
#include "output.h"

static int cmd_version_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    (void)args;
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *v = json_pack("{s:s, s:{s:s, s:s, s:s}}", "version", VH_VERSION, "libraries",
                              "libcurl", cv->version, "jansson", jansson_version_str(), "libyaml",
                              yaml_get_version_string());
        return cmd_print_document(ctx, NULL, v);
    }
    fprintf(ctx->out, "kubectl-vault_ha %s (libcurl %s, jansson %s, libyaml %s)\n", VH_VERSION,
            cv->version, jansson_version_str(), yaml_get_version_string());
    return EXIT_OK;
}

static const struct cmd_option version_options[] = {{0}};

const struct cmd_entry cmd_version_entry = {
    .name = "version",
    .summary = "Print the plugin's version",
    .usage = "",
    .help = "Examples:\n  kubectl vault-ha version\n  kubectl vault-ha version -o json\n",
    .options = version_options,
    .flags = CMD_NO_CLUSTER | CMD_NO_ARGS,
    .exec = cmd_version_exec,
};
