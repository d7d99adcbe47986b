/*
 * rumpnet-hijack: the client end of the rumpnet protocol (docs/PROTOCOL.md),
 * as NetBSD's librumpclient (rumpclient.c) is for rump's sysproxy.
 *
 * One connection per process, opened lazily by the first hijacked socket().
 * Requests are written whole under a write lock. Replies are read by one
 * thread at a time, the "reader": whichever caller finds nobody reading takes
 * the role, reads frames and dispatches them -- COPYIN answered from the
 * registered buffer, COPYOUT written straight into it, RESP/ERROR handed to
 * the call it answers -- until its own reply is in, then gives the role up
 * (leader/follower). A single-threaded program therefore never switches
 * threads; a caller that waits while another reads sleeps on a per-thread
 * eventfd the reader writes to. Buffers are never copied on the client: a
 * COPYIN reply is a sendmsg over iovecs of the caller's own buffer.
 */
#define _GNU_SOURCE
#include "rn.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { REQ = 0, RESP = 1, ERROR = 2 };
enum { T_HANDSHAKE = 1, T_SYSCALL = 2, T_COPYIN = 3, T_COPYOUT = 4, T_PING = 5 };
#define HDR 16
#define MAX_FRAME (4 * 1024 * 1024 + 4096)
#define MAX_HEAD (64 * 1024)
#define PROTOCOL_VERSION 1
#define HANDSHAKE_MS 5000

struct rn_libc rn_libc;
static ssize_t (*libc_sendmsg)(int, const struct msghdr *, int);

void rn_libc_init(void) {
  if (rn_libc.read) return;
  libc_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
  rn_libc.socket = dlsym(RTLD_NEXT, "socket");
  rn_libc.close = dlsym(RTLD_NEXT, "close");
  rn_libc.connect = dlsym(RTLD_NEXT, "connect");
  rn_libc.write = dlsym(RTLD_NEXT, "write");
  rn_libc.readv = dlsym(RTLD_NEXT, "readv");
  rn_libc.writev = dlsym(RTLD_NEXT, "writev");
  rn_libc.poll = dlsym(RTLD_NEXT, "poll");
  rn_libc.fcntl = dlsym(RTLD_NEXT, "fcntl");
  rn_libc.dup2 = dlsym(RTLD_NEXT, "dup2");
  __atomic_store_n(&rn_libc.read, dlsym(RTLD_NEXT, "read"), __ATOMIC_RELEASE);
}

void rn_warn(const char *fmt, ...) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "rumpnet-hijack[%d]: ", (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t l = strlen(buf);
  buf[l++] = '\n';
  rn_libc_init();
  ssize_t w = rn_libc.write(2, buf, l);
  (void)w;
}

/* ----- connection state; everything below is guarded by mu ----- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER; /* one frame written at a time */
int rn_connfd = -1;
unsigned rn_gen = 1;
unsigned rn_forked_gen = 0;
static int dead;                 /* the connection was lost */
static int reading;              /* a thread holds the reader role */
static struct rn_pending *pending;
static uint32_t next_req = 1;
static __thread int tl_evfd = -1;
static pthread_key_t evfd_key;
static pthread_once_t evfd_once = PTHREAD_ONCE_INIT;

static void evfd_close(void *p) {
  int fd = (int)(intptr_t)p - 1;
  if (fd >= 0) rn_libc.close(fd);
}
static void evfd_key_make(void) { pthread_key_create(&evfd_key, evfd_close); }

static int my_evfd(void) {
  if (tl_evfd < 0) {
    pthread_once(&evfd_once, evfd_key_make);
    tl_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (tl_evfd >= 0) pthread_setspecific(evfd_key, (void *)(intptr_t)(tl_evfd + 1));
  }
  return tl_evfd;
}

static void wake(struct rn_pending *p) {
  if (p->wakefd >= 0) {
    uint64_t one = 1;
    ssize_t w = rn_libc.write(p->wakefd, &one, sizeof one);
    (void)w;
  }
}

static uint32_t le32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }
static void put32(uint8_t *b, uint32_t v) { b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24); }

static void put_header(uint8_t *h, uint32_t len, uint32_t reqno, int cls, int type, uint32_t headlen) {
  put32(h, len);
  put32(h + 4, reqno);
  h[8] = (uint8_t)cls;
  h[9] = (uint8_t)type;
  h[10] = h[11] = 0;
  put32(h + 12, headlen);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** Ends the connection: every call in flight fails (ECONNRESET), later calls on its sockets too. */
static void die_locked(int err, const char *why) {
  if (dead) return;
  dead = 1;
  rn_warn("lost the rump server (%s: %s); its sockets now fail with ECONNRESET", why, strerror(err < 0 ? -err : err));
  if (rn_connfd >= 0) shutdown(rn_connfd, SHUT_RDWR);
  for (struct rn_pending *p = pending; p; p = p->next) {
    if (p->done) continue;
    p->done = 1;
    p->transport = 1;
    wake(p);
  }
}

/* ----- byte I/O on the connection (no lock: one reader, writers under wmu) ----- */

static int read_full(int fd, void *buf, size_t n, int64_t deadline) {
  uint8_t *b = buf;
  while (n > 0) {
    if (deadline >= 0) {
      int left = (int)(deadline - now_ms());
      if (left <= 0) return -ETIMEDOUT;
      struct pollfd pf = {fd, POLLIN, 0};
      int r = rn_libc.poll(&pf, 1, left);
      if (r < 0 && errno != EINTR) return -errno;
      if (r <= 0) continue;
    }
    ssize_t r = rn_libc.read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) return -ECONNRESET;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

static int discard(int fd, size_t n) {
  char junk[4096];
  while (n > 0) {
    size_t k = n < sizeof junk ? n : sizeof junk;
    int e = read_full(fd, junk, k, -1);
    if (e) return e;
    n -= k;
  }
  return 0;
}

/** Writes the iovecs whole (MSG_NOSIGNAL: a dead server is an error, not SIGPIPE). */
static int write_all(int fd, struct iovec *iov, int cnt) {
  pthread_mutex_lock(&wmu);
  int err = 0;
  while (cnt > 0) {
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
    ssize_t w = libc_sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      err = -errno;
      break;
    }
    while (cnt > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  pthread_mutex_unlock(&wmu);
  return err;
}

/** Slices [off, off+n) of an iovec list into out (at most max entries); returns the count or -1. */
static int slice_iov(const struct iovec *iov, int cnt, size_t off, size_t n, struct iovec *out, int max) {
  int k = 0;
  for (int i = 0; i < cnt && n > 0; i++) {
    size_t l = iov[i].iov_len;
    if (off >= l) {
      off -= l;
      continue;
    }
    size_t take = l - off < n ? l - off : n;
    if (k == max) return -1;
    out[k].iov_base = (char *)iov[i].iov_base + off;
    out[k].iov_len = take;
    k++;
    n -= take;
    off = 0;
  }
  return n == 0 ? k : -1;
}

/* ----- msgpack ----- */

msgpack_object *rn_map_get(msgpack_object *m, const char *key) {
  if (!m || m->type != MSGPACK_OBJECT_MAP) return NULL;
  size_t kl = strlen(key);
  for (uint32_t i = 0; i < m->via.map.size; i++) {
    msgpack_object *k = &m->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0) return &m->via.map.ptr[i].val;
  }
  return NULL;
}

int rn_obj_int(msgpack_object *o, int64_t *v) {
  if (!o) return -1;
  switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (int64_t)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *v = o->via.i64; return 0;
    case MSGPACK_OBJECT_BOOLEAN: *v = o->via.boolean; return 0;
    case MSGPACK_OBJECT_FLOAT64:
    case MSGPACK_OBJECT_FLOAT32: *v = (int64_t)o->via.f64; return 0;
    default: return -1;
  }
}

static void pk_raw_str(msgpack_packer *pk, const char *s) {
  size_t l = strlen(s);
  msgpack_pack_str(pk, l);
  msgpack_pack_str_body(pk, s, l);
}

void rn_req_begin(struct rn_req *r, const char *name, int nargs) {
  msgpack_sbuffer_init(&r->sb);
  msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
  static const char zero[HDR];
  msgpack_sbuffer_write(&r->sb, zero, HDR);
  msgpack_pack_map(&r->pk, 2);
  pk_raw_str(&r->pk, "name");
  pk_raw_str(&r->pk, name);
  pk_raw_str(&r->pk, "args");
  msgpack_pack_map(&r->pk, (size_t)nargs);
  r->handle_at = 0;
  r->rx = strcmp(name, "recvfrom") == 0;
}
void rn_pk_key(struct rn_req *r, const char *k) { pk_raw_str(&r->pk, k); }
void rn_pk_str(struct rn_req *r, const char *s) { pk_raw_str(&r->pk, s); }
void rn_pk_int(struct rn_req *r, int64_t v) { msgpack_pack_int64(&r->pk, v); }
void rn_pk_bool(struct rn_req *r, int v) {
  if (v) msgpack_pack_true(&r->pk);
  else msgpack_pack_false(&r->pk);
}
void rn_pk_handle(struct rn_req *r, const char *k) {
  pk_raw_str(&r->pk, k);
  /* a fixed-width uint32 patched with the request number in rn_start (handle == reqno) */
  static const char u32[5] = {(char)0xce, 0, 0, 0, 1};
  r->handle_at = r->sb.size + 1;
  msgpack_sbuffer_write(&r->sb, u32, 5);
}

int rn_pk_sockaddr(struct rn_req *r, const struct sockaddr *sa, socklen_t len) {
  char text[INET6_ADDRSTRLEN];
  if (!sa) return -EFAULT;
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *s = (const void *)sa;
    inet_ntop(AF_INET, &s->sin_addr, text, sizeof text);
    msgpack_pack_map(&r->pk, 3);
    pk_raw_str(&r->pk, "family"); pk_raw_str(&r->pk, "inet");
    pk_raw_str(&r->pk, "address"); pk_raw_str(&r->pk, text);
    pk_raw_str(&r->pk, "port"); msgpack_pack_int64(&r->pk, ntohs(s->sin_port));
    return 0;
  }
  /* 24 bytes (RFC 2133's sockaddr_in6, no sin6_scope_id) is enough, as Linux's inet6 calls take it */
  if (sa->sa_family == AF_INET6 && len >= 24) {
    const struct sockaddr_in6 *s = (const void *)sa;
    uint32_t scope = len >= (socklen_t)sizeof(struct sockaddr_in6) ? s->sin6_scope_id : 0;
    inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof text);
    msgpack_pack_map(&r->pk, 5);
    pk_raw_str(&r->pk, "family"); pk_raw_str(&r->pk, "inet6");
    pk_raw_str(&r->pk, "address"); pk_raw_str(&r->pk, text);
    pk_raw_str(&r->pk, "port"); msgpack_pack_int64(&r->pk, ntohs(s->sin6_port));
    pk_raw_str(&r->pk, "flowinfo"); msgpack_pack_int64(&r->pk, ntohl(s->sin6_flowinfo));
    pk_raw_str(&r->pk, "scopeId"); msgpack_pack_int64(&r->pk, scope);
    return 0;
  }
  if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) return -EAFNOSUPPORT;
  return -EINVAL;
}

int rn_sockaddr_out(msgpack_object *o, struct sockaddr *sa, socklen_t *len) {
  msgpack_object *fam = rn_map_get(o, "family"), *addr = rn_map_get(o, "address");
  int64_t port = 0, flow = 0, scope = 0;
  if (!fam || !addr || fam->type != MSGPACK_OBJECT_STR || addr->type != MSGPACK_OBJECT_STR || addr->via.str.size >= INET6_ADDRSTRLEN) return -EINVAL;
  if (rn_obj_int(rn_map_get(o, "port"), &port)) return -EINVAL;
  rn_obj_int(rn_map_get(o, "flowinfo"), &flow);
  rn_obj_int(rn_map_get(o, "scopeId"), &scope);
  char text[INET6_ADDRSTRLEN];
  memcpy(text, addr->via.str.ptr, addr->via.str.size);
  text[addr->via.str.size] = 0;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t full;
  if (fam->via.str.size == 4 && memcmp(fam->via.str.ptr, "inet", 4) == 0) {
    struct sockaddr_in *s = (void *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &s->sin_addr) != 1) return -EINVAL;
    full = sizeof *s;
  } else {
    struct sockaddr_in6 *s = (void *)&ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons((uint16_t)port);
    s->sin6_flowinfo = htonl((uint32_t)flow);
    s->sin6_scope_id = (uint32_t)scope;
    if (inet_pton(AF_INET6, text, &s->sin6_addr) != 1) return -EINVAL;
    full = sizeof *s;
  }
  if (sa && len) {
    memcpy(sa, &ss, *len < full ? *len : full);
    *len = full;
  }
  return (int)full;
}

/* ----- connecting ----- */

static int open_transport(const char *url, char *why, size_t whylen) {
  const char *path = url;
  if (strncmp(url, "tcp://", 6) == 0) {
    char host[64];
    const char *colon = strrchr(url + 6, ':');
    if (!colon || (size_t)(colon - (url + 6)) >= sizeof host) return snprintf(why, whylen, "bad URL"), -EINVAL;
    memcpy(host, url + 6, (size_t)(colon - (url + 6)));
    host[colon - (url + 6)] = 0;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) return snprintf(why, whylen, "tcp:// needs a numeric IPv4 host"), -EINVAL;
    int fd = rn_libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    if (rn_libc.connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
      int e = -errno;
      rn_libc.close(fd);
      return e;
    }
    return fd;
  }
  if (strncmp(url, "unix://", 7) == 0) path = url + 7;
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sun.sun_path) return snprintf(why, whylen, "socket path too long"), -ENAMETOOLONG;
  strcpy(sun.sun_path, path);
  int fd = rn_libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (rn_libc.connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    int e = -errno;
    rn_libc.close(fd);
    return e;
  }
  return fd;
}

/** Banner (PROTOCOL.md section 2) and handshake (section 5), bounded by HANDSHAKE_MS. */
static int handshake(int fd, const char *url) {
  int64_t deadline = now_ms() + HANDSHAKE_MS;
  char banner[257];
  size_t bl = 0;
  for (;;) {
    int e = read_full(fd, banner + bl, 1, deadline);
    if (e) return rn_warn("%s sent no banner (%s)", url, strerror(-e)), -ECONNREFUSED;
    if (banner[bl] == '\n') break;
    if (++bl >= 256) return rn_warn("%s is not a rump server (no banner line)", url), -ECONNREFUSED;
  }
  banner[bl] = 0;
  int version = 0;
  if (sscanf(banner, "RUMPNET-SP %d ", &version) != 1) return rn_warn("%s is not a rump server (banner '%s')", url, banner), -ECONNREFUSED;
  if (version != PROTOCOL_VERSION)
    return rn_warn("protocol version mismatch: %s speaks %d, this library speaks %d", url, version, PROTOCOL_VERSION), -EPROTONOSUPPORT;

  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  static const char zero[HDR];
  msgpack_sbuffer_write(&sb, zero, HDR);
  msgpack_pack_map(&pk, 4);
  pk_raw_str(&pk, "version"); msgpack_pack_int64(&pk, PROTOCOL_VERSION);
  pk_raw_str(&pk, "pid"); msgpack_pack_int64(&pk, getpid());
  pk_raw_str(&pk, "name"); pk_raw_str(&pk, program_invocation_short_name);
  /* a small receive's bytes may come inside its reply (PROTOCOL.md section 6): read_frame places them */
  pk_raw_str(&pk, "inlineRecv"); msgpack_pack_true(&pk);
  put_header((uint8_t *)sb.data, (uint32_t)sb.size, 1, REQ, T_HANDSHAKE, (uint32_t)(sb.size - HDR));
  struct iovec iov = {sb.data, sb.size};
  int e = write_all(fd, &iov, 1);
  msgpack_sbuffer_destroy(&sb);
  if (e) return e;

  uint8_t h[HDR];
  e = read_full(fd, h, HDR, deadline);
  if (e) return rn_warn("no handshake reply from %s (%s)", url, strerror(-e)), -ECONNREFUSED;
  uint32_t len = le32(h), hl = le32(h + 12);
  if (len < HDR || hl > len - HDR || hl > MAX_HEAD || h[9] != T_HANDSHAKE) return rn_warn("bad handshake reply from %s", url), -EPROTO;
  char *hb = malloc(hl ? hl : 1);
  if (!hb) return -ENOMEM;
  e = read_full(fd, hb, hl, deadline);
  if (!e) e = discard(fd, len - HDR - hl);
  int rc = -EPROTO;
  if (!e) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, hb, hl, &off) == MSGPACK_UNPACK_SUCCESS) {
      msgpack_object *reason = rn_map_get(&u.data, "reason");
      int64_t v = 0;
      if (h[8] == RESP && !rn_obj_int(rn_map_get(rn_map_get(&u.data, "result"), "version"), &v) && v == PROTOCOL_VERSION) rc = 0;
      else if (reason && reason->type == MSGPACK_OBJECT_STR) rn_warn("%s refused the handshake: %.*s", url, (int)reason->via.str.size, reason->via.str.ptr);
    }
    msgpack_unpacked_destroy(&u);
  }
  free(hb);
  return rc;
}

int rn_connect(void) {
  rn_libc_init();
  pthread_mutex_lock(&mu);
  if (rn_connfd >= 0 && !dead) return pthread_mutex_unlock(&mu), 0;
  const char *url = getenv("RUMP_SERVER");
  if (!url || !*url) {
    pthread_mutex_unlock(&mu);
    rn_warn("RUMP_SERVER is not set (e.g. unix:///tmp/rumpnet.sock): no rump server to run sockets on");
    return -ENETDOWN;
  }
  if (rn_connfd >= 0) {
    /* the previous connection died: its sockets stay dead (another generation), new ones get a new session */
    for (struct rn_pending *p = pending; p; p = p->next) if (!p->done) goto busy;
    rn_libc.close(rn_connfd);
    rn_connfd = -1;
    rn_gen++;
    rn_poll_reset();
  }
  char why[128] = "";
  int fd = open_transport(url, why, sizeof why);
  if (fd < 0) {
    pthread_mutex_unlock(&mu);
    rn_warn("cannot reach the rump server %s: %s (is rump-server running?)", url, why[0] ? why : strerror(-fd));
    return fd == -ENOENT || fd == -ECONNREFUSED ? -ECONNREFUSED : fd == -EINVAL ? -EINVAL : -ENETDOWN;
  }
  int e = handshake(fd, url);
  if (e) {
    rn_libc.close(fd);
    pthread_mutex_unlock(&mu);
    return e;
  }
  rn_connfd = rn_fd_place(fd);
  dead = 0;
  reading = 0;
  pthread_mutex_unlock(&mu);
  return 0;
busy:
  pthread_mutex_unlock(&mu);
  return -ECONNRESET;
}

/* ----- calls ----- */

static struct rn_pending *find_req(uint32_t reqno) {
  for (struct rn_pending *p = pending; p; p = p->next)
    if (p->reqno == reqno && !p->done) return p;
  return NULL;
}

int rn_start(struct rn_req *r, const struct iovec *iov, int iovcnt, struct rn_pending *p) {
  memset(p, 0, sizeof *p);
  p->wakefd = -1;
  p->iov = iov;
  p->iovcnt = iovcnt;
  p->rx = r->rx;
  for (int i = 0; i < iovcnt; i++) p->len += iov[i].iov_len;
  pthread_mutex_lock(&mu);
  if (rn_connfd < 0 || dead) {
    pthread_mutex_unlock(&mu);
    msgpack_sbuffer_destroy(&r->sb);
    p->done = p->transport = 1;
    return -ECONNRESET;
  }
  uint32_t reqno;
  do {
    reqno = next_req;
    next_req = next_req == 0xffffffffu ? 1 : next_req + 1;
  } while (reqno == 0 || find_req(reqno));
  p->reqno = reqno;
  p->next = pending;
  pending = p;
  int fd = rn_connfd;
  pthread_mutex_unlock(&mu);
  uint8_t *d = (uint8_t *)r->sb.data;
  if (r->handle_at) { /* msgpack integers are big-endian */
    uint8_t *q = d + r->handle_at;
    q[0] = (uint8_t)(reqno >> 24), q[1] = (uint8_t)(reqno >> 16), q[2] = (uint8_t)(reqno >> 8), q[3] = (uint8_t)reqno;
  }
  put_header(d, (uint32_t)r->sb.size, reqno, REQ, T_SYSCALL, (uint32_t)(r->sb.size - HDR));
  struct iovec v = {r->sb.data, r->sb.size};
  int e = write_all(fd, &v, 1);
  msgpack_sbuffer_destroy(&r->sb);
  if (e) {
    pthread_mutex_lock(&mu);
    die_locked(e, "write");
    pthread_mutex_unlock(&mu);
  }
  return 0;
}

/** Answers a COPYIN (PROTOCOL.md section 7) with the bytes of the call's buffer, or EFAULT. */
static int answer_copyin(int fd, uint32_t reqno, struct rn_pending *p, int64_t o, int64_t n) {
  uint8_t h[HDR];
  struct iovec v[65];
  int k = -1;
  if (p && o >= 0 && n >= 0 && (size_t)(o + n) <= p->len) k = slice_iov(p->iov, p->iovcnt, (size_t)o, (size_t)n, v + 1, 64);
  if (k < 0) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&sb, (const char *)h, HDR);
    msgpack_pack_map(&pk, 2);
    pk_raw_str(&pk, "errno"); msgpack_pack_int64(&pk, EFAULT);
    pk_raw_str(&pk, "reason"); pk_raw_str(&pk, "bad address");
    put_header((uint8_t *)sb.data, (uint32_t)sb.size, reqno, ERROR, T_COPYIN, (uint32_t)(sb.size - HDR));
    struct iovec e = {sb.data, sb.size};
    int r = write_all(fd, &e, 1);
    msgpack_sbuffer_destroy(&sb);
    return r;
  }
  put_header(h, (uint32_t)(HDR + n), reqno, RESP, T_COPYIN, 0);
  v[0].iov_base = h;
  v[0].iov_len = HDR;
  return write_all(fd, v, k + 1);
}

/** Reads one frame and dispatches it. The caller holds the reader role. 0 or -errno (connection lost). */
static int read_frame(int fd) {
  uint8_t h[HDR];
  int e = read_full(fd, h, HDR, -1);
  if (e) return e;
  uint32_t len = le32(h), reqno = le32(h + 4), hl = le32(h + 12);
  int cls = h[8], type = h[9];
  if (len < HDR || len > MAX_FRAME || hl > len - HDR || hl > MAX_HEAD || cls > ERROR) return -EPROTO;
  size_t plen = len - HDR - hl;
  char *hb = NULL;
  msgpack_unpacked u;
  int has = 0;
  if (hl) {
    if (!(hb = malloc(hl))) return -ENOMEM;
    if ((e = read_full(fd, hb, hl, -1))) return free(hb), e;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    has = msgpack_unpack_next(&u, hb, hl, &off) == MSGPACK_UNPACK_SUCCESS && h[10] == 0 && h[11] == 0;
  }
  msgpack_object *head = has ? &u.data : NULL;
  int64_t hh = -1, o = -1, n = -1;
  rn_obj_int(rn_map_get(head, "h"), &hh);
  rn_obj_int(rn_map_get(head, "o"), &o);
  rn_obj_int(rn_map_get(head, "n"), &n);
  if (cls == REQ && type == T_COPYOUT) {
    /* fire-and-forget: the bytes go straight into the call's buffer (its owner waits; only the reader completes calls) */
    pthread_mutex_lock(&mu);
    struct rn_pending *p = hh > 0 && hh <= 0xffffffff ? find_req((uint32_t)hh) : NULL;
    pthread_mutex_unlock(&mu);
    struct iovec v[64];
    int k = -1;
    if (p && o >= 0 && (size_t)o + plen <= p->len) k = slice_iov(p->iov, p->iovcnt, (size_t)o, plen, v, 64);
    if (k < 0) {
      if (p) p->fault = 1;
      e = discard(fd, plen);
    } else {
      for (int i = 0; i < k && !e; i++) e = read_full(fd, v[i].iov_base, v[i].iov_len, -1);
    }
  } else if (cls == REQ) {
    e = discard(fd, plen);
    if (!e && type == T_COPYIN) {
      pthread_mutex_lock(&mu);
      struct rn_pending *p = hh > 0 && hh <= 0xffffffff ? find_req((uint32_t)hh) : NULL;
      pthread_mutex_unlock(&mu);
      e = answer_copyin(fd, reqno, p, o, n);
    } else if (!e) {
      uint8_t r[HDR];
      put_header(r, HDR, reqno, type == T_PING ? RESP : ERROR, type, 0);
      struct iovec v = {r, HDR};
      e = write_all(fd, &v, 1);
    }
  } else {
    if (plen > 0 && cls == RESP && type == T_SYSCALL) {
      /* inline receive: the bytes belong at offset 0 of the receive's buffer, read straight into it */
      pthread_mutex_lock(&mu);
      struct rn_pending *p = find_req(reqno);
      pthread_mutex_unlock(&mu);
      struct iovec v[64];
      int k = -1;
      if (p && p->rx && plen <= p->len) k = slice_iov(p->iov, p->iovcnt, 0, plen, v, 64);
      if (k < 0) {
        if (p) p->fault = 1;
        e = discard(fd, plen);
      } else {
        for (int i = 0; i < k && !e; i++) e = read_full(fd, v[i].iov_base, v[i].iov_len, -1);
      }
    } else {
      e = discard(fd, plen);
    }
    pthread_mutex_lock(&mu);
    struct rn_pending *p = find_req(reqno);
    if (p) {
      p->cls = cls;
      p->headbuf = hb;
      if (has) p->head = u;
      p->has_head = has;
      p->done = 1;
      wake(p);
      hb = NULL;
      has = 0;
    } else if (reqno == 0 && cls == ERROR) {
      msgpack_object *why = rn_map_get(head, "reason");
      if (why && why->type == MSGPACK_OBJECT_STR) rn_warn("the rump server closed the connection: %.*s", (int)why->via.str.size, why->via.str.ptr);
    }
    pthread_mutex_unlock(&mu);
  }
  if (has) msgpack_unpacked_destroy(&u);
  free(hb);
  return e;
}

int rn_wait(struct rn_pending *p, struct pollfd *host, nfds_t nhost, int timeout_ms) {
  int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
  struct pollfd small[17], *pf = nhost + 1 <= 17 ? small : malloc((nhost + 1) * sizeof *pf);
  if (!pf) return -ENOMEM;
  int ret = 0;
  pthread_mutex_lock(&mu);
  for (;;) {
    if (p->done) break;
    int left = deadline < 0 ? -1 : (int)(deadline - now_ms());
    if (deadline >= 0 && left < 0) left = 0;
    if (!reading && !dead) {
      reading = 1;
      int fd = rn_connfd;
      pthread_mutex_unlock(&mu);
      int e = 0, hostready = 0;
      if (nhost == 0) {
        e = read_frame(fd);
      } else {
        memcpy(pf, host, nhost * sizeof *pf);
        pf[nhost] = (struct pollfd){fd, POLLIN, 0};
        int r = rn_libc.poll(pf, nhost + 1, left);
        if (r < 0 && errno != EINTR) e = -errno;
        if (r > 0 && pf[nhost].revents) e = read_frame(fd);
        for (nfds_t i = 0; i < nhost; i++) host[i].revents = pf[i].revents, hostready |= pf[i].revents != 0;
        if (r == 0 && left == 0) hostready = 1; /* timed out */
      }
      pthread_mutex_lock(&mu);
      reading = 0;
      if (e) die_locked(e, e == -EPROTO ? "bad frame" : "read");
      /* give the role to a waiter whose reply is not in yet */
      for (struct rn_pending *q = pending; q; q = q->next)
        if (!q->done && q != p && q->wakefd >= 0 && q->wakefd != tl_evfd) wake(q);
      if (hostready && !p->done) {
        ret = 1;
        break;
      }
      continue;
    }
    if (dead) {
      p->done = p->transport = 1;
      break;
    }
    /* another thread reads: sleep on this thread's eventfd (and the host descriptors) */
    int ev = my_evfd();
    if (ev < 0) {
      ret = -errno;
      break;
    }
    p->wakefd = ev;
    pthread_mutex_unlock(&mu);
    pf[0] = (struct pollfd){ev, POLLIN, 0};
    if (nhost) memcpy(pf + 1, host, nhost * sizeof *pf);
    int r = rn_libc.poll(pf, nhost + 1, left);
    uint64_t junk;
    if (r > 0 && pf[0].revents) {
      ssize_t rd = rn_libc.read(ev, &junk, sizeof junk);
      (void)rd;
    }
    int hostready = 0;
    for (nfds_t i = 0; i < nhost; i++) host[i].revents = pf[i + 1].revents, hostready |= pf[i + 1].revents != 0;
    if (nhost && r == 0 && left == 0) hostready = 1;
    pthread_mutex_lock(&mu);
    if (hostready && !p->done) {
      ret = 1;
      break;
    }
  }
  pthread_mutex_unlock(&mu);
  if (pf != small) free(pf);
  return ret;
}

int rn_result(struct rn_pending *p, msgpack_object **res) {
  if (p->transport) return -ECONNRESET;
  msgpack_object *head = p->has_head ? &p->head.data : NULL;
  if (p->cls == ERROR) {
    msgpack_object *why = rn_map_get(head, "reason");
    if (why && why->type == MSGPACK_OBJECT_STR) rn_warn("the rump server refused a call: %.*s", (int)why->via.str.size, why->via.str.ptr);
    return -EINVAL;
  }
  int64_t err;
  if (!rn_obj_int(rn_map_get(head, "errno"), &err) && err > 0) return (int)-err;
  if (p->fault) return -EFAULT;
  if (res) *res = rn_map_get(head, "result");
  return 0;
}

void rn_release(struct rn_pending *p) {
  pthread_mutex_lock(&mu);
  for (struct rn_pending **pp = &pending; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  pthread_mutex_unlock(&mu);
  if (p->has_head) msgpack_unpacked_destroy(&p->head);
  free(p->headbuf);
  p->has_head = 0;
  p->headbuf = NULL;
}

int rn_call(struct rn_req *r, const struct iovec *iov, int iovcnt, struct rn_pending *p, msgpack_object **res) {
  int e = rn_start(r, iov, iovcnt, p);
  if (e) return e;
  e = rn_wait(p, NULL, 0, -1);
  if (e < 0) return e;
  return rn_result(p, res);
}

/* ----- fork (pthread_atfork): the child gets no share of the parent's connection ----- */

static void fork_prepare(void) {
  pthread_mutex_lock(&mu);
  pthread_mutex_lock(&wmu);
}
static void fork_parent(void) {
  pthread_mutex_unlock(&wmu);
  pthread_mutex_unlock(&mu);
}
static void fork_child(void) {
  pthread_mutex_init(&wmu, NULL);
  pthread_mutex_init(&mu, NULL);
  /*
   * The server knows one process per connection: a child writing on the
   * parent's would mix two programs' frames. The child drops its copy of the
   * descriptor (the parent's connection stays up) and its sockets become
   * stale (EBADF, closable); its first new socket opens its own session.
   */
  if (rn_connfd >= 0) rn_libc.close(rn_connfd);
  rn_connfd = -1;
  dead = 0;
  reading = 0;
  pending = NULL;
  rn_forked_gen = rn_gen;
  rn_gen++;
  if (tl_evfd >= 0) { /* an eventfd shared with the parent would wake us for its calls */
    rn_libc.close(tl_evfd);
    pthread_setspecific(evfd_key, NULL);
  }
  tl_evfd = -1;
  rn_poll_reset();
}

__attribute__((constructor)) static void rn_init(void) {
  rn_libc_init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}
