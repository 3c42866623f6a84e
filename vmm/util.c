/* util: the clock, eventfds. */
#include "vmm/util.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

uint64_t util_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int util_eventfd_signal(int fd)
{
	uint64_t one = 1;

	/* Only a counter at its maximum refuses; the reader is awake then. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int util_cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t attr;
	int ret = pthread_condattr_init(&attr);

	if (ret)
		return ret;
	ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return ret;
}
