// SPDX-License-Identifier: GPL-2.0
/*
 * dmaio: block-device DMA workloads for the guest, with O_DIRECT so every
 * request is a DMA through the IOMMU rather than a page-cache copy.
 *
 *   dmaio write  DEV SEED OFFSET_KIB COUNT BS   write a seeded pattern
 *   dmaio verify DEV SEED OFFSET_KIB COUNT BS   read it back, compare
 *   dmaio read   DEV COUNT BS                   COUNT reads of BS bytes, timed
 *
 * write and verify print an FNV-1a checksum of what went out and what came
 * back; verify exits 1 on the first mismatching block and names it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Each 8-byte word depends on the seed, the block and its position. */
static void fill(unsigned char *buf, size_t bs, uint64_t seed, uint64_t blk)
{
	uint64_t x = seed ^ (blk * 0x9e3779b97f4a7c15ULL) ^ 0x2545f4914f6cdd1dULL;
	size_t i;

	for (i = 0; i < bs; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
}

static void *abuf(size_t bs)
{
	void *p;

	if (posix_memalign(&p, 4096, bs)) {
		perror("posix_memalign");
		exit(2);
	}
	return p;
}

int main(int argc, char **argv)
{
	uint64_t seed, off, count, bs, i, sum_out = 0xcbf29ce484222325ULL;
	uint64_t sum_in = 0xcbf29ce484222325ULL;
	unsigned char *buf, *want;
	struct timespec t0, t1;
	const char *op;
	int fd;

	if (argc < 5) {
		fprintf(stderr, "usage: see the comment at the top of dmaio.c\n");
		return 2;
	}
	op = argv[1];
	if (!strcmp(op, "read")) {
		count = strtoull(argv[3], NULL, 0);
		bs = strtoull(argv[4], NULL, 0);
		fd = open(argv[2], O_RDONLY | O_DIRECT);
		if (fd < 0) {
			perror(argv[2]);
			return 2;
		}
		buf = abuf(bs);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < count; i++) {
			if (pread(fd, buf, bs, (off_t)(i * bs)) != (ssize_t)bs) {
				fprintf(stderr, "read %llu: %s\n", (unsigned long long)i, strerror(errno));
				return 1;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("read %llu x %llu bytes in %lld ns\n", (unsigned long long)count,
		       (unsigned long long)bs,
		       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
		return 0;
	}
	if (argc < 7) {
		fprintf(stderr, "usage: see the comment at the top of dmaio.c\n");
		return 2;
	}
	seed = strtoull(argv[3], NULL, 0);
	off = strtoull(argv[4], NULL, 0) * 1024;
	count = strtoull(argv[5], NULL, 0);
	bs = strtoull(argv[6], NULL, 0);
	fd = open(argv[2], (strcmp(op, "write") ? O_RDONLY : O_WRONLY) | O_DIRECT);
	if (fd < 0) {
		perror(argv[2]);
		return 2;
	}
	buf = abuf(bs);
	want = abuf(bs);
	for (i = 0; i < count; i++) {
		fill(want, bs, seed, off / bs + i);
		sum_out = fnv(sum_out, want, bs);
		if (!strcmp(op, "write")) {
			if (pwrite(fd, want, bs, (off_t)(off + i * bs)) != (ssize_t)bs) {
				perror("pwrite");
				return 1;
			}
			continue;
		}
		memset(buf, 0, bs);
		if (pread(fd, buf, bs, (off_t)(off + i * bs)) != (ssize_t)bs) {
			perror("pread");
			return 1;
		}
		sum_in = fnv(sum_in, buf, bs);
		if (memcmp(buf, want, bs)) {
			printf("MISMATCH block %llu (offset %llu, bs %llu)\n", (unsigned long long)i,
			       (unsigned long long)(off + i * bs), (unsigned long long)bs);
			return 1;
		}
	}
	if (!strcmp(op, "write")) {
		if (fsync(fd)) {
			perror("fsync");
			return 1;
		}
		printf("wrote %llu x %llu bytes, checksum %016llx\n", (unsigned long long)count,
		       (unsigned long long)bs, (unsigned long long)sum_out);
	} else {
		printf("verified %llu x %llu bytes, checksum %016llx (expected %016llx)\n",
		       (unsigned long long)count, (unsigned long long)bs,
		       (unsigned long long)sum_in, (unsigned long long)sum_out);
		if (sum_in != sum_out)
			return 1;
	}
	return 0;
}
