// SPDX-License-Identifier: GPL-2.0
/*
 * failnth: fail the N-th memory allocation of one operation, for N = 1, 2,
 * ... until the operation runs without a failure left to inject, through
 * the task's /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION, with
 * FAILSLAB and FAIL_PAGE_ALLOC set up by the caller: ignore-gfp-wait=N
 * and min-order=0, or GFP_KERNEL and order-0 allocations are skipped).
 *
 *   failnth write PATH VALUE   write(2) VALUE to PATH (opened beforehand,
 *                              so only the write's allocations count);
 *                              after each failed write PATH must read as
 *                              before
 *   failnth vfio GROUP         VFIO_SET_IOMMU (type1v2) on a new container
 *                              holding /dev/vfio/GROUP
 *   failnth once N PATH VALUE [PIDFILE MARKER]
 *                              one write of VALUE to PATH, its N-th
 *                              allocation failing (N = 0: none, and all of
 *                              them counted); this task's PID is written
 *                              to PIDFILE first (a tracing instance's
 *                              set_event_pid) and "failnth-armed" and
 *                              "failnth-done" to MARKER (its trace_marker)
 *                              around the counted part, for the caller to
 *                              tell where each allocation came from. Prints
 *                              "failnth: once N=n injected=0|1 rc=R
 *                              errno=E calls=C", C the allocations counted
 *                              (up to the failed one); exits 0 if the
 *                              write went through.
 *
 * Prints one line per attempt ("failnth: N=n injected=0|1 rc=R errno=E")
 * and a summary: "failnth: points=P failed=F absorbed=A final=N errnos=..."
 * where points is the number of allocations the operation made (each
 * failed once), failed how many of those made it return an error, and
 * absorbed how many it survived without one (the operation succeeded
 * anyway; it is undone, PATH written back, before the next attempt).
 * Exits 0 when the operation finally succeeded with nothing injected,
 * after at least one injected failure, and every failure left PATH as it
 * was; 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

#define MAX_N 5000

static int nth_fd;

static void arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(nth_fd, buf, len, 0) != len) {
		perror("fail-nth: write");
		exit(2);
	}
}

/* What is left of the count: 0 once the failure has been injected. */
static unsigned int left(void)
{
	char buf[16] = "";

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) <= 0) {
		perror("fail-nth: read");
		exit(2);
	}
	return strtoul(buf, NULL, 10);
}

static void read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : read(fd, buf, n - 1);

	buf[r > 0 ? r : 0] = 0;
	if (fd >= 0)
		close(fd);
}

/* Write back what PATH held (up to its newline); true if it reads so. */
static int restore(const char *path, const char *was)
{
	char now[64];
	int fd = open(path, O_WRONLY), ok;

	ok = fd >= 0 && write(fd, was, strcspn(was, "\n")) == (ssize_t)strcspn(was, "\n");
	if (fd >= 0)
		close(fd);
	read_file(path, now, sizeof(now));
	return ok && !strcmp(now, was);
}

/* One attempt with the N-th allocation failing; *err gets errno. */
static int attempt(char **argv, unsigned int n, int *err)
{
	int fd, r, container, group;
	char path[64];

	if (!strcmp(argv[1], "write")) {
		fd = open(argv[2], O_WRONLY);
		if (fd < 0) {
			perror(argv[2]);
			exit(2);
		}
		arm(n);
		r = write(fd, argv[3], strlen(argv[3]));
		*err = errno;
		r = r == (int)strlen(argv[3]) ? 0 : -1;
	} else {
		snprintf(path, sizeof(path), "/dev/vfio/%s", argv[2]);
		container = open("/dev/vfio/vfio", O_RDWR);
		group = open(path, O_RDWR);
		if (container < 0 || group < 0 ||
		    ioctl(group, VFIO_GROUP_SET_CONTAINER, &container)) {
			perror("vfio container");
			exit(2);
		}
		arm(n);
		r = ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
		*err = errno;
		fd = group;
		/* The container goes with its last file: the domain too. */
		close(container);
	}
	if (!left())
		r = r ? -1 : 1;		/* injected: failed, or absorbed */
	else
		r = r ? -2 : 0;		/* nothing injected: error, or done */
	arm(0);
	close(fd);
	return r;
}

static void write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

/*
 * "once": the caller walks N itself, between attempts it removes what the
 * write added, and reads the trace. Nothing between the two markers but
 * the arming, the write and the count (no allocation in either).
 */
static int once(int argc, char **argv)
{
	unsigned int n = strtoul(argv[2], NULL, 10), armed = n ? n : 1000000000u, rest;
	size_t len = strlen(argv[4]);
	int fd, mark = -1, err;
	char pid[16];
	ssize_t r;

	if (argc > 6) {
		snprintf(pid, sizeof(pid), "%d", getpid());
		write_str(argv[5], pid);
		mark = open(argv[6], O_WRONLY);
		if (mark < 0) {
			perror(argv[6]);
			return 2;
		}
	}
	fd = open(argv[3], O_WRONLY);
	if (fd < 0) {
		perror(argv[3]);
		return 2;
	}
	if (mark >= 0 && write(mark, "failnth-armed", 13) != 13)
		return 2;
	arm(armed);
	r = write(fd, argv[4], len);
	err = errno;
	rest = left();
	arm(0);
	if (mark >= 0 && write(mark, "failnth-done", 12) != 12)
		return 2;
	printf("failnth: once N=%u injected=%d rc=%d errno=%d calls=%u\n", n,
	       n && !rest, r == (ssize_t)len ? 0 : -1, r == (ssize_t)len ? 0 : err,
	       armed - rest);
	return r == (ssize_t)len ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned int n, failed = 0, absorbed = 0, bad = 0;
	char before[64] = "", after[64], errnos[256] = "";
	int r, err, is_once = argc > 1 && !strcmp(argv[1], "once");

	if (is_once ? argc != 5 && argc != 7 :
	    argc < 3 || (strcmp(argv[1], "vfio") && (strcmp(argv[1], "write") || argc < 4))) {
		fprintf(stderr, "usage: see the comment at the top of failnth.c\n");
		return 2;
	}
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (nth_fd < 0) {
		perror("/proc/thread-self/fail-nth");
		return 2;
	}
	if (is_once)
		return once(argc, argv);
	if (!strcmp(argv[1], "write"))
		read_file(argv[2], before, sizeof(before));
	for (n = 1; n <= MAX_N; n++) {
		r = attempt(argv, n, &err);
		printf("failnth: N=%u injected=%d rc=%d errno=%d\n", n, r == -1 || r == 1, r, r < 0 ? err : 0);
		if (r == 0)
			break;
		if (r == 1) {
			/*
			 * Survived the failure: undo the operation (a write of
			 * what PATH held; a container is gone with its file)
			 * and go on with the next allocation.
			 */
			absorbed++;
			if (!strcmp(argv[1], "write") && !restore(argv[2], before)) {
				printf("failnth: N=%u: could not write '%.*s' back to %s\n", n,
				       (int)strcspn(before, "\n"), before, argv[2]);
				return 1;
			}
			continue;
		}
		if (r == -2) {
			printf("failnth: N=%u: the operation failed with nothing injected: %s\n", n,
			       strerror(err));
			return 1;
		}
		failed++;
		if (!strstr(errnos, strerrorname_np(err)) && strlen(errnos) < 200) {
			strcat(errnos, errnos[0] ? "," : "");
			strcat(errnos, strerrorname_np(err));
		}
		if (!strcmp(argv[1], "write")) {
			read_file(argv[2], after, sizeof(after));
			if (strcmp(before, after)) {
				printf("failnth: N=%u: %s reads '%.*s' after the failed write, was '%.*s'\n",
				       n, argv[2], (int)strcspn(after, "\n"), after,
				       (int)strcspn(before, "\n"), before);
				bad++;
			}
		}
	}
	if (n > MAX_N) {
		printf("failnth: still failing after %u attempts\n", MAX_N);
		return 1;
	}
	printf("failnth: points=%u failed=%u absorbed=%u final=%u errnos=%s\n",
	       n - 1, failed, absorbed, n, errnos[0] ? errnos : "none");
	if (n == 1) {
		/* Nothing was failed: nothing was checked. */
		printf("failnth: the operation made no allocation that could be failed\n");
		return 1;
	}
	return bad ? 1 : 0;
}
