/* Times MPI_Allreduce (sum, in place) of N floats, as translate's data-parallel training calls it
   once per optimiser step (CMPIShim packs every gradient into one buffer).
   Build and run (Open MPI):
     mpicc -O2 -o /tmp/bench_allreduce tools/bench_allreduce.c
     mpirun --oversubscribe -np 2 --mca btl tcp,self --mca pml ob1 /tmp/bench_allreduce 57000000 5
   Prints the median seconds per all-reduce and the algorithm bandwidth (bytes / time). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    long n = argc > 1 ? atol(argv[1]) : 57000000;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *buf = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) buf[i] = (float)(i % 1000) * 1e-3f;
    double *t = malloc(sizeof(double) * (size_t)reps);
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)(n < 1000 ? n : 1000), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* warm-up */
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp);
    if (rank == 0)
        printf("ranks %d, %ld floats (%.1f MB): median %.3f s, min %.3f s, %.2f GB/s algorithm bandwidth\n",
               size, n, n * 4 / 1e6, t[reps / 2], t[0], n * 4 / t[reps / 2] / 1e9);
    free(buf); free(t);
    MPI_Finalize();
    return 0;
}
