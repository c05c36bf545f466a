/*
 * gpu: parsers for nvidia-smi CSV and tegrastats lines.
 *
 * Pure functions of bytes: the runner (local child or SSH exec channel)
 * collects stdout+stderr and the exit status and hands them here.
 */
#ifndef TUNNELD_GPU_H
#define TUNNELD_GPU_H

#include <stddef.h>

#define GPU_MAX		16
#define GPU_NAME_MAX	96
#define GPU_UUID_MAX	64
#define GPU_REASON_MAX	256

/* The argv tunneld runs; no shell is involved. */
#define GPU_NVIDIA_SMI_QUERY \
	"--query-gpu=index,uuid,name,temperature.gpu,utilization.gpu," \
	"memory.used,memory.total,power.draw,power.limit"
#define GPU_NVIDIA_SMI_FORMAT	"--format=csv,noheader,nounits"

/* A field the card does not report is absent (has_* = 0), never 0. */
struct gpu_info {
	int		index;
	char		uuid[GPU_UUID_MAX];
	char		name[GPU_NAME_MAX];
	int		has_temp;	int	temp_c;
	int		has_util;	int	util_pct;
	int		has_mem_used;	long	mem_used_mib;
	int		has_mem_total;	long	mem_total_mib;
	int		has_power;	double	power_w;
	int		has_power_limit; double	power_limit_w;
};

struct gpu_sample {
	int		ok;		/* 1: gpus[] valid; 0: reason says why */
	char		reason[GPU_REASON_MAX];
	size_t		ngpus;		/* entries in gpus[], at most GPU_MAX */
	size_t		ngpus_total;	/* GPUs the tool reported (> ngpus when
					   more than GPU_MAX: the first are kept) */
	struct gpu_info	gpus[GPU_MAX];
};

/*
 * OUT: the command's stdout and stderr, concatenated (stdout first).
 * EXIT_STATUS: the exit code, or -1 when unknown.
 * Returns 0 and fills S with ok = 1, or -1 with ok = 0 and a reason that is
 * the tool's own first line of error where there is one.
 */
int	gpu_parse_nvidia_smi(const char *out, size_t len, int exit_status,
	    struct gpu_sample *s);
/* One tegrastats line (the first complete one in OUT). */
int	gpu_parse_tegrastats(const char *out, size_t len, struct gpu_sample *s);

/*
 * The alert thresholds (alert_gpu_temp_c, alert_gpu_mem_pct), one rule for
 * node state and alerts alike.  Each is -1 when G lacks the reading, else
 * 1 if G is over the limit, 0 if not.
 */
int	gpu_temp_over(const struct gpu_info *g, int temp_c);
int	gpu_mem_over(const struct gpu_info *g, int mem_pct);
/* Memory used, in percent rounded to nearest; -1 when unknown. */
long	gpu_mem_pct(const struct gpu_info *g);

#endif
