#ifndef TRANSLATE_CPUS_H
#define TRANSLATE_CPUS_H

/* The CPUs in this process's affinity mask (sched_getaffinity), or 0 when it cannot be read. */
int tr_affinity_cpus(void);

#endif
