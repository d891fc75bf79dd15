/* A stand-in for libcupti, for boundscope's tests on machines without a GPU.
 * It implements the CUPTI calls the collector makes, with CUPTI's C ABI, and
 * delivers activity records in the layouts of CUPTI 13.0 (API version 130001:
 * Kernel10, Marker2, API records) through the buffer callbacks the collector
 * registers. The stand-in libcuda.so.1 reports launches to it (as the real
 * driver reports them to the real CUPTI). Test code only: compiled by the
 * test into a temporary directory, never installed, never on a search path.
 *
 * Controls (environment):
 *   STANDIN_CUPTI_VERSION        cuptiGetVersion (default 130001)
 *   STANDIN_SECOND_SUBSCRIBER=1  cuptiSubscribe answers MULTIPLE_SUBSCRIBERS
 *   STANDIN_ZERO_KERNELS=N       the first N kernels carry start = end = 0
 *   STANDIN_HANG_FLUSH=1         a forced flush never returns (a dying context)
 *   STANDIN_CLOCK_OFFSET_NS      own clock = CLOCK_MONOTONIC + this (default 5e12),
 *                                unless a timestamp callback is registered
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef uint32_t CUptiResult;
enum { OK = 0, ERR_INVALID = 1, ERR_MAX_LIMIT = 12, ERR_NOT_INIT = 15, ERR_MULTIPLE = 39, ERR_UNKNOWN = 999 };
enum { KIND_RUNTIME = 5, KIND_DRIVER = 4, KIND_KERNEL = 10, KIND_MARKER = 12 };

typedef void (*request_fn)(uint8_t **buffer, size_t *size, size_t *max_records);
typedef void (*complete_fn)(void *ctx, uint32_t stream, uint8_t *buffer, size_t size, size_t valid);
typedef uint64_t (*timestamp_fn)(void);

/* CUpti_ActivityKernel10, member for member as in cupti_activity.h (13.0). */
typedef struct __attribute__((aligned(8))) {
    uint32_t kind;
    uint8_t cacheConfig, sharedMemoryConfig;
    uint16_t registersPerThread;
    uint32_t partitionedGlobalCacheRequested, partitionedGlobalCacheExecuted;
    uint64_t start, end, completed;
    uint32_t deviceId, contextId, streamId;
    int32_t gridX, gridY, gridZ, blockX, blockY, blockZ;
    int32_t staticSharedMemory, dynamicSharedMemory;
    uint32_t localMemoryPerThread, localMemoryTotal, correlationId;
    int64_t gridId;
    const char *name;
    void *reserved0;
    uint64_t queued, submitted;
    uint8_t launchType, isSharedMemoryCarveoutRequested, sharedMemoryCarveoutRequested, padding;
    uint32_t sharedMemoryExecuted;
    uint64_t graphNodeId;
    uint32_t shmemLimitConfig, graphId;
    void *pAccessPolicyWindow;
    uint32_t channelID, channelType, clusterX, clusterY, clusterZ, clusterSchedulingPolicy;
    uint64_t localMemoryTotal_v2;
    uint32_t maxPotentialClusterSize, maxActiveClusters;
    uint8_t isDeviceLaunched;
    uint8_t padding3[7];
} Kernel10;

/* CUpti_ActivityAPI. */
typedef struct __attribute__((aligned(8))) {
    uint32_t kind, cbid;
    uint64_t start, end;
    uint32_t processId, threadId, correlationId, returnValue;
} Api;

/* CUpti_ActivityMarker2. */
typedef struct __attribute__((aligned(8))) {
    uint32_t kind, flags;
    uint64_t timestamp;
    uint32_t id, objectKind;
    uint32_t objectId[3];
    uint32_t pad;
    const char *name, *domain;
} Marker2;

_Static_assert(sizeof(Kernel10) == 216, "Kernel10 is 216 bytes in CUPTI 13.0");
_Static_assert(sizeof(Api) == 40, "CUpti_ActivityAPI is 40 bytes");
_Static_assert(sizeof(Marker2) == 56, "CUpti_ActivityMarker2 is 56 bytes");

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static request_fn requested;
static complete_fn completed;
static timestamp_fn clock_cb;
static int subscribed, latency;
static uint64_t enabled; /* bit per activity kind */
static uint8_t *buf;
static size_t buf_size, buf_used;
static uint32_t next_corr = 1, next_marker = 1, kernels_seen;

static uint64_t env_u64(const char *k, uint64_t dflt) {
    const char *v = getenv(k);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static uint64_t now(void) {
    if (clock_cb) return clock_cb();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + env_u64("STANDIN_CLOCK_OFFSET_NS", 5000000000000ull);
}

static int on(uint32_t kind) { return subscribed && (enabled >> kind & 1); }

/* Hands the current buffer to the collector. Called with `lock` held. */
static void deliver(void) {
    if (!buf) return;
    uint8_t *b = buf;
    size_t size = buf_size, used = buf_used;
    buf = NULL;
    buf_size = buf_used = 0;
    completed(NULL, 0, b, size, used);
}

/* Appends one record (size a multiple of 8) to the current buffer. */
static void append(const void *rec, size_t size) {
    if (buf && buf_used + size > buf_size) deliver();
    if (!buf) {
        size_t max = 0;
        requested(&buf, &buf_size, &max);
        buf_used = 0;
        if (!buf || buf_size < size) { buf = NULL; return; }
    }
    memcpy(buf + buf_used, rec, size);
    buf_used += size;
}

static size_t record_size(uint32_t kind) {
    switch (kind) {
    case KIND_KERNEL: return sizeof(Kernel10);
    case KIND_MARKER: return sizeof(Marker2);
    default: return sizeof(Api);
    }
}

/* --- reported by the stand-in driver ----------------------------------- */

static void api_call(uint32_t kind, uint32_t cbid, uint64_t t0, uint64_t t1, uint32_t corr) {
    Api a = {0};
    a.kind = kind;
    a.cbid = cbid;
    a.start = t0;
    a.end = t1;
    a.processId = (uint32_t)getpid();
    a.threadId = (uint32_t)syscall(SYS_gettid);
    a.correlationId = corr;
    append(&a, sizeof a);
}

/* A kernel launch: the runtime call, then the kernel 5 us after the call began, 10 us long. */
static void on_launch(const char *name) {
    pthread_mutex_lock(&lock);
    uint64_t t = now();
    uint32_t corr = next_corr++;
    if (on(KIND_RUNTIME)) api_call(KIND_RUNTIME, 211, t, t + 3000, corr);
    if (on(KIND_KERNEL)) {
        Kernel10 k = {0};
        k.kind = KIND_KERNEL;
        k.start = t + 5000;
        k.end = t + 15000;
        if (latency) {
            k.queued = t + 3100;
            k.submitted = t + 3500;
        }
        if (kernels_seen++ < env_u64("STANDIN_ZERO_KERNELS", 0)) k.start = k.end = k.queued = k.submitted = 0;
        k.streamId = 7;
        k.correlationId = corr;
        k.gridX = 32; k.gridY = 1; k.gridZ = 1;
        k.blockX = 128; k.blockY = 1; k.blockZ = 1;
        k.name = name;
        append(&k, sizeof k);
    }
    pthread_mutex_unlock(&lock);
}

/* A hot query call (cudaGetDevice, runtime cbid 1 here). */
static void on_query(void) {
    pthread_mutex_lock(&lock);
    uint64_t t = now();
    if (on(KIND_RUNTIME)) api_call(KIND_RUNTIME, 1, t, t + 200, next_corr++);
    pthread_mutex_unlock(&lock);
}

/* --- NVTX: the export table the program hands over ---------------------- */

typedef struct {
    uint32_t size;
    void (*set_handlers)(void (*push)(const char *), void (*pop)(void));
} StandinNvtxTable;

static uint32_t open_ids[64];
static int depth;

static void marker(uint32_t flags, uint32_t id, const char *name) {
    Marker2 m = {0};
    m.kind = KIND_MARKER;
    m.flags = flags;
    m.timestamp = now();
    m.id = id;
    m.objectKind = 2;
    m.objectId[0] = (uint32_t)getpid();
    m.objectId[1] = (uint32_t)syscall(SYS_gettid);
    m.name = name;
    append(&m, sizeof m);
}

static void nvtx_push(const char *name) {
    pthread_mutex_lock(&lock);
    uint32_t id = next_marker++;
    if (depth < 64) open_ids[depth++] = id;
    if (on(KIND_MARKER)) marker(2, id, strdup(name)); /* names stay alive, as CUPTI's do */
    pthread_mutex_unlock(&lock);
}

static void nvtx_pop(void) {
    pthread_mutex_lock(&lock);
    if (depth > 0) {
        uint32_t id = open_ids[--depth];
        if (on(KIND_MARKER)) marker(4, id, NULL);
    }
    pthread_mutex_unlock(&lock);
}

int InitializeInjectionNvtx2(const void *(*get_export_table)(uint32_t)) {
    const StandinNvtxTable *t = get_export_table ? get_export_table(1) : NULL;
    if (!t || t->size < sizeof *t) return 0;
    t->set_handlers(nvtx_push, nvtx_pop);
    return 1;
}

/* --- the CUPTI calls the collector makes -------------------------------- */

CUptiResult cuptiGetVersion(uint32_t *v) { *v = (uint32_t)env_u64("STANDIN_CUPTI_VERSION", 130001); return OK; }

CUptiResult cuptiGetResultString(CUptiResult r, const char **s) {
    switch (r) {
    case OK: *s = "CUPTI_SUCCESS"; return OK;
    case ERR_NOT_INIT: *s = "CUPTI_ERROR_NOT_INITIALIZED"; return OK;
    case ERR_MULTIPLE: *s = "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED"; return OK;
    case ERR_UNKNOWN: *s = "CUPTI_ERROR_UNKNOWN"; return OK;
    default: *s = NULL; return ERR_INVALID;
    }
}

CUptiResult cuptiGetTimestamp(uint64_t *t) { *t = now(); return OK; }

CUptiResult cuptiSubscribe(void **h, void *cb, void *userdata) {
    (void)cb; (void)userdata;
    if (env_u64("STANDIN_SECOND_SUBSCRIBER", 0) || subscribed) return ERR_MULTIPLE;
    /* Attach to the driver, as CUPTI does. */
    void *drv = dlopen("libcuda.so.1", RTLD_NOLOAD | RTLD_LAZY);
    void (*attach)(void (*)(const char *), void (*)(void)) = drv ? (void (*)(void (*)(const char *), void (*)(void)))dlsym(drv, "standin_attach_tool") : NULL;
    if (!attach) return ERR_UNKNOWN;
    attach(on_launch, on_query);
    subscribed = 1;
    *h = (void *)&subscribed;
    return OK;
}

CUptiResult cuptiUnsubscribe(void *h) { (void)h; subscribed = 0; return OK; }
CUptiResult cuptiEnableCallback(uint32_t on_, void *h, uint32_t d, uint32_t cbid) { (void)on_; (void)h; (void)d; (void)cbid; return OK; }

CUptiResult cuptiGetCallbackName(uint32_t domain, uint32_t cbid, const char **name) {
    if (domain == 2 && cbid == 211) { *name = "cudaLaunchKernel_v7000"; return OK; }
    if (domain == 2 && cbid == 1) { *name = "cudaGetDevice_v3020"; return OK; }
    if (domain == 1 && cbid == 1) { *name = "cuCtxGetCurrent"; return OK; }
    return ERR_INVALID;
}

CUptiResult cuptiActivityEnable(uint32_t kind) { pthread_mutex_lock(&lock); enabled |= 1ull << kind; pthread_mutex_unlock(&lock); return OK; }
CUptiResult cuptiActivityDisable(uint32_t kind) { pthread_mutex_lock(&lock); enabled &= ~(1ull << kind); pthread_mutex_unlock(&lock); return OK; }
CUptiResult cuptiActivityEnableLatencyTimestamps(uint8_t e) { latency = e; return OK; }
CUptiResult cuptiActivityFlushPeriod(uint32_t ms) { (void)ms; return OK; }
CUptiResult cuptiActivityRegisterTimestampCallback(timestamp_fn f) { if (!f) return ERR_INVALID; clock_cb = f; return OK; }
CUptiResult cuptiSetThreadIdType(uint32_t t) { (void)t; return OK; }
CUptiResult cuptiFinalize(void) { return OK; }
CUptiResult cuptiActivityPushExternalCorrelationId(uint32_t k, uint64_t id) { (void)k; (void)id; return OK; }
CUptiResult cuptiActivityPopExternalCorrelationId(uint32_t k, uint64_t *id) { (void)k; if (id) *id = 0; return OK; }
CUptiResult cuptiActivityGetNumDroppedRecords(void *c, uint32_t s, size_t *n) { (void)c; (void)s; *n = 0; return OK; }

CUptiResult cuptiActivityRegisterCallbacks(request_fn rq, complete_fn cp) {
    if (!rq || !cp) return ERR_INVALID;
    requested = rq;
    completed = cp;
    return OK;
}

CUptiResult cuptiActivityFlushAll(uint32_t flag) {
    if ((flag & 1) && env_u64("STANDIN_HANG_FLUSH", 0)) for (;;) pause();
    pthread_mutex_lock(&lock);
    if (completed) deliver();
    pthread_mutex_unlock(&lock);
    return OK;
}

CUptiResult cuptiActivityGetNextRecord(uint8_t *buffer, size_t valid, uint8_t **record) {
    uint8_t *r = *record ? *record + record_size(*(uint32_t *)*record) : buffer;
    if (r >= buffer + valid) return ERR_MAX_LIMIT;
    *record = r;
    return OK;
}
