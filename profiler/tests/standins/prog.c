/* A small "CUDA program" for boundscope's end-to-end test: initializes the
 * stand-in driver, then runs STEPS steps, each an NVTX range named
 * boundscope:step holding KERNELS launches (each after a cudaGetDevice-like
 * query), sleeping SLEEP_MS after each step.
 *
 * usage: prog STEPS KERNELS [SLEEP_MS] [MODE [AT]]
 *   MODE fork       fork a child after cuInit that exits at once
 *   MODE sigint AT  raise SIGINT (default action) after step AT
 *   MODE kill AT    SIGKILL itself after step AT
 *
 * The NVTX entry is as NVTX's own: on the first range it loads
 * NVTX_INJECTION64_PATH and calls InitializeInjectionNvtx2 with a function
 * returning export tables; the tool installs its range handlers through it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int cuInit(unsigned flags);
int standin_launch(const char *kernel);
int standin_get_device(int *dev);

static void (*push_handler)(const char *);
static void (*pop_handler)(void);
static int nvtx_state; /* 0 not yet, 1 done */

static void set_handlers(void (*push)(const char *), void (*pop)(void)) {
    push_handler = push;
    pop_handler = pop;
}

typedef struct {
    uint32_t size;
    void (*set_handlers)(void (*push)(const char *), void (*pop)(void));
} StandinNvtxTable;

static const StandinNvtxTable table = {sizeof(StandinNvtxTable), set_handlers};

static const void *get_export_table(uint32_t id) { return id == 1 ? &table : NULL; }

static void nvtx_init(void) {
    nvtx_state = 1;
    const char *p = getenv("NVTX_INJECTION64_PATH");
    if (!p || !*p) return;
    void *h = dlopen(p, RTLD_NOW);
    int (*init)(const void *(*)(uint32_t)) = h ? (int (*)(const void *(*)(uint32_t)))dlsym(h, "InitializeInjectionNvtx2") : NULL;
    if (!init || !init(get_export_table)) push_handler = NULL, pop_handler = NULL;
}

static void range_push(const char *name) {
    if (!nvtx_state) nvtx_init();
    if (push_handler) push_handler(name);
}

static void range_pop(void) {
    if (pop_handler) pop_handler();
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: prog STEPS KERNELS [SLEEP_MS] [MODE [AT]]\n");
        return 2;
    }
    int steps = atoi(argv[1]), kernels = atoi(argv[2]);
    int sleep_ms = argc > 3 ? atoi(argv[3]) : 0;
    const char *mode = argc > 4 ? argv[4] : "";
    int at = argc > 5 ? atoi(argv[5]) : -1;
    cuInit(0);
    if (!strcmp(mode, "fork")) {
        pid_t pid = fork();
        if (pid == 0) exit(0);
        waitpid(pid, NULL, 0);
    }
    for (int s = 0; s < steps; s++) {
        range_push("boundscope:step");
        for (int k = 0; k < kernels; k++) {
            int dev;
            standin_get_device(&dev);
            standin_launch("void gemv_kernel<float, 128>(float const*, float*)");
        }
        range_pop();
        if (sleep_ms) usleep(sleep_ms * 1000);
        if (s + 1 == at && !strcmp(mode, "sigint")) raise(SIGINT);
        if (s + 1 == at && !strcmp(mode, "kill")) raise(SIGKILL);
    }
    printf("prog: %d steps of %d kernels\n", steps, kernels);
    return 0;
}
