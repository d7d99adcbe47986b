/*
 * rumpnet-hijack: the data calls -- read/write/readv/writev, send/sendto/
 * sendmsg, recv/recvfrom/recvmsg and glibc's _FORTIFY_SOURCE variants.
 *
 * A send registers the caller's iovecs as the call's buffer; the server
 * COPYINs from them (several clusters per request when MCLNUM > 1), nothing
 * is copied here. A receive lets the server COPYOUT straight into them.
 * Blocking is emulated (see hijack.c): the server call is always
 * non-blocking, and EAGAIN on a blocking socket waits in a server poll.
 */
#define _GNU_SOURCE
#include "rn.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define REAL(name)                                                      \
  static __typeof__(name) *real_##name;                                 \
  if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* Flags the stack takes (PROTOCOL.md section 9); others (MSG_MORE, MSG_CONFIRM, ...) are hints it has no use for. */
#define SEND_FLAGS (MSG_OOB | MSG_DONTROUTE | MSG_DONTWAIT)
#define RECV_FLAGS (MSG_OOB | MSG_PEEK | MSG_DONTWAIT)

/** A working copy of an iovec list that can skip its first `off` bytes. */
struct cursor {
  struct iovec small[8], *v;
  int cnt;
  size_t total;
};

static int cursor_init(struct cursor *c, const struct iovec *iov, int cnt) {
  if (cnt < 0 || cnt > 1024) return -EINVAL;
  c->v = cnt <= 8 ? c->small : malloc((size_t)cnt * sizeof *c->v);
  if (!c->v) return -ENOMEM;
  memcpy(c->v, iov, (size_t)cnt * sizeof *c->v);
  c->cnt = cnt;
  c->total = 0;
  for (int i = 0; i < cnt; i++) c->total += iov[i].iov_len;
  return 0;
}

static void cursor_skip(struct cursor *c, size_t n) {
  struct iovec *v = c->v;
  while (c->cnt > 0 && n >= v->iov_len) n -= v->iov_len, v++, c->cnt--;
  if (c->cnt > 0) v->iov_base = (char *)v->iov_base + n, v->iov_len -= n;
  memmove(c->v, v, (size_t)c->cnt * sizeof *v);
}

static void cursor_free(struct cursor *c) {
  if (c->v != c->small) free(c->v);
}

/** One sendto call over the cursor's bytes: bytes taken, or -errno. */
static ssize_t send_once(struct rn_sock *s, struct cursor *c, size_t len, int flags, const struct sockaddr *a, socklen_t al) {
  struct rn_req r;
  struct rn_pending p;
  msgpack_object *res;
  rn_req_begin(&r, "sendto", a ? 5 : 4);
  rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
  rn_pk_handle(&r, "buf");
  rn_pk_key(&r, "len"), rn_pk_int(&r, (int64_t)len);
  rn_pk_key(&r, "flags"), rn_pk_int(&r, flags);
  if (a) {
    rn_pk_key(&r, "addr");
    int e = rn_pk_sockaddr(&r, a, al);
    if (e) {
      msgpack_sbuffer_destroy(&r.sb);
      return e;
    }
  }
  int e = rn_call(&r, c->v, c->cnt, &p, &res);
  int64_t n = 0;
  if (!e && rn_obj_int(rn_map_get(res, "bytes"), &n)) e = -EPROTO;
  rn_release(&p);
  return e ? e : (ssize_t)n;
}

static ssize_t rump_send(struct rn_sock *s, const struct iovec *iov, int cnt, int flags, const struct sockaddr *a, socklen_t al) {
  int e = rn_sock_live(s);
  if (e) return e;
  struct cursor c;
  if ((e = cursor_init(&c, iov, cnt))) return e;
  int nb = s->nonblock || (flags & MSG_DONTWAIT);
  int wflags = (flags & SEND_FLAGS) | MSG_DONTWAIT;
  size_t len = c.total, done = 0;
  ssize_t ret;
  if (len > 0x7fffffff) len = 0x7fffffff;
  for (;;) {
    ssize_t n = send_once(s, &c, len - done, wflags, a, al);
    if (n >= 0) {
      done += (size_t)n;
      cursor_skip(&c, (size_t)n);
      /* a blocking stream send takes everything (sosend's loop) */
      if (s->type == SOCK_STREAM && !nb && done < len) continue;
      ret = (ssize_t)done;
      break;
    }
    if (n == -EAGAIN && !nb) {
      int rev = rn_poll1(s, POLLOUT, s->sndtimeo_ms ? s->sndtimeo_ms : -1);
      if (rev > 0) continue;
      n = rev < 0 ? rev : -EAGAIN;
    }
    if (done > 0) {
      ret = (ssize_t)done;
      break;
    }
    if (n == -EPIPE && !(flags & MSG_NOSIGNAL)) raise(SIGPIPE);
    ret = n;
    break;
  }
  cursor_free(&c);
  return ret;
}

/** One recvfrom call into the cursor; bytes, or -errno. Fills a, al and oflags from the reply. */
static ssize_t recv_once(struct rn_sock *s, struct cursor *c, size_t len, int flags, struct sockaddr *a, socklen_t *al, int *oflags) {
  struct rn_req r;
  struct rn_pending p;
  msgpack_object *res;
  rn_req_begin(&r, "recvfrom", 4);
  rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
  rn_pk_handle(&r, "buf");
  rn_pk_key(&r, "len"), rn_pk_int(&r, (int64_t)len);
  rn_pk_key(&r, "flags"), rn_pk_int(&r, flags);
  int e = rn_call(&r, c->v, c->cnt, &p, &res);
  int64_t n = 0, f = 0;
  if (!e && rn_obj_int(rn_map_get(res, "bytes"), &n)) e = -EPROTO;
  if (!e) {
    msgpack_object *addr = rn_map_get(res, "addr");
    if (a && al && addr) rn_sockaddr_out(addr, a, al);
    else if (al && !addr) *al = 0;
    rn_obj_int(rn_map_get(res, "flags"), &f);
    if (oflags) *oflags = (int)f;
  }
  rn_release(&p);
  return e ? e : (ssize_t)n;
}

static ssize_t rump_recv(struct rn_sock *s, const struct iovec *iov, int cnt, int flags, struct sockaddr *a, socklen_t *al, int *oflags) {
  int e = rn_sock_live(s);
  if (e) return e;
  struct cursor c;
  if ((e = cursor_init(&c, iov, cnt))) return e;
  int nb = s->nonblock || (flags & MSG_DONTWAIT);
  int waitall = (flags & MSG_WAITALL) && s->type == SOCK_STREAM && !(flags & MSG_PEEK);
  int rflags = (flags & RECV_FLAGS) | MSG_DONTWAIT;
  size_t len = c.total, done = 0;
  ssize_t ret;
  if (len > 0x7fffffff) len = 0x7fffffff;
  if (oflags) *oflags = 0;
  for (;;) {
    ssize_t n = recv_once(s, &c, len - done, rflags, a, al, oflags);
    if (n > 0) {
      done += (size_t)n;
      cursor_skip(&c, (size_t)n);
      if (waitall && !nb && done < len) continue;
      ret = (ssize_t)done;
      break;
    }
    if (n == 0) {
      ret = (ssize_t)done;
      break;
    }
    if (n == -EAGAIN && !nb) {
      int rev = rn_poll1(s, POLLIN, s->rcvtimeo_ms ? s->rcvtimeo_ms : -1);
      if (rev > 0) continue;
      n = rev < 0 ? rev : -EAGAIN;
    }
    ret = done > 0 ? (ssize_t)done : n;
    break;
  }
  cursor_free(&c);
  return ret;
}

static ssize_t out(ssize_t n) {
  if (n < 0) {
    errno = (int)-n;
    return -1;
  }
  return n;
}

/* ----- the interposed calls ----- */

ssize_t read(int fd, void *buf, size_t n) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    if (!rn_libc.read) rn_libc_init();
    return rn_libc.read(fd, buf, n);
  }
  struct iovec v = {buf, n};
  return out(rump_recv(s, &v, 1, 0, NULL, NULL, NULL));
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  if (n > buflen) abort(); /* what glibc's __chk_fail does */
  return read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    if (!rn_libc.read) rn_libc_init();
    return rn_libc.write(fd, buf, n);
  }
  struct iovec v = {(void *)buf, n};
  return out(rump_send(s, &v, 1, 0, NULL, 0));
}

ssize_t readv(int fd, const struct iovec *iov, int cnt) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    rn_libc_init();
    return rn_libc.readv(fd, iov, cnt);
  }
  return out(rump_recv(s, iov, cnt, 0, NULL, NULL, NULL));
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    rn_libc_init();
    return rn_libc.writev(fd, iov, cnt);
  }
  return out(rump_send(s, iov, cnt, 0, NULL, 0));
}

ssize_t send(int fd, const void *buf, size_t n, int flags) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(send);
    return real_send(fd, buf, n, flags);
  }
  struct iovec v = {(void *)buf, n};
  return out(rump_send(s, &v, 1, flags, NULL, 0));
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a, socklen_t al) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(sendto);
    return real_sendto(fd, buf, n, flags, a, al);
  }
  struct iovec v = {(void *)buf, n};
  return out(rump_send(s, &v, 1, flags, a, al));
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(sendmsg);
    return real_sendmsg(fd, m, flags);
  }
  if (!m) return out(-EFAULT);
  /* ancillary data has no wire form in protocol version 1: it is ignored */
  return out(rump_send(s, m->msg_iov, (int)m->msg_iovlen, flags, m->msg_name, m->msg_namelen));
}

ssize_t recv(int fd, void *buf, size_t n, int flags) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(recv);
    return real_recv(fd, buf, n, flags);
  }
  struct iovec v = {buf, n};
  return out(rump_recv(s, &v, 1, flags, NULL, NULL, NULL));
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) abort();
  return recv(fd, buf, n, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *al) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(recvfrom);
    return real_recvfrom(fd, buf, n, flags, a, al);
  }
  struct iovec v = {buf, n};
  return out(rump_recv(s, &v, 1, flags, a, al, NULL));
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *a, socklen_t *al) {
  if (n > buflen) abort();
  return recvfrom(fd, buf, n, flags, a, al);
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(recvmsg);
    return real_recvmsg(fd, m, flags);
  }
  if (!m) return out(-EFAULT);
  int of = 0;
  socklen_t al = m->msg_namelen;
  ssize_t n = rump_recv(s, m->msg_iov, (int)m->msg_iovlen, flags, m->msg_name, m->msg_name ? &al : NULL, &of);
  if (n >= 0) {
    if (m->msg_name) m->msg_namelen = al;
    m->msg_controllen = 0;
    m->msg_flags = of;
  }
  return out(n);
}
