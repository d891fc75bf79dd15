/* A stand-in for the NVIDIA driver (libcuda.so.1), for boundscope's tests on
 * machines without a GPU. `cuInit` honours CUDA_INJECTION64_PATH as the
 * driver does: it loads that library and calls its InitializeInjection. The
 * "launches" of the stand-in program are reported to whichever tool attached
 * (the stand-in libcupti, when the collector subscribes). Test code only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static void (*tool_launch)(const char *);
static void (*tool_query)(void);
static int initialized;

void standin_attach_tool(void (*launch)(const char *), void (*query)(void)) {
    tool_launch = launch;
    tool_query = query;
}

int cuInit(unsigned flags) {
    (void)flags;
    if (initialized++) return 0;
    const char *inj = getenv("CUDA_INJECTION64_PATH");
    if (inj && *inj) {
        void *h = dlopen(inj, RTLD_NOW);
        int (*init)(void) = h ? (int (*)(void))dlsym(h, "InitializeInjection") : NULL;
        if (init) init();
        else fprintf(stderr, "stand-in driver: cannot load %s: %s\n", inj, dlerror());
    }
    return 0;
}

/* cudaLaunchKernel, reduced to what the tests need. */
int standin_launch(const char *kernel) {
    if (tool_launch) tool_launch(kernel);
    return 0;
}

/* cudaGetDevice, reduced likewise. */
int standin_get_device(int *dev) {
    *dev = 0;
    if (tool_query) tool_query();
    return 0;
}
