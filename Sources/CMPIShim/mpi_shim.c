#include "mpi_shim.h"
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stddef.h>

typedef void *H; /* every Open MPI handle is a pointer */
static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_initialized)(int *);
static int (*p_finalize)(void);
static int (*p_comm_rank)(H, int *);
static int (*p_comm_size)(H, int *);
static int (*p_allreduce)(const void *, void *, int, H, H, H);
static int (*p_bcast)(void *, int, H, int, H);
static int (*p_allgather)(const void *, int, H, void *, int, H, H);
static int (*p_barrier)(H);
static int (*p_abort)(H, int);
static H comm_world, dt_float, dt_double, dt_byte, op_sum;

#define OMPI_IN_PLACE ((void *)1) /* Open MPI's MPI_IN_PLACE */
#define OMPI_THREAD_FUNNELED 1

int tr_mpi_load(const char *path, char *err, int errlen) {
    if (p_allreduce) return 0;
    /* RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve their symbols against libmpi. */
    void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!lib) { snprintf(err, (size_t)errlen, "%s", dlerror()); return -1; }
    struct { const char *name; void **slot; } syms[] = {
        {"MPI_Init_thread", (void **)&p_init_thread}, {"MPI_Initialized", (void **)&p_initialized},
        {"MPI_Finalize", (void **)&p_finalize}, {"MPI_Comm_rank", (void **)&p_comm_rank},
        {"MPI_Comm_size", (void **)&p_comm_size}, {"MPI_Allreduce", (void **)&p_allreduce},
        {"MPI_Bcast", (void **)&p_bcast}, {"MPI_Allgather", (void **)&p_allgather},
        {"MPI_Barrier", (void **)&p_barrier}, {"MPI_Abort", (void **)&p_abort},
        {"ompi_mpi_comm_world", &comm_world}, {"ompi_mpi_float", &dt_float},
        {"ompi_mpi_double", &dt_double}, {"ompi_mpi_byte", &dt_byte}, {"ompi_mpi_op_sum", &op_sum},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *s = dlsym(lib, syms[i].name);
        if (!s) {
            snprintf(err, (size_t)errlen, "%s has no symbol %s (not Open MPI?)", path, syms[i].name);
            p_allreduce = NULL;
            return -1;
        }
        *syms[i].slot = s;
    }
    return 0;
}

int tr_mpi_init(int *rank, int *size) {
    int done = 0, provided = 0;
    p_initialized(&done);
    if (!done && p_init_thread(NULL, NULL, OMPI_THREAD_FUNNELED, &provided) != 0) return -1;
    if (p_comm_rank(comm_world, rank) != 0 || p_comm_size(comm_world, size) != 0) return -1;
    return 0;
}

int tr_mpi_finalize(void) { return p_finalize(); }

static int allreduce(void *buf, long count, H type, size_t elem) {
    char *b = buf;
    while (count > 0) {
        int n = count > INT_MAX / 2 ? INT_MAX / 2 : (int)count;
        if (p_allreduce(OMPI_IN_PLACE, b, n, type, op_sum, comm_world) != 0) return -1;
        b += (size_t)n * elem;
        count -= n;
    }
    return 0;
}

int tr_mpi_allreduce_sum_float(float *buf, long count) { return allreduce(buf, count, dt_float, sizeof(float)); }
int tr_mpi_allreduce_sum_double(double *buf, long count) { return allreduce(buf, count, dt_double, sizeof(double)); }

int tr_mpi_bcast_bytes(void *buf, long count, int root) {
    char *b = buf;
    while (count > 0) {
        int n = count > INT_MAX / 2 ? INT_MAX / 2 : (int)count;
        if (p_bcast(b, n, dt_byte, root, comm_world) != 0) return -1;
        b += n;
        count -= n;
    }
    return 0;
}

int tr_mpi_allgather_bytes(const void *send, void *recv, long count) {
    if (count > INT_MAX) return -1;
    return p_allgather(send, (int)count, dt_byte, recv, (int)count, dt_byte, comm_world);
}

int tr_mpi_barrier(void) { return p_barrier(comm_world); }

void tr_mpi_abort(int code) { p_abort(comm_world, code); }
