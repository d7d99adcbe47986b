/*
 * rumpnet-hijack: the descriptor table and the interposed socket calls
 * (NetBSD's librumphijack, hijack.c, for rumpnet's protocol).
 *
 * Descriptors. A rump socket gets a host descriptor number from a reserved
 * range [base, base+RN_RANGE) near the top of what select() can take
 * (FD_SETSIZE 1024): the number is a duplicate of a /dev/null placeholder,
 * so the kernel never hands it out for a host file, and a call that reaches
 * the kernel by a path not interposed here acts on /dev/null instead of
 * on some unrelated file. The table maps the number to the rump socket
 * (the server's descriptor). dup/dup2/dup3/F_DUPFD share one rump socket
 * (one open file description: O_NONBLOCK is shared, FD_CLOEXEC is not).
 *
 * Blocking. Every server-side socket is non-blocking (socket is created
 * with nonblock, accept is one-shot non-blocking, send/recv carry
 * MSG_DONTWAIT); a blocking call is emulated here as "try, then poll the
 * server for that one socket, then retry", so O_NONBLOCK can change at any
 * time (fcntl, FIONBIO) without a protocol call, connect can return
 * EINPROGRESS, and SO_RCVTIMEO/SO_SNDTIMEO become the poll's timeout.
 */
#define _GNU_SOURCE
#include "rn.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

#define RN_TABSZ 4096 /* descriptors above this are never rump ones */
#define RN_RANGE 256

#define REAL(name)                                                      \
  static __typeof__(name) *real_##name;                                 \
  if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static struct rn_sock *tab[RN_TABSZ];
static unsigned char cloexec[RN_TABSZ];
static pthread_mutex_t tmu = PTHREAD_MUTEX_INITIALIZER;
static int base = -1, placeholder = -1;
/*
 * Which sockets go to the stack: RUMPHIJACK, a comma list of family[:type]
 * (inet, inet6, none; stream|tcp, dgram|udp). Default "inet,inet6": the
 * stack is dual-stack, so an AF_INET6 socket is the stack's too -- its
 * addresses travel as sockaddr_in6 <-> {family: 'inet6', ...}, IPV6_V6ONLY
 * goes through as the stack's option (an unbound AF_INET6 socket takes
 * IPv4 peers as ::ffff:a.b.c.d, as Linux's bindv6only 0). "inet" alone
 * leaves AF_INET6 on the host's stack.
 */
static int want_inet_stream = 1, want_inet_dgram = 1, want_inet6_stream = 1, want_inet6_dgram = 1;

static void config(void) {
  const char *h = getenv("RUMPHIJACK");
  if (h && *h) {
    want_inet_stream = want_inet_dgram = want_inet6_stream = want_inet6_dgram = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", h);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *colon = strchr(t, ':');
      const char *type = colon ? colon + 1 : "";
      if (colon) *colon = 0;
      int st = !*type || !strcmp(type, "stream") || !strcmp(type, "tcp");
      int dg = !*type || !strcmp(type, "dgram") || !strcmp(type, "udp");
      if (!st && !dg) rn_warn("RUMPHIJACK: unknown type '%s' (stream|dgram)", type);
      if (!strcmp(t, "inet")) want_inet_stream |= st, want_inet_dgram |= dg;
      else if (!strcmp(t, "inet6")) want_inet6_stream |= st, want_inet6_dgram |= dg;
      else if (strcmp(t, "none")) rn_warn("RUMPHIJACK: unknown family '%s' (inet|inet6|none)", t);
    }
  }
  struct rlimit rl;
  int top = 1024; /* FD_SETSIZE: select() must reach every rump descriptor */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top) top = (int)rl.rlim_cur;
  const char *b = getenv("RUMPHIJACK_FDBASE");
  base = b && *b ? atoi(b) : top - RN_RANGE;
  if (base < 3 || base + 1 >= RN_TABSZ) base = top / 2 > 3 ? top / 2 : 3;
}

__attribute__((constructor)) static void hijack_init(void) {
  rn_libc_init();
  config();
}

/** A new number in the reserved range, occupied by a placeholder; -1 (EMFILE) when the range is full. */
static int alloc_fd(int min) {
  if (placeholder < 0) {
    REAL(open);
    int p = real_open("/dev/null", O_RDWR | O_CLOEXEC);
    if (p < 0) return -1;
    placeholder = rn_libc.fcntl(p, F_DUPFD_CLOEXEC, base + RN_RANGE - 1 < RN_TABSZ ? base : 3);
    rn_libc.close(p);
    if (placeholder < 0) return -1;
  }
  int n = rn_libc.fcntl(placeholder, F_DUPFD_CLOEXEC, min > base ? min : base);
  if (n < 0) return -1;
  if (n >= RN_TABSZ || (min <= base && n >= base + RN_RANGE)) {
    rn_libc.close(n);
    errno = EMFILE;
    return -1;
  }
  return n;
}

int rn_fd_place(int fd) {
  int n = rn_libc.fcntl(fd, F_DUPFD_CLOEXEC, base > 0 ? base : 3);
  if (n < 0) return fd;
  rn_libc.close(fd);
  return n;
}

struct rn_sock *rn_sock_of(int fd) {
  if (fd < 0 || fd >= RN_TABSZ) return NULL;
  return __atomic_load_n(&tab[fd], __ATOMIC_ACQUIRE);
}

int rn_sock_live(struct rn_sock *s) {
  if (s->gen <= rn_forked_gen) {
    static int told;
    if (!told++) rn_warn("a rump socket of the parent process is not usable after fork (EBADF); the child opens its own session");
    return -EBADF;
  }
  return s->gen == rn_gen ? 0 : -ECONNRESET;
}

static int fail(int e) {
  errno = -e;
  return -1;
}

/* ----- small calls ----- */

static int call_simple(struct rn_req *r, msgpack_object **res, struct rn_pending *p) {
  int e = rn_call(r, NULL, 0, p, res);
  return e;
}

static int call_void(struct rn_req *r) {
  struct rn_pending p;
  int e = call_simple(r, NULL, &p);
  rn_release(&p);
  return e;
}

int rn_poll1(struct rn_sock *s, short events, int timeout_ms) {
  struct rn_req r;
  struct rn_pending p;
  msgpack_object *res;
  rn_req_begin(&r, "poll", 2);
  rn_pk_key(&r, "fds");
  msgpack_pack_array(&r.pk, 1);
  msgpack_pack_map(&r.pk, 2);
  rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
  rn_pk_key(&r, "events"), rn_pk_int(&r, events);
  rn_pk_key(&r, "timeout"), rn_pk_int(&r, timeout_ms);
  int e = call_simple(&r, &res, &p);
  if (e == 0) {
    msgpack_object *fds = rn_map_get(res, "fds");
    int64_t rev = 0;
    if (fds && fds->type == MSGPACK_OBJECT_ARRAY && fds->via.array.size == 1) rn_obj_int(rn_map_get(&fds->via.array.ptr[0], "revents"), &rev);
    e = (int)rev;
  }
  rn_release(&p);
  return e;
}

static int sock_or(int fd, struct rn_sock **sp) {
  struct rn_sock *s = rn_sock_of(fd);
  *sp = s;
  if (!s) return 1;
  return rn_sock_live(s);
}

/* ----- socket(2) ----- */

static int hijacked(int domain, int type, int proto) {
  if (type == SOCK_STREAM && proto != 0 && proto != IPPROTO_TCP) return 0;
  if (type == SOCK_DGRAM && proto != 0 && proto != IPPROTO_UDP) return 0;
  if (domain == AF_INET) return type == SOCK_STREAM ? want_inet_stream : type == SOCK_DGRAM ? want_inet_dgram : 0;
  if (domain == AF_INET6) return type == SOCK_STREAM ? want_inet6_stream : type == SOCK_DGRAM ? want_inet6_dgram : 0;
  return 0;
}

static int install(int sfd, int domain, int type, int nonblock, int cloexec_flag, int min) {
  struct rn_sock *s = calloc(1, sizeof *s);
  int n = s ? alloc_fd(min) : -1;
  if (n < 0) {
    int e = s ? errno : ENOMEM;
    free(s);
    struct rn_req r;
    rn_req_begin(&r, "close", 1);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, sfd);
    call_void(&r);
    return -e;
  }
  s->sfd = sfd, s->gen = rn_gen, s->refs = 1, s->nonblock = nonblock, s->domain = domain, s->type = type;
  pthread_mutex_lock(&tmu);
  cloexec[n] = (unsigned char)cloexec_flag;
  __atomic_store_n(&tab[n], s, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&tmu);
  return n;
}

int socket(int domain, int type, int protocol) {
  rn_libc_init();
  if (base < 0) config();
  int t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (!hijacked(domain, t, protocol)) return rn_libc.socket(domain, type, protocol);
  int e = rn_connect();
  if (e) return fail(e);
  struct rn_req r;
  struct rn_pending p;
  msgpack_object *res;
  rn_req_begin(&r, "socket", 3);
  rn_pk_key(&r, "domain"), rn_pk_str(&r, domain == AF_INET6 ? "inet6" : "inet");
  rn_pk_key(&r, "type"), rn_pk_str(&r, t == SOCK_STREAM ? "stream" : "dgram");
  rn_pk_key(&r, "nonblock"), rn_pk_bool(&r, 1);
  e = call_simple(&r, &res, &p);
  int64_t sfd = -1;
  if (!e && rn_obj_int(rn_map_get(res, "fd"), &sfd)) e = -EPROTO;
  rn_release(&p);
  if (e) return fail(e);
  int n = install((int)sfd, domain, t, !!(type & SOCK_NONBLOCK), !!(type & SOCK_CLOEXEC), 0);
  return n < 0 ? fail(n) : n;
}

/* ----- close and the dup family ----- */

static void unref(struct rn_sock *s) {
  pthread_mutex_lock(&tmu);
  int last = --s->refs == 0;
  pthread_mutex_unlock(&tmu);
  if (!last) return;
  if (rn_sock_live(s) == 0) {
    struct rn_req r;
    rn_req_begin(&r, "close", 1);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
    call_void(&r);
  }
  free(s);
}

/** Forgets number fd (and its placeholder) if it is a rump one. */
static void drop(int fd) {
  if (fd < 0 || fd >= RN_TABSZ) return;
  pthread_mutex_lock(&tmu);
  struct rn_sock *s = tab[fd];
  __atomic_store_n(&tab[fd], NULL, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&tmu);
  if (s) unref(s);
}

int close(int fd) {
  rn_libc_init();
  /* the server connection and the placeholder are the library's, not the program's */
  if (fd >= 0 && (fd == rn_connfd || fd == placeholder)) return 0;
  rn_epoll_closed(fd);
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) return rn_libc.close(fd);
  drop(fd);
  rn_libc.close(fd);
  return 0;
}

/** Shares rump socket s under number n (a placeholder already occupies n). */
static int share(struct rn_sock *s, int n, int ce) {
  pthread_mutex_lock(&tmu);
  s->refs++;
  cloexec[n] = (unsigned char)ce;
  __atomic_store_n(&tab[n], s, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&tmu);
  return n;
}

static int dup_rump(struct rn_sock *s, int min, int ce) {
  int n = alloc_fd(min);
  if (n < 0) return -1;
  return share(s, n, ce);
}

int dup(int fd) {
  rn_libc_init();
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(dup);
    return real_dup(fd);
  }
  return dup_rump(s, 0, 0);
}

static int dup3_common(int old, int new, int flags, int is_dup2) {
  struct rn_sock *s = rn_sock_of(old);
  if (new == rn_connfd && new >= 0) return fail(-EBUSY);
  if (old == new) {
    if (!is_dup2) return fail(-EINVAL);
    if (s) return new;
    return rn_libc.fcntl(old, F_GETFD) < 0 ? -1 : new;
  }
  if (new >= RN_TABSZ && s) return fail(-EBADF);
  if (rn_sock_of(new)) drop(new);
  if (!s) {
    if (is_dup2) return rn_libc.dup2(old, new);
    REAL(dup3);
    return real_dup3(old, new, flags);
  }
  if (rn_libc.dup2(old, new) < 0) return -1; /* the placeholder now occupies new too */
  rn_libc.fcntl(new, F_SETFD, FD_CLOEXEC);
  return share(s, new, !!(flags & O_CLOEXEC));
}

int dup2(int old, int new) {
  rn_libc_init();
  return dup3_common(old, new, 0, 1);
}

int dup3(int old, int new, int flags) {
  rn_libc_init();
  return dup3_common(old, new, flags, 0);
}

static int fcntl_rump(int fd, struct rn_sock *s, int cmd, long arg) {
  switch (cmd) {
    case F_GETFL: return O_RDWR | (s->nonblock ? O_NONBLOCK : 0);
    case F_SETFL: s->nonblock = !!(arg & O_NONBLOCK); return 0;
    case F_GETFD: return cloexec[fd] ? FD_CLOEXEC : 0;
    case F_SETFD: cloexec[fd] = !!(arg & FD_CLOEXEC); return 0;
    case F_DUPFD: return dup_rump(s, (int)arg, 0);
    case F_DUPFD_CLOEXEC: return dup_rump(s, (int)arg, 1);
    default: return fail(-EINVAL);
  }
}

int fcntl(int fd, int cmd, ...) {
  rn_libc_init();
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) return rn_libc.fcntl(fd, cmd, arg);
  return fcntl_rump(fd, s, cmd, (long)arg);
}

int fcntl64(int fd, int cmd, ...) {
  rn_libc_init();
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(fcntl64);
    return real_fcntl64 ? real_fcntl64(fd, cmd, arg) : rn_libc.fcntl(fd, cmd, arg);
  }
  return fcntl_rump(fd, s, cmd, (long)arg);
}

/* ----- bind, listen, accept, connect, shutdown, names ----- */

static int addr_call(const char *name, struct rn_sock *s, const struct sockaddr *a, socklen_t l) {
  struct rn_req r;
  rn_req_begin(&r, name, 2);
  rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
  rn_pk_key(&r, "addr");
  int e = rn_pk_sockaddr(&r, a, l);
  if (e) {
    msgpack_sbuffer_destroy(&r.sb);
    return e;
  }
  return call_void(&r);
}

int bind(int fd, const struct sockaddr *a, socklen_t l) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(bind);
    return real_bind(fd, a, l);
  }
  if (!e) e = addr_call("bind", s, a, l);
  return e ? fail(e) : 0;
}

int listen(int fd, int backlog) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(listen);
    return real_listen(fd, backlog);
  }
  if (!e) {
    struct rn_req r;
    rn_req_begin(&r, "listen", 2);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
    rn_pk_key(&r, "backlog"), rn_pk_int(&r, backlog < 0 ? 4096 : backlog);
    e = call_void(&r);
  }
  return e ? fail(e) : 0;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len);

int connect(int fd, const struct sockaddr *a, socklen_t l) {
  rn_libc_init();
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) return rn_libc.connect(fd, a, l);
  if (!e) e = addr_call("connect", s, a, l);
  if (e == -EINPROGRESS && !s->nonblock) {
    /* a blocking connect: wait for the handshake's end, then its verdict (SO_ERROR) */
    int rev = rn_poll1(s, POLLOUT, s->sndtimeo_ms ? s->sndtimeo_ms : -1);
    if (rev < 0) return fail(rev);
    if (rev == 0) return fail(-ETIMEDOUT);
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) return -1;
    e = -err;
  }
  return e ? fail(e) : 0;
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(accept4);
    return real_accept4(fd, a, l, flags);
  }
  for (int64_t nfd = -1; !e;) {
    struct rn_req r;
    struct rn_pending p;
    msgpack_object *res;
    rn_req_begin(&r, "accept", 2);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
    rn_pk_key(&r, "nonblock"), rn_pk_bool(&r, 1);
    e = call_simple(&r, &res, &p);
    if (!e && rn_obj_int(rn_map_get(res, "fd"), &nfd)) e = -EPROTO;
    if (!e && a && l) rn_sockaddr_out(rn_map_get(res, "addr"), a, l);
    rn_release(&p);
    if (!e) {
      int n = install((int)nfd, s->domain, s->type, !!(flags & SOCK_NONBLOCK), !!(flags & SOCK_CLOEXEC), 0);
      return n < 0 ? fail(n) : n;
    }
    if (e != -EAGAIN || s->nonblock) break;
    int rev = rn_poll1(s, POLLIN, s->rcvtimeo_ms ? s->rcvtimeo_ms : -1);
    e = rev < 0 ? rev : rev == 0 ? -EAGAIN : 0;
  }
  return fail(e);
}

int accept(int fd, struct sockaddr *a, socklen_t *l) {
  struct rn_sock *s = rn_sock_of(fd);
  if (!s) {
    REAL(accept);
    return real_accept(fd, a, l);
  }
  return accept4(fd, a, l, 0);
}

int shutdown(int fd, int how) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(shutdown);
    return real_shutdown(fd, how);
  }
  if (!e) {
    if (how < SHUT_RD || how > SHUT_RDWR) return fail(-EINVAL);
    struct rn_req r;
    rn_req_begin(&r, "shutdown", 2);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
    rn_pk_key(&r, "how"), rn_pk_str(&r, how == SHUT_RD ? "rd" : how == SHUT_WR ? "wr" : "rdwr");
    e = call_void(&r);
  }
  return e ? fail(e) : 0;
}

static int name_call(const char *name, struct rn_sock *s, struct sockaddr *a, socklen_t *l) {
  struct rn_req r;
  struct rn_pending p;
  msgpack_object *res;
  rn_req_begin(&r, name, 1);
  rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
  int e = call_simple(&r, &res, &p);
  if (!e && (!a || !l)) e = -EFAULT;
  if (!e && rn_sockaddr_out(rn_map_get(res, "addr"), a, l) < 0) e = -EPROTO;
  rn_release(&p);
  return e;
}

int getsockname(int fd, struct sockaddr *a, socklen_t *l) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(getsockname);
    return real_getsockname(fd, a, l);
  }
  if (!e) e = name_call("getsockname", s, a, l);
  return e ? fail(e) : 0;
}

int getpeername(int fd, struct sockaddr *a, socklen_t *l) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(getpeername);
    return real_getpeername(fd, a, l);
  }
  if (!e) e = name_call("getpeername", s, a, l);
  return e ? fail(e) : 0;
}

/* ----- socket options: Linux numbers to the contract's names (PROTOCOL.md section 9) ----- */

static const char *opt_name(int level, int name, const char **lv) {
  static const struct { int level, name; const char *lv, *n; } t[] = {
    {SOL_SOCKET, SO_DEBUG, "socket", "SO_DEBUG"}, {SOL_SOCKET, SO_REUSEADDR, "socket", "SO_REUSEADDR"},
    {SOL_SOCKET, SO_ERROR, "socket", "SO_ERROR"}, {SOL_SOCKET, SO_DONTROUTE, "socket", "SO_DONTROUTE"},
    {SOL_SOCKET, SO_BROADCAST, "socket", "SO_BROADCAST"}, {SOL_SOCKET, SO_SNDBUF, "socket", "SO_SNDBUF"},
    {SOL_SOCKET, SO_RCVBUF, "socket", "SO_RCVBUF"}, {SOL_SOCKET, SO_KEEPALIVE, "socket", "SO_KEEPALIVE"},
    {SOL_SOCKET, SO_OOBINLINE, "socket", "SO_OOBINLINE"}, {SOL_SOCKET, SO_LINGER, "socket", "SO_LINGER"},
    {SOL_SOCKET, SO_REUSEPORT, "socket", "SO_REUSEPORT"}, {SOL_SOCKET, SO_RCVLOWAT, "socket", "SO_RCVLOWAT"},
    {SOL_SOCKET, SO_SNDLOWAT, "socket", "SO_SNDLOWAT"}, {SOL_SOCKET, SO_ACCEPTCONN, "socket", "SO_ACCEPTCONN"},
    {SOL_SOCKET, SO_PROTOCOL, "socket", "SO_PROTOCOL"},
    {IPPROTO_TCP, 1, "tcp", "TCP_NODELAY"}, {IPPROTO_TCP, 2, "tcp", "TCP_MAXSEG"}, {IPPROTO_TCP, 4, "tcp", "TCP_KEEPIDLE"},
    {IPPROTO_TCP, 5, "tcp", "TCP_KEEPINTVL"}, {IPPROTO_TCP, 6, "tcp", "TCP_KEEPCNT"},
    {IPPROTO_IP, 1, "ip", "IP_TOS"}, {IPPROTO_IP, 2, "ip", "IP_TTL"},
    {IPPROTO_IPV6, 16, "ipv6", "IPV6_UNICAST_HOPS"}, {IPPROTO_IPV6, 26, "ipv6", "IPV6_V6ONLY"}, {IPPROTO_IPV6, 67, "ipv6", "IPV6_TCLASS"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (t[i].level == level && t[i].name == name) return *lv = t[i].lv, t[i].n;
  return NULL;
}

/** An option the contract has no name for: ENOPROTOOPT, and a line on stderr with RUMPHIJACK_DEBUG set. */
static int unknown_opt(const char *call, int level, int name) {
  if (getenv("RUMPHIJACK_DEBUG")) rn_warn("%s(level %d, option %d): no such option on the rump stack (ENOPROTOOPT)", call, level, name);
  return fail(-ENOPROTOOPT);
}

static int tv_ms(const struct timeval *tv) {
  long long ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(setsockopt);
    return real_setsockopt(fd, level, name, val, len);
  }
  if (e) return fail(e);
  if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
    if (!val || len < (socklen_t)sizeof(struct timeval)) return fail(-EINVAL);
    *(name == SO_RCVTIMEO ? &s->rcvtimeo_ms : &s->sndtimeo_ms) = tv_ms(val);
    return 0;
  }
  const char *lv, *n = opt_name(level, name, &lv);
  if (!n) return unknown_opt("setsockopt", level, name);
  int64_t v;
  if (level == SOL_SOCKET && name == SO_LINGER) {
    if (!val || len < (socklen_t)sizeof(struct linger)) return fail(-EINVAL);
    const struct linger *lg = val;
    v = lg->l_onoff ? lg->l_linger : -1;
  } else {
    if (!val || len < (socklen_t)sizeof(int)) return fail(-EINVAL);
    v = *(const int *)val;
  }
  struct rn_req r;
  rn_req_begin(&r, "setsockopt", 4);
  rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
  rn_pk_key(&r, "level"), rn_pk_str(&r, lv);
  rn_pk_key(&r, "name"), rn_pk_str(&r, n);
  rn_pk_key(&r, "value"), rn_pk_int(&r, v);
  e = call_void(&r);
  return e ? fail(e) : 0;
}

/**
 * TCP_CONGESTION takes a string, which protocol version 1 cannot carry, so
 * no socket can select another algorithm: each uses the stack's default,
 * net.inet.tcp.congctl.selected (an index into CONGCTL_NAMES). iperf3
 * reads it after connecting and gives up if it cannot.
 */
static int congestion_name(void *val, socklen_t *len) {
  static const char *const names[] = {"newreno", "cubic"};
  struct rn_req r;
  struct rn_pending p;
  msgpack_object *res;
  rn_req_begin(&r, "ctl.sysctl", 1);
  rn_pk_key(&r, "name"), rn_pk_str(&r, "net.inet.tcp.congctl.selected");
  int e = call_simple(&r, &res, &p);
  int64_t v = -1;
  msgpack_object *rows = rn_map_get(res, "rows");
  if (!e && rows && rows->type == MSGPACK_OBJECT_ARRAY && rows->via.array.size == 1) rn_obj_int(rn_map_get(&rows->via.array.ptr[0], "value"), &v);
  rn_release(&p);
  if (e) return fail(e);
  if (v < 0 || v >= (int64_t)(sizeof names / sizeof names[0])) return fail(-ENOPROTOOPT);
  size_t n = strlen(names[v]) + 1;
  if (n > *len) n = *len;
  memcpy(val, names[v], n);
  *len = (socklen_t)n;
  return 0;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len) {
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(getsockopt);
    return real_getsockopt(fd, level, name, val, len);
  }
  if (e) return fail(e);
  if (!val || !len) return fail(-EFAULT);
  if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
    int ms = name == SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (*len < (socklen_t)sizeof tv) return fail(-EINVAL);
    memcpy(val, &tv, sizeof tv);
    *len = sizeof tv;
    return 0;
  }
  if (level == IPPROTO_TCP && name == 13 /* TCP_CONGESTION */ && s->type == SOCK_STREAM) return congestion_name(val, len);
  int64_t v;
  if (level == SOL_SOCKET && (name == SO_TYPE || name == SO_DOMAIN)) {
    v = name == SO_TYPE ? s->type : s->domain;
  } else {
    const char *lv, *n = opt_name(level, name, &lv);
    if (!n) return unknown_opt("getsockopt", level, name);
    struct rn_req r;
    struct rn_pending p;
    msgpack_object *res;
    rn_req_begin(&r, "getsockopt", 3);
    rn_pk_key(&r, "fd"), rn_pk_int(&r, s->sfd);
    rn_pk_key(&r, "level"), rn_pk_str(&r, lv);
    rn_pk_key(&r, "name"), rn_pk_str(&r, n);
    e = call_simple(&r, &res, &p);
    if (!e && rn_obj_int(rn_map_get(res, "value"), &v)) e = -EPROTO;
    rn_release(&p);
    if (e) return fail(e);
  }
  if (level == SOL_SOCKET && name == SO_LINGER) {
    struct linger lg = {v >= 0, v >= 0 ? (int)v : 0};
    if (*len < (socklen_t)sizeof lg) return fail(-EINVAL);
    memcpy(val, &lg, sizeof lg);
    *len = sizeof lg;
    return 0;
  }
  int iv = (int)v;
  socklen_t n = *len < (socklen_t)sizeof iv ? *len : (socklen_t)sizeof iv;
  memcpy(val, &iv, n);
  *len = n;
  return 0;
}

/* ----- ioctl ----- */

ssize_t recv(int fd, void *buf, size_t n, int flags);

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  struct rn_sock *s;
  int e = sock_or(fd, &s);
  if (e == 1) {
    REAL(ioctl);
    return real_ioctl(fd, req, arg);
  }
  if (e) return fail(e);
  if (req == FIONBIO) {
    if (!arg) return fail(-EFAULT);
    s->nonblock = *(int *)arg != 0;
    return 0;
  }
  if (req == FIONREAD) {
    /* no ioctl in the protocol: what a non-blocking peek sees (at most 256 KiB) */
    if (!arg) return fail(-EFAULT);
    static __thread char *scratch;
    if (!scratch && !(scratch = malloc(256 * 1024))) return fail(-ENOMEM);
    ssize_t n = recv(fd, scratch, 256 * 1024, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN) return -1;
    *(int *)arg = n < 0 ? 0 : (int)n;
    return 0;
  }
  return fail(-ENOTTY);
}
