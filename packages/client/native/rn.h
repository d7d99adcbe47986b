/*
 * rumpnet-hijack: shared declarations of the LD_PRELOAD library that runs an
 * unmodified program's AF_INET and AF_INET6 sockets on a rump server (NetBSD's
 * librumphijack + librumpclient, in one small library).
 *
 *   conn.c    the protocol (docs/PROTOCOL.md): one connection per process,
 *             frames, msgpack heads (msgpack-c), COPYIN/COPYOUT served from
 *             the caller's own buffers, leader/follower reading for threads.
 *   hijack.c  the descriptor table and the interposed libc calls.
 *   poll.c    poll/ppoll/select/pselect over host and rump descriptors.
 *   io.c      the data calls; epoll.c: epoll sets holding rump descriptors.
 */
#ifndef RN_H
#define RN_H

#include <msgpack.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* ----- libc, reached through dlsym(RTLD_NEXT) ----- */
struct rn_libc {
  int (*socket)(int, int, int);
  int (*close)(int);
  int (*connect)(int, const struct sockaddr *, socklen_t);
  ssize_t (*read)(int, void *, size_t);
  ssize_t (*write)(int, const void *, size_t);
  ssize_t (*readv)(int, const struct iovec *, int);
  ssize_t (*writev)(int, const struct iovec *, int);
  int (*poll)(struct pollfd *, nfds_t, int);
  int (*fcntl)(int, int, ...);
  int (*dup2)(int, int);
};
extern struct rn_libc rn_libc;
void rn_libc_init(void);

/* ----- diagnostics ----- */
void rn_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ----- the connection (conn.c) ----- */

/** Generation of the connection: bumped by every (re)connect and by fork, so stale descriptors are known. */
extern unsigned rn_gen;

/** One request being built: the args map goes into pk. */
struct rn_req {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  size_t handle_at; /* offset of the buffer handle's 4 bytes, 0 when none */
  int rx;           /* a receive: its reply may carry the bytes (inline receive) */
};

/** One call in flight. */
struct rn_pending {
  uint32_t reqno;
  /* the call's buffer (handle == reqno), as an iovec list */
  const struct iovec *iov;
  int iovcnt;
  size_t len;
  int done;
  int fault;       /* a COPYOUT (or a reply's inline bytes) could not be applied: EFAULT */
  int rx;          /* a receive: the buffer may be written from its reply's payload */
  int transport;   /* the connection died: ECONNRESET */
  int cls;         /* RESP or ERROR */
  char *headbuf;   /* the reply's head bytes (the unpacked object points into them) */
  msgpack_unpacked head;
  int has_head;
  int wakefd;      /* eventfd of the waiting thread */
  struct rn_pending *next;
};

/** Starts a SYSCALL request named name whose args map has nargs entries; pack them with rn_* below. */
void rn_req_begin(struct rn_req *r, const char *name, int nargs);
void rn_pk_key(struct rn_req *r, const char *k);
void rn_pk_str(struct rn_req *r, const char *s);
void rn_pk_int(struct rn_req *r, int64_t v);
void rn_pk_bool(struct rn_req *r, int v);
/** Packs "key": <the handle of this call's buffer>. */
void rn_pk_handle(struct rn_req *r, const char *k);
/** Packs a socket address as {family, address, port[, flowinfo, scopeId]}; -EAFNOSUPPORT/-EINVAL if it is not one. */
int rn_pk_sockaddr(struct rn_req *r, const struct sockaddr *sa, socklen_t len);

/** Ensures the connection is up (connecting lazily); 0 or -errno (a message went to stderr). */
int rn_connect(void);
/** Sends the request; p is registered until rn_finish. 0 or -errno. */
int rn_start(struct rn_req *r, const struct iovec *iov, int iovcnt, struct rn_pending *p);
/**
 * Waits for p's reply. With hostfds (nhost entries) the wait also ends when one of them is ready or
 * timeout_ms passes: returns 1 then (p still in flight), 0 when p is done.
 */
int rn_wait(struct rn_pending *p, struct pollfd *hostfds, nfds_t nhost, int timeout_ms);
/** Result of a done call: 0 and *res (the result map), or -errno. */
int rn_result(struct rn_pending *p, msgpack_object **res);
/** Frees the reply. */
void rn_release(struct rn_pending *p);
/** rn_start + rn_wait + rn_result; the caller rn_release()s p. */
int rn_call(struct rn_req *r, const struct iovec *iov, int iovcnt, struct rn_pending *p, msgpack_object **res);
/** The connection's host descriptor (protected from the program's close/dup2), -1 when none. */
extern int rn_connfd;

/** Moves a host descriptor of the library's own into the reserved range (close-on-exec); returns its new number. */
int rn_fd_place(int fd);
/** Generations up to this one were the parent's (before fork): their sockets are EBADF here. */
extern unsigned rn_forked_gen;

/* ----- msgpack helpers ----- */
msgpack_object *rn_map_get(msgpack_object *m, const char *key);
int rn_obj_int(msgpack_object *o, int64_t *v);
/** A wire address as a sockaddr; returns the length written (truncated to *cap as the kernel does) or -EINVAL. */
int rn_sockaddr_out(msgpack_object *o, struct sockaddr *sa, socklen_t *len);

/* ----- descriptors (hijack.c) ----- */

/** A rump socket: one server descriptor, shared by dup()s (one open file description). */
struct rn_sock {
  int sfd;          /* the server's descriptor */
  unsigned gen;     /* rn_gen when it was made */
  int refs;
  int nonblock;     /* O_NONBLOCK of the description */
  int domain, type;
  int rcvtimeo_ms;  /* SO_RCVTIMEO / SO_SNDTIMEO, 0 = none: the blocking emulation's poll timeout */
  int sndtimeo_ms;
};

/** The rump socket behind host number fd, or NULL (a host descriptor). */
struct rn_sock *rn_sock_of(int fd);
/** 0 when s belongs to the live connection; else -ECONNRESET (the server went away) or -EBADF (after fork). */
int rn_sock_live(struct rn_sock *s);
/** Polls the server for one socket (the blocking emulation): revents, or -errno. */
int rn_poll1(struct rn_sock *s, short events, int timeout_ms);

/* ----- poll (poll.c) ----- */
int rn_poll_mixed(struct pollfd *fds, nfds_t n, int timeout_ms);
/** Resets the wake socket (after fork or a reconnect). */
void rn_poll_reset(void);

/* ----- epoll (epoll.c) ----- */
/** close() of fd: forget it in the rump interest lists (and the list of an epoll descriptor fd). */
void rn_epoll_closed(int fd);

#endif
