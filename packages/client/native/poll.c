/*
 * rumpnet-hijack: poll/ppoll/select/pselect over host and rump descriptors.
 *
 * Only host descriptors: libc's call, untouched. Only rump ones: one server
 * `poll` with the caller's timeout. Both (a pipe and a socket, the terminal
 * and a socket -- nc does this): the server's poll runs *while* the host
 * descriptors are polled. The rump poll request is sent without waiting;
 * the thread then sleeps in the kernel's poll on the host descriptors plus
 * the connection to the server (or, when another thread is reading the
 * connection, its eventfd), so whichever side is ready first wakes it.
 * If the host side wins (or the time is up) the rump poll must end too: the
 * protocol has no cancel, so -- the self-pipe trick inside the stack -- the
 * poll always includes a "wake" UDP socket bound to 127.0.0.1 on the
 * stack's lo0, and one datagram to it from itself ends the poll at once.
 * A wake-up that finds nothing ready anywhere polls again (a stale datagram
 * from an earlier cancel is drained first), so readiness is never invented.
 * rumphijack does the same with a host pipe and a helper thread; here no
 * thread is needed because the server's reply arrives on a descriptor too.
 */
#define _GNU_SOURCE
#include "rn.h"

#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#define REAL(name)                                                      \
  static __typeof__(name) *real_##name;                                 \
  if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static int wake_sfd = -1;
static unsigned wake_gen;
static int wake_tried; /* made (or failed, then mixed polls slice) for connection wake_gen */
static struct sockaddr_in wake_addr;

void rn_poll_reset(void) {
  pthread_mutex_init(&wmu, NULL);
  wake_sfd = -1;
  wake_tried = 0;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int simple(struct rn_req *r, int64_t *fd_out, msgpack_object **keep, struct rn_pending *p) {
  msgpack_object *res;
  int e = rn_call(r, NULL, 0, p, &res);
  if (!e && fd_out && rn_obj_int(rn_map_get(res, "fd"), fd_out)) e = -EPROTO;
  if (keep) *keep = res;
  return e;
}

/** The wake socket's server descriptor (made on first use per connection), or -1. */
static int wake_socket(void) {
  pthread_mutex_lock(&wmu);
  if (wake_tried && wake_gen == rn_gen) return pthread_mutex_unlock(&wmu), wake_sfd;
  struct rn_req r;
  struct rn_pending p;
  int64_t fd = -1;
  rn_req_begin(&r, "socket", 3);
  rn_pk_key(&r, "domain"), rn_pk_str(&r, "inet");
  rn_pk_key(&r, "type"), rn_pk_str(&r, "dgram");
  rn_pk_key(&r, "nonblock"), rn_pk_bool(&r, 1);
  int e = simple(&r, &fd, NULL, &p);
  rn_release(&p);
  if (!e) {
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rn_req_begin(&r, "bind", 2);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, fd);
    rn_pk_key(&r, "addr"), rn_pk_sockaddr(&r, (struct sockaddr *)&sin, sizeof sin);
    e = simple(&r, NULL, NULL, &p);
    rn_release(&p);
  }
  if (!e) {
    msgpack_object *res;
    rn_req_begin(&r, "getsockname", 1);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, fd);
    e = simple(&r, NULL, &res, &p);
    socklen_t l = sizeof wake_addr;
    if (!e && rn_sockaddr_out(rn_map_get(res, "addr"), (struct sockaddr *)&wake_addr, &l) < 0) e = -EPROTO;
    rn_release(&p);
  }
  if (e) {
    rn_warn("no wake socket on the stack's 127.0.0.1 (%s): mixed polls wait in 20 ms slices", strerror(-e));
    fd = -1;
  }
  wake_sfd = (int)fd;
  wake_gen = rn_gen;
  wake_tried = 1;
  pthread_mutex_unlock(&wmu);
  return wake_sfd;
}

/** Ends a rump poll in flight: one datagram from the wake socket to itself. */
static void wake_poll(int w) {
  static char one = 1;
  struct iovec v = {&one, 1};
  struct rn_req r;
  struct rn_pending p;
  rn_req_begin(&r, "sendto", 5);
  rn_pk_key(&r, "fd"), rn_pk_int(&r, w);
  rn_pk_handle(&r, "buf");
  rn_pk_key(&r, "len"), rn_pk_int(&r, 1);
  rn_pk_key(&r, "flags"), rn_pk_int(&r, MSG_DONTWAIT);
  rn_pk_key(&r, "addr"), rn_pk_sockaddr(&r, (struct sockaddr *)&wake_addr, sizeof wake_addr);
  rn_call(&r, &v, 1, &p, NULL);
  rn_release(&p);
}

/** Reads the wake socket empty (bounded). */
static void drain(int w) {
  char b[8];
  for (int i = 0; i < 16; i++) {
    struct iovec v = {b, sizeof b};
    struct rn_req r;
    struct rn_pending p;
    rn_req_begin(&r, "recvfrom", 4);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, w);
    rn_pk_handle(&r, "buf");
    rn_pk_key(&r, "len"), rn_pk_int(&r, sizeof b);
    rn_pk_key(&r, "flags"), rn_pk_int(&r, MSG_DONTWAIT);
    int e = rn_call(&r, &v, 1, &p, NULL);
    rn_release(&p);
    if (e) return;
  }
}

/* events the stack knows (Linux values); RDNORM/WRNORM are spelled as IN/OUT */
static short to_wire(short ev) {
  short w = ev & (POLLIN | POLLPRI | POLLOUT);
  if (ev & POLLRDNORM) w |= POLLIN;
  if (ev & POLLWRNORM) w |= POLLOUT;
  return w;
}
static short from_wire(short asked, short rev) {
  short r = rev & (asked | POLLERR | POLLHUP | POLLNVAL);
  if ((asked & POLLRDNORM) && (rev & POLLIN)) r |= POLLRDNORM;
  if ((asked & POLLWRNORM) && (rev & POLLOUT)) r |= POLLWRNORM;
  return r;
}

/** Starts a server poll of the rump entries (plus the wake socket w when >= 0). */
static int start_rump_poll(struct pollfd *fds, const nfds_t *ri, const int *sfd, nfds_t nr, int w, int timeout, struct rn_pending *p) {
  struct rn_req r;
  rn_req_begin(&r, "poll", 2);
  rn_pk_key(&r, "fds");
  msgpack_pack_array(&r.pk, nr + (w >= 0));
  for (nfds_t i = 0; i < nr; i++) {
    msgpack_pack_map(&r.pk, 2);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, sfd[i]);
    rn_pk_key(&r, "events"), rn_pk_int(&r, to_wire(fds[ri[i]].events));
  }
  if (w >= 0) {
    msgpack_pack_map(&r.pk, 2);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, w);
    rn_pk_key(&r, "events"), rn_pk_int(&r, POLLIN);
  }
  rn_pk_key(&r, "timeout"), rn_pk_int(&r, timeout);
  return rn_start(&r, NULL, 0, p);
}

/** Copies a finished rump poll's revents back; returns how many rump entries are ready, sets *woken if w was. */
static int rump_results(struct rn_pending *p, struct pollfd *fds, const nfds_t *ri, nfds_t nr, int *woken) {
  msgpack_object *res;
  int e = rn_result(p, &res);
  if (e) {
    /* the server went away under the poll: every rump entry reports the hang-up */
    for (nfds_t i = 0; i < nr; i++) fds[ri[i]].revents = POLLERR | POLLHUP;
    return (int)nr;
  }
  msgpack_object *a = rn_map_get(res, "fds");
  int ready = 0;
  for (nfds_t i = 0; a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++) {
    int64_t rev = 0;
    rn_obj_int(rn_map_get(&a->via.array.ptr[i], "revents"), &rev);
    if (i < nr) {
      fds[ri[i]].revents = from_wire(fds[ri[i]].events, (short)rev);
      ready += fds[ri[i]].revents != 0;
    } else if (rev) {
      *woken = 1;
    }
  }
  return ready;
}

int rn_poll_mixed(struct pollfd *fds, nfds_t n, int timeout) {
  nfds_t nh = 0, nr = 0;
  nfds_t *hi = malloc((n ? n : 1) * sizeof *hi), *ri = malloc((n ? n : 1) * sizeof *ri);
  struct pollfd *host = malloc((n ? n : 1) * sizeof *host);
  int *sfd = malloc((n ? n : 1) * sizeof *sfd); /* the server's numbers, taken once: another thread may close meanwhile */
  int ready = 0, ret = -1;
  if (!hi || !ri || !host || !sfd) {
    errno = ENOMEM;
    goto out;
  }
  for (nfds_t i = 0; i < n; i++) {
    fds[i].revents = 0;
    struct rn_sock *s = rn_sock_of(fds[i].fd);
    if (!s) {
      if (fds[i].fd >= 0) host[nh] = fds[i], hi[nh++] = i;
      continue;
    }
    int live = rn_sock_live(s);
    if (live) fds[i].revents = live == -EBADF ? POLLNVAL : POLLERR | POLLHUP, ready++;
    else sfd[nr] = s->sfd, ri[nr++] = i;
  }
  int64_t deadline = timeout < 0 ? -1 : now_ms() + timeout;
  if (ready) timeout = 0, deadline = now_ms();
  for (int round = 0;; round++) {
    int left = deadline < 0 ? -1 : (int)(deadline - now_ms());
    if (deadline >= 0 && left < 0) left = 0;
    int hready = 0, rready = 0, woken = 0;
    struct rn_pending p;
    if (nr == 0) {
      REAL(poll);
      int r = real_poll(host, nh, ready ? 0 : left);
      if (r < 0) goto out;
      hready = r;
    } else if (nh == 0) {
      if (start_rump_poll(fds, ri, sfd, nr, -1, left, &p) == 0) rn_wait(&p, NULL, 0, -1);
      rready = rump_results(&p, fds, ri, nr, &woken);
      rn_release(&p);
    } else {
      int w = wake_socket();
      /* without a wake socket: slices of at most 20 ms on the server, host polled in between */
      int slice = w < 0 && (left < 0 || left > 20) ? 20 : left;
      if (start_rump_poll(fds, ri, sfd, nr, w, slice, &p) == 0) {
        if (rn_wait(&p, host, nh, slice) == 1) {
          if (w >= 0) wake_poll(w);
          rn_wait(&p, NULL, 0, -1);
        }
      }
      rready = rump_results(&p, fds, ri, nr, &woken);
      rn_release(&p);
      if (woken) drain(w);
      /* the host side as it is now (the rump reply may have ended the wait first) */
      REAL(poll);
      int r = real_poll(host, nh, 0);
      if (r < 0) goto out;
      hready = r;
    }
    for (nfds_t i = 0; i < nh; i++) fds[hi[i]].revents = host[i].revents;
    int total = ready + hready + rready;
    if (total > 0 || (deadline >= 0 && now_ms() >= deadline) || round > 1000000) {
      ret = total;
      break;
    }
  }
out:
  free(hi);
  free(ri);
  free(host);
  free(sfd);
  return ret;
}

static int has_rump(const struct pollfd *fds, nfds_t n) {
  for (nfds_t i = 0; i < n; i++)
    if (rn_sock_of(fds[i].fd)) return 1;
  return 0;
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
  if (!has_rump(fds, n)) {
    REAL(poll);
    return real_poll(fds, n, timeout);
  }
  return rn_poll_mixed(fds, n, timeout);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof *fds < n) abort();
  return poll(fds, n, timeout);
}

static int ts_ms(const struct timespec *ts) {
  if (!ts) return -1;
  long long ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask) {
  if (!has_rump(fds, n)) {
    REAL(ppoll);
    return real_ppoll(fds, n, ts, mask);
  }
  sigset_t old;
  if (mask) pthread_sigmask(SIG_SETMASK, mask, &old);
  int r = rn_poll_mixed(fds, n, ts_ms(ts));
  int e = errno;
  if (mask) pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = e;
  return r;
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask, size_t fdslen) {
  if (fdslen / sizeof *fds < n) abort();
  return ppoll(fds, n, ts, mask);
}

/** select(2) as poll(2): returns the count of bits set, as select does. */
static int select_mixed(int nfds, fd_set *r, fd_set *w, fd_set *x, int timeout) {
  if (nfds < 0 || nfds > FD_SETSIZE) {
    errno = EINVAL;
    return -1;
  }
  struct pollfd *pf = malloc((size_t)(nfds ? nfds : 1) * sizeof *pf);
  if (!pf) {
    errno = ENOMEM;
    return -1;
  }
  nfds_t n = 0;
  for (int fd = 0; fd < nfds; fd++) {
    short ev = (r && FD_ISSET(fd, r) ? POLLIN : 0) | (w && FD_ISSET(fd, w) ? POLLOUT : 0) | (x && FD_ISSET(fd, x) ? POLLPRI : 0);
    if (ev) pf[n++] = (struct pollfd){fd, ev, 0};
  }
  int res = rn_poll_mixed(pf, n, timeout);
  if (res < 0) {
    free(pf);
    return -1;
  }
  for (nfds_t i = 0; i < n; i++)
    if (pf[i].revents & POLLNVAL) {
      free(pf);
      errno = EBADF;
      return -1;
    }
  if (r) FD_ZERO(r);
  if (w) FD_ZERO(w);
  if (x) FD_ZERO(x);
  int bits = 0;
  for (nfds_t i = 0; i < n; i++) {
    short rev = pf[i].revents;
    /* select reports errors and hang-ups as readable/writable: the next call tells the error */
    if ((pf[i].events & POLLIN) && (rev & (POLLIN | POLLHUP | POLLERR))) FD_SET(pf[i].fd, r), bits++;
    if ((pf[i].events & POLLOUT) && (rev & (POLLOUT | POLLERR))) FD_SET(pf[i].fd, w), bits++;
    if ((pf[i].events & POLLPRI) && (rev & POLLPRI)) FD_SET(pf[i].fd, x), bits++;
  }
  free(pf);
  return bits;
}

static int sets_have_rump(int nfds, fd_set *r, fd_set *w, fd_set *x) {
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
    if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (x && FD_ISSET(fd, x))) && rn_sock_of(fd)) return 1;
  return 0;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv) {
  if (!sets_have_rump(nfds, r, w, x)) {
    REAL(select);
    return real_select(nfds, r, w, x, tv);
  }
  int ms = -1;
  if (tv) {
    long long t = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
    ms = t > 0x7fffffff ? 0x7fffffff : (int)t;
  }
  return select_mixed(nfds, r, w, x, ms);
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts, const sigset_t *mask) {
  if (!sets_have_rump(nfds, r, w, x)) {
    REAL(pselect);
    return real_pselect(nfds, r, w, x, ts, mask);
  }
  sigset_t old;
  if (mask) pthread_sigmask(SIG_SETMASK, mask, &old);
  int res = select_mixed(nfds, r, w, x, ts_ms(ts));
  int e = errno;
  if (mask) pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = e;
  return res;
}
