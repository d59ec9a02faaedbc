/* The plain driver `make check` links with each fuzz target (built by gcc
 * under ASan/UBSan): every file named, or every file in every directory
 * named, goes once through LLVMFuzzerTestOneInput, in name order. A crash
 * file kept in tests/fuzz/crashes/ thus stays fixed. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* One input may take this long (a hang is a finding too): generous for a busy machine. */
#define INPUT_SECONDS 60

static const char *current;

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "replay: an input took more than 60 s (a hang): ";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)!write(STDERR_FILENO, current, strlen(current));
    (void)!write(STDERR_FILENO, "\n", 1);
    _exit(1);
}

/* Targets that need no set-up do not define it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || st.st_size < 0 || st.st_size > (64 << 20)) {
        fprintf(stderr, "replay: %s: not a readable file of at most 64 MiB\n", path);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1); /* exact, so over-reads are caught */
    if (data == NULL || fread(data, 1, size, f) != size) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    current = path;
    alarm(INPUT_SECONDS);
    LLVMFuzzerTestOneInput(data, size);
    alarm(0);
    free(data);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    signal(SIGALRM, on_alarm);
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    const char *self = argc > 0 ? argv[0] : "replay";
    int inputs = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            if (errno == ENOENT)
                continue; /* a target without crash files has no crashes/ folder */
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed += replay_file(argv[i]) < 0;
            inputs++;
            continue;
        }
        struct dirent **names = NULL;
        int n = scandir(argv[i], &names, NULL, by_name);
        for (int k = 0; k < n; k++) {
            char path[4096];
            if (names[k]->d_name[0] != '.' &&
                snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name) <
                    (int)sizeof path &&
                stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                failed += replay_file(path) < 0;
                inputs++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("%s: %d inputs replayed%s\n", self, inputs, failed ? ", some unreadable" : "");
    if (inputs == 0)
        fprintf(stderr, "replay: no input found: is the corpus path right?\n");
    return failed || inputs == 0 ? 1 : 0;
}
