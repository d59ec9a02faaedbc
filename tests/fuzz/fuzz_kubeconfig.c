/* A kubeconfig (YAML), through kubeconfig_load_text: the same parse, merge and
 * resolution as a file, files it names included (read relative to a directory
 * that does not exist, so only absolute paths reach the disk). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fuzz.h"
#include "kubeconfig.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* No in-cluster fallback, no other kubeconfig, and nothing a path in the
     * input could block on: stdin is /dev/null, and /dev/tty is gone. */
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("KUBECONFIG");
    unsetenv("POD_NAMESPACE");
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    ioctl(STDIN_FILENO, TIOCNOTTY);
    fd = open("/dev/tty", O_RDONLY | O_NOCTTY);
    if (fd >= 0) {
        ioctl(fd, TIOCNOTTY);
        close(fd);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    struct kubeconfig_flags flags = {.serviceaccount_dir = "/nonexistent/fuzz/sa"};
    struct rest_config *cfg = NULL;
    struct error err = {0};
    if (kubeconfig_load_text("/nonexistent/fuzz/config", text, size, &flags, &cfg, &err) == 0)
        rest_config_free(cfg);
    free(text);
    return 0;
}
