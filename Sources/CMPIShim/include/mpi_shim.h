#ifndef TR_MPI_SHIM_H
#define TR_MPI_SHIM_H
/* Open MPI loaded at run time (dlopen), so that building and running without it works.
   mpi.h is not included: Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM)
   are the addresses of its global objects (ompi_mpi_comm_world, ...), looked up by name.
   Every function returns 0 on success; a failing MPI call ends the job (MPI's default
   error handler on MPI_COMM_WORLD is MPI_ERRORS_ARE_FATAL). */

/* Loads `path` (e.g. "libmpi.so.40") and resolves what the shim uses. On failure returns -1
   and writes the reason into err. */
int tr_mpi_load(const char *path, char *err, int errlen);
/* MPI_Init_thread (funneled: only the main thread calls MPI); rank and size of the world. */
int tr_mpi_init(int *rank, int *size);
int tr_mpi_finalize(void);
/* In place over MPI_COMM_WORLD; counts above INT_MAX are sent in parts. */
int tr_mpi_allreduce_sum_float(float *buf, long count);
int tr_mpi_allreduce_sum_double(double *buf, long count);
int tr_mpi_bcast_bytes(void *buf, long count, int root);
/* Every rank sends `count` bytes; recv holds size * count bytes in rank order. */
int tr_mpi_allgather_bytes(const void *send, void *recv, long count);
int tr_mpi_barrier(void);
void tr_mpi_abort(int code);

#endif
