/*
 * rumpnet-hijack: epoll with rump descriptors in the set.
 *
 * The kernel cannot watch a rump socket (its number is a /dev/null
 * placeholder, which epoll refuses), so the interest list of rump
 * descriptors is kept here, per epoll descriptor, and epoll_wait becomes a
 * mixed poll (poll.c) of the epoll descriptor itself -- readable when the
 * kernel has host events -- plus those rump sockets. Host descriptors stay
 * in the kernel's set, untouched. Rump entries are level-triggered:
 * EPOLLET is accepted and reported like level (a program written for
 * edge-triggered reads until EAGAIN, so it sees the same data, at most with
 * one more wake-up); EPOLLONESHOT disables the entry after one report, as
 * the kernel does, until EPOLL_CTL_MOD.
 */
#define _GNU_SOURCE
#include "rn.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define REAL(name)                                                      \
  static __typeof__(name) *real_##name;                                 \
  if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define EP_TABSZ 4096

struct epi {
  int fd;
  uint32_t events; /* 0 while a one-shot entry is disabled */
  uint32_t asked;
  epoll_data_t data;
};
struct ep {
  struct epi *v;
  int n, cap;
};
static struct ep *eps[EP_TABSZ];
static int neps;
static pthread_mutex_t emu = PTHREAD_MUTEX_INITIALIZER;

static struct epi *find(struct ep *e, int fd) {
  for (int i = 0; e && i < e->n; i++)
    if (e->v[i].fd == fd) return &e->v[i];
  return NULL;
}

static void forget(struct ep *e, int fd) {
  for (int i = 0; e && i < e->n; i++)
    if (e->v[i].fd == fd) {
      e->v[i] = e->v[--e->n];
      return;
    }
}

/** close() of fd: a rump descriptor leaves every interest list (as the kernel's close does); an epoll descriptor's list goes. */
void rn_epoll_closed(int fd) {
  if (!__atomic_load_n(&neps, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&emu);
  if (fd >= 0 && fd < EP_TABSZ && eps[fd]) {
    free(eps[fd]->v);
    free(eps[fd]);
    eps[fd] = NULL;
    neps--;
  }
  for (int i = 0; i < EP_TABSZ && neps; i++) forget(eps[i], fd);
  pthread_mutex_unlock(&emu);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  if (!rn_sock_of(fd)) {
    REAL(epoll_ctl);
    return real_epoll_ctl(epfd, op, fd, ev);
  }
  if (epfd < 0 || epfd >= EP_TABSZ || rn_sock_of(epfd)) return errno = EINVAL, -1;
  if (epfd == fd) return errno = EINVAL, -1;
  if (op != EPOLL_CTL_DEL && !ev) return errno = EFAULT, -1;
  pthread_mutex_lock(&emu);
  struct ep *e = eps[epfd];
  struct epi *it = find(e, fd);
  int err = 0;
  if (op == EPOLL_CTL_ADD) {
    if (it) err = EEXIST;
    else {
      if (!e && (e = eps[epfd] = calloc(1, sizeof *e))) __atomic_add_fetch(&neps, 1, __ATOMIC_RELEASE);
      if (e && e->n == e->cap) {
        struct epi *nv = realloc(e->v, (size_t)(e->cap ? e->cap * 2 : 8) * sizeof *nv);
        if (nv) e->v = nv, e->cap = e->cap ? e->cap * 2 : 8;
      }
      if (!e || e->n == e->cap) err = ENOMEM;
      else e->v[e->n++] = (struct epi){fd, ev->events, ev->events, ev->data};
    }
  } else if (op == EPOLL_CTL_MOD) {
    if (!it) err = ENOENT;
    else it->events = it->asked = ev->events, it->data = ev->data;
  } else if (op == EPOLL_CTL_DEL) {
    if (!it) err = ENOENT;
    else forget(e, fd);
  } else {
    err = EINVAL;
  }
  pthread_mutex_unlock(&emu);
  return err ? (errno = err, -1) : 0;
}

static short to_poll(uint32_t ev) {
  return (short)(((ev & EPOLLIN) ? POLLIN : 0) | ((ev & EPOLLOUT) ? POLLOUT : 0) | ((ev & EPOLLPRI) ? POLLPRI : 0));
}
static uint32_t from_poll(short rev, uint32_t asked) {
  uint32_t ev = ((rev & POLLIN) ? EPOLLIN : 0) | ((rev & POLLOUT) ? EPOLLOUT : 0) | ((rev & POLLPRI) ? EPOLLPRI : 0);
  ev &= asked;
  if (rev & POLLERR) ev |= EPOLLERR;
  if (rev & POLLHUP) ev |= EPOLLHUP | (asked & EPOLLRDHUP);
  return ev;
}

int epoll_wait(int epfd, struct epoll_event *out, int max, int timeout) {
  REAL(epoll_wait);
  if (!__atomic_load_n(&neps, __ATOMIC_ACQUIRE) || epfd < 0 || epfd >= EP_TABSZ) return real_epoll_wait(epfd, out, max, timeout);
  pthread_mutex_lock(&emu);
  struct ep *e = eps[epfd];
  int n = e ? e->n : 0;
  struct pollfd *pf = n ? malloc((size_t)(n + 1) * sizeof *pf) : NULL;
  struct epi *snap = n ? malloc((size_t)n * sizeof *snap) : NULL;
  int k = 0;
  if (pf && snap) {
    pf[0] = (struct pollfd){epfd, POLLIN, 0};
    for (int i = 0; i < n; i++)
      if (e->v[i].events) snap[k] = e->v[i], pf[k + 1] = (struct pollfd){e->v[i].fd, to_poll(e->v[i].events), 0}, k++;
  }
  pthread_mutex_unlock(&emu);
  if (!n || !pf || !snap) {
    free(pf);
    free(snap);
    if (n) return errno = ENOMEM, -1;
    return real_epoll_wait(epfd, out, max, timeout);
  }
  if (max <= 0) return free(pf), free(snap), errno = EINVAL, -1;
  int r = rn_poll_mixed(pf, (nfds_t)k + 1, timeout);
  int got = 0;
  if (r > 0) {
    pthread_mutex_lock(&emu);
    for (int i = 0; i < k && got < max; i++) {
      if (!pf[i + 1].revents) continue;
      struct epi *it = find(eps[epfd], snap[i].fd);
      if (!it || !it->events) continue; /* removed or disabled meanwhile */
      out[got].events = from_poll(pf[i + 1].revents, it->events);
      out[got].data = it->data;
      got++;
      if (it->events & EPOLLONESHOT) it->events = 0;
    }
    pthread_mutex_unlock(&emu);
    if (pf[0].revents && got < max) {
      int h = real_epoll_wait(epfd, out + got, max - got, 0);
      if (h > 0) got += h;
    }
  }
  int err = errno;
  free(pf);
  free(snap);
  if (r < 0) return errno = err, -1;
  return got;
}

int epoll_pwait(int epfd, struct epoll_event *out, int max, int timeout, const sigset_t *mask) {
  if (!__atomic_load_n(&neps, __ATOMIC_ACQUIRE) || epfd < 0 || epfd >= EP_TABSZ || !eps[epfd]) {
    REAL(epoll_pwait);
    return real_epoll_pwait(epfd, out, max, timeout, mask);
  }
  sigset_t old;
  if (mask) pthread_sigmask(SIG_SETMASK, mask, &old);
  int r = epoll_wait(epfd, out, max, timeout);
  int e = errno;
  if (mask) pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = e;
  return r;
}
