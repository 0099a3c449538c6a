#include <cblas.h>
/* Exported by OpenBLAS; not every cblas.h declares them. */
char *openblas_get_corename(void);
char *openblas_get_config(void);
int openblas_get_num_threads(void);
/* glibc allocator tuning (see AllocatorSetup in Tensors). */
#include <malloc.h>
