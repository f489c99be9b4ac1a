/* The offline tier's virtual time, in every process of the student's code.
 *
 * Loaded with LD_PRELOAD into the worker's Python and into every program it starts (children
 * inherit the environment). ECS_LAB_CLOCK names a folder the scorer made: `page` (the virtual
 * time, written by the scorer, mapped read-only here) and `clock.sock` (the scorer's clock server).
 *
 * - Clocks (REALTIME, MONOTONIC, BOOTTIME and their COARSE/RAW forms; gettimeofday, time) read the
 *   page: time stands still while the code computes and moves only when the scorer advances it.
 *   CPU-time clocks stay real.
 * - A wait with a time limit (sleeps, semaphores, which CPython's locks, conditions, queues and
 *   events use, select/poll/epoll on the student's own descriptors, sigtimedwait) registers its
 *   virtual deadline with the clock server (one connection per thread) and ends when the scorer
 *   says that time has come, or earlier when what it waits for happens. alarm/setitimer
 *   (ITIMER_REAL) are kept by the scorer, which sends SIGALRM at the virtual deadline.
 * - Waits that include a connection to the outside (the scorer's AWS or Docker endpoints) are real
 *   I/O: they wait in real time. So do condition-variable waits (CPython's GIL waits 5 ms on one):
 *   their virtual deadline becomes the same duration on the real clock.
 *
 * Everything sent to the scorer is a hint: the scorer decides when, and how far, time advances.
 * Without the folder (or when the clock server cannot be reached) every call is the C library's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))
#define NS 1000000000LL
#define PAGE_MAGIC 0x4B4C4345u /* "ECLK" */
#define PAGE_VERSION 1u
#define MAX_SECONDS 4000000000LL /* longer waits are clamped: no overflow in nanoseconds */
#define MAX_CONNECTIONS 1024

/* Shared with grader/worker/clock/server.py: keep both in step (PAGE_VERSION). */
struct page {
    uint32_t magic, version;
    uint64_t seq;               /* odd while the scorer writes */
    int64_t now_ns;             /* virtual nanoseconds since the worker started */
    int64_t realtime_base_ns;   /* CLOCK_REALTIME at virtual 0: the real time the worker started */
    int64_t monotonic_base_ns;  /* CLOCK_MONOTONIC at virtual 0 */
};

enum { MSG_HELLO = 1, MSG_WAIT = 2, MSG_DONE = 3, MSG_TIMER = 4, MSG_WAKE = 10 };
enum { WAIT_SLEEP = 1, WAIT_LOCK = 2, WAIT_FDS = 3, WAIT_SIGNAL = 4 };

struct message { /* 32 bytes both ways */
    uint32_t type, kind;
    uint64_t seq;
    int64_t deadline_ns, extra;
};

static const struct page *page; /* NULL: not active in this process */
static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static pthread_key_t connection_key;

static TLS int bypass;          /* the worker's own real waits (ecs_lab_timeshim_bypass) */
static TLS int connection = -1; /* this thread's channel to the clock server */
static TLS dev_t connection_dev;
static TLS ino_t connection_ino;
static TLS uint64_t wait_seq;

static pthread_mutex_t connections_lock = PTHREAD_MUTEX_INITIALIZER;
static int connections[MAX_CONNECTIONS]; /* every thread's, closed in a forked child */
static int connection_count;

static pthread_mutex_t alarm_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t alarm_deadline, alarm_interval; /* the process's ITIMER_REAL, virtual ns (0: none) */

/* --- the C library's own functions ------------------------------------------------------------ */
static void *next_symbol(const char *name, const char *version) {
    void *found = version ? dlvsym(RTLD_NEXT, name, version) : NULL;
    return found ? found : dlsym(RTLD_NEXT, name);
}

/* Resolved at first use: another library's constructor may read a clock before ours runs. */
#define DECLARE_REAL_VERSION(name, version)                                                     \
    static __typeof__(&name) real_##name##_pointer;                                            \
    static inline __typeof__(&name) real_##name(void) {                                        \
        if (!real_##name##_pointer) real_##name##_pointer = next_symbol(#name, version);       \
        return real_##name##_pointer;                                                          \
    }
#define DECLARE_REAL(name) DECLARE_REAL_VERSION(name, NULL)
#define REAL(name) real_##name()

DECLARE_REAL(clock_gettime)
DECLARE_REAL(gettimeofday)
DECLARE_REAL(time)
DECLARE_REAL(nanosleep)
DECLARE_REAL(clock_nanosleep)
DECLARE_REAL(usleep)
DECLARE_REAL(sleep)
DECLARE_REAL(sem_timedwait)
DECLARE_REAL(sem_clockwait)
/* x86_64 keeps an old ABI of pthread_cond_timedwait beside the current one: take the current */
DECLARE_REAL_VERSION(pthread_cond_timedwait, "GLIBC_2.3.2")
DECLARE_REAL(pthread_cond_clockwait)
DECLARE_REAL(poll)
DECLARE_REAL(ppoll)
DECLARE_REAL(select)
DECLARE_REAL(pselect)
DECLARE_REAL(epoll_wait)
DECLARE_REAL(epoll_pwait)
DECLARE_REAL(sigtimedwait)
DECLARE_REAL(alarm)
DECLARE_REAL(setitimer)
DECLARE_REAL(getitimer)

/* --- virtual time ----------------------------------------------------------------------------- */
static inline int active(void) { return page != NULL && !bypass; }

static int64_t virtual_now(void) {
    for (int tries = 0;; tries++) {
        uint64_t before = __atomic_load_n(&page->seq, __ATOMIC_ACQUIRE);
        int64_t now = __atomic_load_n(&page->now_ns, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t after = __atomic_load_n(&page->seq, __ATOMIC_RELAXED);
        if ((before == after && !(before & 1)) || tries > 1000000) return now;
    }
}

/* 1: a wall clock, 2: a monotonic one, 0: not virtual (CPU-time clocks) */
static int clock_class(clockid_t clock) {
    switch (clock) {
    case CLOCK_REALTIME: case CLOCK_REALTIME_COARSE: case CLOCK_REALTIME_ALARM:
        return 1;
    case CLOCK_MONOTONIC: case CLOCK_MONOTONIC_RAW: case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME: case CLOCK_BOOTTIME_ALARM:
        return 2;
    default:
        return 0;
    }
}

static int64_t base_of(int class) { return class == 1 ? page->realtime_base_ns : page->monotonic_base_ns; }

static int64_t ts_ns(const struct timespec *ts) {
    int64_t seconds = ts->tv_sec > MAX_SECONDS ? MAX_SECONDS : ts->tv_sec < -MAX_SECONDS ? -MAX_SECONDS : ts->tv_sec;
    return seconds * NS + ts->tv_nsec;
}

static int64_t tv_ns(const struct timeval *tv) {
    int64_t seconds = tv->tv_sec > MAX_SECONDS ? MAX_SECONDS : tv->tv_sec;
    return seconds * NS + (int64_t)tv->tv_usec * 1000;
}

static struct timespec ns_ts(int64_t ns) {
    if (ns < 0) ns = 0;
    return (struct timespec){.tv_sec = ns / NS, .tv_nsec = ns % NS};
}

static struct timeval ns_tv(int64_t ns) {
    if (ns < 0) ns = 0;
    return (struct timeval){.tv_sec = ns / NS, .tv_usec = (ns % NS) / 1000};
}

static int valid_ts(const struct timespec *ts) { return ts && ts->tv_nsec >= 0 && ts->tv_nsec < NS; }

static int64_t real_now(clockid_t clock) {
    struct timespec ts;
    REAL(clock_gettime)(clock, &ts);
    return ts.tv_sec * NS + ts.tv_nsec;
}

/* The interpreter's condition-variable waits keep their real length: an absolute time the caller
   computed from a virtual clock, as the same remaining duration on that real clock. A wall-clock
   deadline and a monotonic one are told apart by size (1.7e9 s against 1e5 s). */
static clockid_t clock_of_deadline(const struct timespec *abstime) {
    int64_t middle = (page->realtime_base_ns + page->monotonic_base_ns) / 2;
    return ts_ns(abstime) > middle ? CLOCK_REALTIME : CLOCK_MONOTONIC;
}

static struct timespec real_deadline(clockid_t clock, const struct timespec *abstime) {
    int class = clock_class(clock);
    int64_t left = ts_ns(abstime) - (base_of(class) + virtual_now());
    return ns_ts(real_now(clock) + (left > 0 ? left : 0));
}

static int64_t ms_left(int64_t deadline) {
    int64_t left = deadline - virtual_now();
    return left <= 0 ? 0 : (left + 999999) / 1000000;
}

/* --- the channel to the clock server ---------------------------------------------------------- */
static void forget_connection(int fd, int close_it) {
    pthread_mutex_lock(&connections_lock);
    for (int i = 0; i < connection_count; i++) {
        if (connections[i] == fd) {
            connections[i] = connections[--connection_count];
            break;
        }
    }
    pthread_mutex_unlock(&connections_lock);
    if (close_it) close(fd);
}

static void drop_connection(void) {
    if (connection >= 0) forget_connection(connection, 1);
    connection = -1;
    pthread_setspecific(connection_key, NULL);
}

static void thread_ended(void *value) {
    int fd = (int)(intptr_t)value - 1;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == connection_dev && st.st_ino == connection_ino)
        forget_connection(fd, 1);
}

static int send_message(struct message *m) {
    if (send(connection, m, sizeof *m, MSG_NOSIGNAL) == (ssize_t)sizeof *m) return 0;
    drop_connection();
    return -1;
}

/* This thread's connection (made at its first wait), or -1 when the clock server cannot be reached. */
static int channel(void) {
    if (connection >= 0) {
        struct stat st; /* the student's code may have closed it, and the number be reused */
        if (fstat(connection, &st) == 0 && st.st_dev == connection_dev && st.st_ino == connection_ino)
            return connection;
        forget_connection(connection, 0);
        connection = -1;
    }
    if (!socket_path[0]) return -1;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    memcpy(address.sun_path, socket_path, sizeof socket_path);
    struct stat st;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0 || fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    pthread_mutex_lock(&connections_lock);
    int kept = connection_count < MAX_CONNECTIONS;
    if (kept) connections[connection_count++] = fd;
    pthread_mutex_unlock(&connections_lock);
    if (!kept) {
        close(fd);
        return -1;
    }
    connection = fd;
    connection_dev = st.st_dev;
    connection_ino = st.st_ino;
    pthread_setspecific(connection_key, (void *)(intptr_t)(fd + 1));
    struct message hello = {MSG_HELLO, 0, (uint64_t)syscall(SYS_gettid), 0, (int64_t)getpid()};
    return send_message(&hello) == 0 ? connection : -1;
}

/* Wake-ups of earlier waits that ended another way (what they waited for came first). */
static void drain(void) {
    struct message m;
    while (recv(connection, &m, sizeof m, MSG_DONTWAIT) > 0) {
    }
}

/* Register this thread's wait until the virtual `deadline`: its number, or 0 without a channel. */
static uint64_t register_wait(int kind, int64_t deadline) {
    if (channel() < 0) return 0;
    drain();
    struct message m = {MSG_WAIT, (uint32_t)kind, ++wait_seq, deadline, 0};
    return send_message(&m) == 0 ? m.seq : 0;
}

/* The wait ended before its deadline (what it waited for happened, or a signal). */
static void end_wait(uint64_t seq) {
    if (connection < 0) return;
    struct message m = {MSG_DONE, 0, seq, 0, 0};
    send_message(&m);
}

/* The scorer closed this thread's connection (the check is over, or it refused us). */
static int channel_closed(void) {
    struct message m;
    ssize_t got = recv(connection, &m, sizeof m, MSG_DONTWAIT | MSG_PEEK);
    return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Sleep until the virtual `deadline`: 0 when it came, EINTR when a signal came first, -1 when the
   clock server cannot be reached (the caller then waits in real time). */
static int sleep_until(int64_t deadline) {
    if (virtual_now() >= deadline) return 0;
    uint64_t seq = register_wait(WAIT_SLEEP, deadline);
    if (!seq) return -1;
    for (;;) {
        struct message m;
        ssize_t got = recv(connection, &m, sizeof m, 0);
        if (got == (ssize_t)sizeof m) {
            if (m.type == MSG_WAKE && m.seq == seq) return 0;
            continue;
        }
        if (got < 0 && errno == EINTR) {
            end_wait(seq);
            return EINTR;
        }
        drop_connection();
        return virtual_now() >= deadline ? 0 : -1;
    }
}

/* Wait for descriptors (all the student's own) until the virtual `deadline`, or for a signal when
   `mask` is given (ppoll). The number of ready descriptors, 0 at the deadline, -1 with errno;
   *fallback is set when the clock server cannot be reached. */
static int wait_fds(struct pollfd *fds, nfds_t count, int64_t deadline, const sigset_t *mask, int *fallback) {
    *fallback = 0;
    if (virtual_now() >= deadline) return REAL(poll)(fds, count, 0);
    uint64_t seq = register_wait(WAIT_FDS, deadline);
    if (!seq) {
        *fallback = 1;
        return -1;
    }
    struct pollfd local[64], *all = count < 64 ? local : malloc((count + 1) * sizeof *all);
    if (!all) {
        end_wait(seq);
        *fallback = 1;
        return -1;
    }
    memcpy(all, fds, count * sizeof *fds);
    int result;
    for (;;) {
        all[count] = (struct pollfd){.fd = connection, .events = POLLIN};
        int got = mask ? REAL(ppoll)(all, count + 1, NULL, mask) : REAL(poll)(all, count + 1, -1);
        if (got < 0) {
            int error = errno;
            end_wait(seq);
            errno = error;
            result = -1;
            break;
        }
        int woken = 0, broken = 0;
        if (all[count].revents) {
            struct message m;
            ssize_t size;
            while ((size = recv(connection, &m, sizeof m, MSG_DONTWAIT)) == (ssize_t)sizeof m)
                woken |= m.type == MSG_WAKE && m.seq == seq;
            broken = size == 0 || (all[count].revents & (POLLHUP | POLLERR | POLLNVAL));
        }
        int ready = 0;
        for (nfds_t i = 0; i < count; i++) {
            fds[i].revents = all[i].revents;
            ready += all[i].revents != 0;
        }
        if (ready) {
            if (!woken && !broken) end_wait(seq);
            result = ready;
        } else if (woken || (broken && virtual_now() >= deadline)) {
            result = 0;
        } else if (broken) {
            *fallback = 1;
            result = -1;
        } else {
            continue;
        }
        if (broken) drop_connection();
        break;
    }
    if (all != local) free(all);
    return result;
}

/* --- which descriptors are the student's own --------------------------------------------------- */
static int fd_internal(int fd, int depth);

static int epoll_internal(int epfd, int depth) {
    char path[64], buffer[4096];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t size = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (size <= 0 || size == (ssize_t)sizeof buffer - 1) return 0; /* unreadable, or too many to tell */
    buffer[size] = 0;
    for (char *line = strstr(buffer, "tfd:"); line; line = strstr(line + 4, "tfd:")) {
        int target = (int)strtol(line + 4, NULL, 10);
        if (!fd_internal(target, depth + 1)) return 0;
    }
    return 1;
}

static int socket_internal(int fd) {
    int domain = 0, type = 0, listening = 0;
    socklen_t size = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0) return 0;
    size = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size);
    size = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size);
    if (listening) return 1; /* a server of the student's: its clients are the student's processes */
    struct sockaddr_storage peer;
    socklen_t peer_size = sizeof peer;
    int connected = getpeername(fd, (struct sockaddr *)&peer, &peer_size) == 0;
    if (domain == AF_UNIX) /* a socketpair's peer has no name; a named peer is a server */
        return !connected || peer_size <= sizeof(sa_family_t);
    if (domain == AF_INET || domain == AF_INET6) /* a connection, or one being made: real I/O */
        return type == SOCK_DGRAM && !connected;
    return 0;
}

static int fd_internal(int fd, int depth) {
    struct stat st;
    if (depth > 4) return 0;
    if (fstat(fd, &st) != 0) return 1; /* not open: poll reports it at once */
    switch (st.st_mode & S_IFMT) {
    case S_IFIFO: case S_IFREG: case S_IFDIR: case S_IFCHR: case S_IFBLK:
        return 1;
    case S_IFSOCK:
        return socket_internal(fd);
    default: {
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t size = readlink(path, target, sizeof target - 1);
        if (size <= 0) return 0;
        target[size] = 0;
        if (strstr(target, "[eventpoll]")) return epoll_internal(fd, depth);
        /* timerfd keeps real time; anything unknown may be fed from outside */
        return strstr(target, "[eventfd]") || strstr(target, "[signalfd]") || strstr(target, "pidfd") ||
               strstr(target, "inotify");
    }
    }
}

static int all_internal(const struct pollfd *fds, nfds_t count) {
    for (nfds_t i = 0; i < count; i++)
        if (fds[i].fd >= 0 && !fd_internal(fds[i].fd, 0)) return 0;
    return 1;
}

/* --- clocks ------------------------------------------------------------------------------------- */
EXPORT int clock_gettime(clockid_t clock, struct timespec *ts) {
    int class = active() ? clock_class(clock) : 0;
    if (!class) return REAL(clock_gettime)(clock, ts);
    *ts = ns_ts(base_of(class) + virtual_now());
    return 0;
}

EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    if (!active()) return REAL(gettimeofday)(tv, tz);
    *tv = ns_tv(page->realtime_base_ns + virtual_now());
    if (tz) memset(tz, 0, sizeof(struct timezone));
    return 0;
}

EXPORT time_t time(time_t *result) {
    if (!active()) return REAL(time)(result);
    time_t now = (time_t)((page->realtime_base_ns + virtual_now()) / NS);
    if (result) *result = now;
    return now;
}

EXPORT int timespec_get(struct timespec *ts, int base) {
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0) return 0;
    return base;
}

/* --- sleeps ------------------------------------------------------------------------------------- */
EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remain) {
    int class = active() ? clock_class(clock) : 0;
    if (!class) return REAL(clock_nanosleep)(clock, flags, request, remain);
    if (!valid_ts(request)) return EINVAL;
    int absolute = flags & TIMER_ABSTIME;
    int64_t deadline = absolute ? ts_ns(request) - base_of(class) : virtual_now() + ts_ns(request);
    int result = sleep_until(deadline);
    if (result == EINTR && !absolute && remain) *remain = ns_ts(deadline - virtual_now());
    if (result >= 0) return result;
    struct timespec left = ns_ts(deadline - virtual_now());
    return REAL(clock_nanosleep)(CLOCK_MONOTONIC, 0, &left, absolute ? NULL : remain);
}

EXPORT int nanosleep(const struct timespec *request, struct timespec *remain) {
    if (!active()) return REAL(nanosleep)(request, remain);
    int result = clock_nanosleep(CLOCK_MONOTONIC, 0, request, remain);
    if (result == 0) return 0;
    errno = result;
    return -1;
}

EXPORT int usleep(useconds_t microseconds) {
    if (!active()) return REAL(usleep)(microseconds);
    struct timespec request = ns_ts((int64_t)microseconds * 1000);
    return nanosleep(&request, NULL);
}

EXPORT unsigned int sleep(unsigned int seconds) {
    if (!active()) return REAL(sleep)(seconds);
    struct timespec request = {.tv_sec = seconds}, remain = {0, 0};
    if (nanosleep(&request, &remain) == 0) return 0;
    return (unsigned int)remain.tv_sec + (remain.tv_nsec > 0);
}

/* --- semaphores (CPython's locks: Lock, RLock, Condition, Event, Queue, Semaphore, join) --------- */
static int real_sem_deadline(sem_t *sem, int64_t ns_from_now) {
    if (REAL(sem_clockwait)) {
        struct timespec until = ns_ts(real_now(CLOCK_MONOTONIC) + ns_from_now);
        return REAL(sem_clockwait)(sem, CLOCK_MONOTONIC, &until);
    }
    struct timespec until = ns_ts(real_now(CLOCK_REALTIME) + ns_from_now);
    return REAL(sem_timedwait)(sem, &until);
}

/* Another thread posts the semaphore, or the scorer advances the page past the deadline: there is
   no descriptor to wait on both, so the real wait runs in short slices that look at the page. */
static int sem_wait_until(sem_t *sem, clockid_t clock, const struct timespec *abstime) {
    int class = clock_class(clock);
    if (sem_trywait(sem) == 0) return 0;
    if (errno != EAGAIN) return -1;
    if (!valid_ts(abstime)) {
        errno = EINVAL;
        return -1;
    }
    int64_t deadline = ts_ns(abstime) - base_of(class);
    if (virtual_now() >= deadline) {
        errno = ETIMEDOUT;
        return -1;
    }
    uint64_t seq = register_wait(WAIT_LOCK, deadline);
    if (!seq) return real_sem_deadline(sem, deadline - virtual_now());
    int64_t slice = 50000;
    for (int round = 1;; round++) {
        int result = real_sem_deadline(sem, slice);
        int error = errno;
        if (result == 0 || error != ETIMEDOUT) {
            end_wait(seq);
            errno = error;
            return result;
        }
        if (virtual_now() >= deadline) {
            if (sem_trywait(sem) == 0) return 0;
            errno = ETIMEDOUT;
            return -1;
        }
        if (slice < 2000000) slice *= 2;
        if (round % 64 == 0 && channel_closed()) { /* the scorer is gone: real time from now on */
            drop_connection();
            return real_sem_deadline(sem, deadline - virtual_now());
        }
    }
}

EXPORT int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict abstime) {
    if (!active()) return REAL(sem_timedwait)(sem, abstime);
    return sem_wait_until(sem, CLOCK_REALTIME, abstime);
}

EXPORT int sem_clockwait(sem_t *restrict sem, clockid_t clock, const struct timespec *restrict abstime) {
    if (!active() || !clock_class(clock) || !REAL(sem_clockwait)) {
        if (REAL(sem_clockwait)) return REAL(sem_clockwait)(sem, clock, abstime);
        errno = ENOSYS;
        return -1;
    }
    return sem_wait_until(sem, clock, abstime);
}

/* --- condition variables: real durations (the GIL's 5 ms switch interval) ---------------------- */
EXPORT int pthread_cond_timedwait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mutex,
                                  const struct timespec *restrict abstime) {
    if (!active() || !valid_ts(abstime)) return REAL(pthread_cond_timedwait)(cond, mutex, abstime);
    struct timespec real = real_deadline(clock_of_deadline(abstime), abstime);
    return REAL(pthread_cond_timedwait)(cond, mutex, &real);
}

EXPORT int pthread_cond_clockwait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mutex, clockid_t clock,
                                  const struct timespec *restrict abstime) {
    if (!REAL(pthread_cond_clockwait)) return ENOSYS;
    if (!active() || !clock_class(clock) || !valid_ts(abstime))
        return REAL(pthread_cond_clockwait)(cond, mutex, clock, abstime);
    struct timespec real = real_deadline(clock, abstime);
    return REAL(pthread_cond_clockwait)(cond, mutex, clock, &real);
}

/* --- descriptors -------------------------------------------------------------------------------- */
static int poll_until(struct pollfd *fds, nfds_t count, int64_t deadline, const sigset_t *mask) {
    int fallback;
    int result = wait_fds(fds, count, deadline, mask, &fallback);
    if (!fallback) return result;
    struct timespec left = ns_ts(deadline - virtual_now());
    return REAL(ppoll)(fds, count, &left, mask);
}

EXPORT int poll(struct pollfd *fds, nfds_t count, int timeout) {
    if (!active() || timeout <= 0 || !all_internal(fds, count)) return REAL(poll)(fds, count, timeout);
    return poll_until(fds, count, virtual_now() + (int64_t)timeout * 1000000, NULL);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t count, int timeout, size_t size) {
    (void)size;
    return poll(fds, count, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask) {
    if (!active() || !valid_ts(timeout) || (timeout->tv_sec == 0 && timeout->tv_nsec == 0) ||
        !all_internal(fds, count))
        return REAL(ppoll)(fds, count, timeout, mask);
    return poll_until(fds, count, virtual_now() + ts_ns(timeout), mask);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask,
                       size_t size) {
    (void)size;
    return ppoll(fds, count, timeout, mask);
}

/* select and pselect, on the student's own descriptors: the same wait as poll's. */
static int select_until(int nfds, fd_set *readable, fd_set *writable, fd_set *errors, int64_t deadline,
                        const sigset_t *mask, int *handled) {
    *handled = 0;
    if (nfds < 0 || nfds > FD_SETSIZE) return 0;
    struct pollfd *fds = malloc((size_t)(nfds ? nfds : 1) * sizeof *fds);
    if (!fds) return 0;
    nfds_t count = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short events = (readable && FD_ISSET(fd, readable) ? POLLIN : 0) |
                       (writable && FD_ISSET(fd, writable) ? POLLOUT : 0) |
                       (errors && FD_ISSET(fd, errors) ? POLLPRI : 0);
        if (events) fds[count++] = (struct pollfd){.fd = fd, .events = events};
    }
    for (nfds_t i = 0; i < count; i++) {
        if (fcntl(fds[i].fd, F_GETFD) < 0 || !fd_internal(fds[i].fd, 0)) { /* EBADF, or real I/O */
            free(fds);
            return 0;
        }
    }
    int fallback;
    int result = wait_fds(fds, count, deadline, mask, &fallback);
    if (fallback) {
        free(fds);
        return 0;
    }
    *handled = 1;
    if (result >= 0) {
        result = 0;
        if (readable) FD_ZERO(readable);
        if (writable) FD_ZERO(writable);
        if (errors) FD_ZERO(errors);
        for (nfds_t i = 0; i < count; i++) {
            short got = fds[i].revents, asked = fds[i].events;
            if ((asked & POLLIN) && (got & (POLLIN | POLLHUP | POLLERR))) FD_SET(fds[i].fd, readable), result++;
            if ((asked & POLLOUT) && (got & (POLLOUT | POLLERR))) FD_SET(fds[i].fd, writable), result++;
            if ((asked & POLLPRI) && (got & POLLPRI)) FD_SET(fds[i].fd, errors), result++;
        }
    }
    free(fds);
    return result;
}

EXPORT int select(int nfds, fd_set *restrict readable, fd_set *restrict writable, fd_set *restrict errors,
                  struct timeval *restrict timeout) {
    if (!active() || !timeout || timeout->tv_sec < 0 || timeout->tv_usec < 0 ||
        (timeout->tv_sec == 0 && timeout->tv_usec == 0))
        return REAL(select)(nfds, readable, writable, errors, timeout);
    int64_t deadline = virtual_now() + tv_ns(timeout);
    int handled;
    int result = select_until(nfds, readable, writable, errors, deadline, NULL, &handled);
    if (!handled) {
        struct timeval left = ns_tv(deadline - virtual_now());
        result = REAL(select)(nfds, readable, writable, errors, &left);
    }
    *timeout = ns_tv(deadline - virtual_now());
    return result;
}

EXPORT int pselect(int nfds, fd_set *restrict readable, fd_set *restrict writable, fd_set *restrict errors,
                   const struct timespec *restrict timeout, const sigset_t *restrict mask) {
    if (!active() || !valid_ts(timeout) || timeout->tv_sec < 0 || (timeout->tv_sec == 0 && timeout->tv_nsec == 0))
        return REAL(pselect)(nfds, readable, writable, errors, timeout, mask);
    int64_t deadline = virtual_now() + ts_ns(timeout);
    int handled;
    int result = select_until(nfds, readable, writable, errors, deadline, mask, &handled);
    if (handled) return result;
    struct timespec left = ns_ts(deadline - virtual_now());
    return REAL(pselect)(nfds, readable, writable, errors, &left, mask);
}

static int epoll_until(int epfd, struct epoll_event *events, int most, int timeout, const sigset_t *mask) {
    int64_t deadline = virtual_now() + (int64_t)timeout * 1000000;
    for (;;) {
        struct pollfd ready = {.fd = epfd, .events = POLLIN};
        int fallback;
        int result = wait_fds(&ready, 1, deadline, mask, &fallback);
        if (fallback) return REAL(epoll_pwait)(epfd, events, most, (int)ms_left(deadline), mask);
        if (result <= 0) return result;
        result = REAL(epoll_wait)(epfd, events, most, 0);
        if (result != 0) return result;
        if (virtual_now() >= deadline) return 0; /* the events went meanwhile: wait again */
    }
}

EXPORT int epoll_wait(int epfd, struct epoll_event *events, int most, int timeout) {
    if (!active() || timeout <= 0 || most <= 0 || !epoll_internal(epfd, 0))
        return REAL(epoll_wait)(epfd, events, most, timeout);
    return epoll_until(epfd, events, most, timeout, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int most, int timeout, const sigset_t *mask) {
    if (!active() || timeout <= 0 || most <= 0 || !epoll_internal(epfd, 0))
        return REAL(epoll_pwait)(epfd, events, most, timeout, mask);
    return epoll_until(epfd, events, most, timeout, mask);
}

/* --- signals ------------------------------------------------------------------------------------ */
EXPORT int sigtimedwait(const sigset_t *restrict set, siginfo_t *restrict info, const struct timespec *restrict timeout) {
    if (!active() || !valid_ts(timeout) || (timeout->tv_sec == 0 && timeout->tv_nsec == 0))
        return REAL(sigtimedwait)(set, info, timeout);
    int64_t deadline = virtual_now() + ts_ns(timeout);
    uint64_t seq = register_wait(WAIT_SIGNAL, deadline);
    if (!seq) return REAL(sigtimedwait)(set, info, timeout);
    int64_t slice = 50000;
    for (int round = 1;; round++) {
        struct timespec wait = ns_ts(slice);
        int result = REAL(sigtimedwait)(set, info, &wait);
        int error = errno;
        if (result >= 0 || error != EAGAIN) {
            end_wait(seq);
            errno = error;
            return result;
        }
        if (virtual_now() >= deadline) {
            errno = EAGAIN;
            return -1;
        }
        if (slice < 2000000) slice *= 2;
        if (round % 64 == 0 && channel_closed()) {
            drop_connection();
            struct timespec left = ns_ts(deadline - virtual_now());
            return REAL(sigtimedwait)(set, info, &left);
        }
    }
}

/* ITIMER_REAL belongs to the scorer: it sends SIGALRM when virtual time reaches the deadline. */
static int64_t alarm_left(int64_t now) {
    if (!alarm_deadline) return 0;
    if (now < alarm_deadline) return alarm_deadline - now;
    if (!alarm_interval) return 0;
    return alarm_interval - (now - alarm_deadline) % alarm_interval;
}

EXPORT int getitimer(__itimer_which_t which, struct itimerval *value) {
    if (!active() || which != ITIMER_REAL || !value) return REAL(getitimer)(which, value);
    pthread_mutex_lock(&alarm_lock);
    value->it_value = ns_tv(alarm_left(virtual_now()));
    value->it_interval = ns_tv(alarm_interval);
    pthread_mutex_unlock(&alarm_lock);
    return 0;
}

EXPORT int setitimer(__itimer_which_t which, const struct itimerval *restrict value, struct itimerval *restrict old) {
    if (!active() || which != ITIMER_REAL || !value) return REAL(setitimer)(which, value, old);
    if (value->it_value.tv_usec < 0 || value->it_value.tv_usec >= 1000000 || value->it_interval.tv_usec < 0 ||
        value->it_interval.tv_usec >= 1000000 || value->it_value.tv_sec < 0 || value->it_interval.tv_sec < 0) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&alarm_lock);
    int64_t now = virtual_now(), first = tv_ns(&value->it_value), every = first ? tv_ns(&value->it_interval) : 0;
    struct itimerval before = {.it_value = ns_tv(alarm_left(now)), .it_interval = ns_tv(alarm_interval)};
    int64_t deadline = first ? now + first : 0;
    struct message m = {MSG_TIMER, 0, 0, deadline, every};
    int sent = channel() >= 0 && send_message(&m) == 0;
    if (sent) {
        alarm_deadline = deadline;
        alarm_interval = every;
    }
    pthread_mutex_unlock(&alarm_lock);
    if (!sent) return REAL(setitimer)(which, value, old);
    if (old) *old = before;
    return 0;
}

EXPORT unsigned int alarm(unsigned int seconds) {
    if (!active()) return REAL(alarm)(seconds);
    struct itimerval value = {.it_value = {.tv_sec = seconds}}, old;
    if (setitimer(ITIMER_REAL, &value, &old) != 0) return 0;
    unsigned int left = (unsigned int)old.it_value.tv_sec;
    if (old.it_value.tv_usec >= 500000 || (left == 0 && old.it_value.tv_usec > 0)) left++;
    return left;
}

/* --- the worker's own calls --------------------------------------------------------------------- */
EXPORT int ecs_lab_timeshim_active(void) { return page != NULL; }

/* While on, this thread's clocks and waits are real (the worker's own bookkeeping). */
EXPORT void ecs_lab_timeshim_bypass(int on) { bypass = on; }

/* --- life --------------------------------------------------------------------------------------- */
static void before_fork(void) {
    pthread_mutex_lock(&alarm_lock);
    pthread_mutex_lock(&connections_lock);
}

static void after_fork_parent(void) {
    pthread_mutex_unlock(&connections_lock);
    pthread_mutex_unlock(&alarm_lock);
}

/* A forked child makes its own connections (the scorer tells processes apart by them) and has no
   alarm (POSIX: a child starts without its parent's timers). */
static void after_fork_child(void) {
    for (int i = 0; i < connection_count; i++) close(connections[i]);
    connection_count = 0;
    connection = -1;
    wait_seq = 0;
    alarm_deadline = alarm_interval = 0;
    pthread_setspecific(connection_key, NULL);
    pthread_mutex_unlock(&connections_lock);
    pthread_mutex_unlock(&alarm_lock);
}

__attribute__((constructor)) static void start(void) {
    const char *folder = getenv("ECS_LAB_CLOCK");
    char path[sizeof socket_path];
    if (!folder || snprintf(path, sizeof path, "%s/clock.sock", folder) >= (int)sizeof path) return;
    char page_path[sizeof socket_path + 8];
    snprintf(page_path, sizeof page_path, "%s/page", folder);
    int fd = open(page_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    void *map = mmap(NULL, sizeof(struct page), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return;
    const struct page *mapped = map;
    if (mapped->magic != PAGE_MAGIC || mapped->version != PAGE_VERSION) {
        munmap(map, sizeof(struct page));
        return;
    }
    memcpy(socket_path, path, sizeof socket_path);
    if (pthread_key_create(&connection_key, thread_ended) != 0) return;
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    __atomic_store_n(&page, mapped, __ATOMIC_RELEASE);
}
