/*
 * A test program for rumpnet-hijack, run under LD_PRELOAD by
 * packages/client/test/native.test.ts: the rump server disappears (the test
 * kills it) while four threads are blocked in it -- recv() on a connected
 * socket, accept() on a listener, a poll() mixing a pipe with a rump
 * socket, and a send() loop whose peer never reads (blocked on a full send
 * buffer, its COPYINs served from the program's buffer). Each must come back with an error of the ECONNRESET/EBADF class
 * (or the hang-up in revents), never hang or crash; later calls on the old
 * sockets fail the same way, close() succeeds, and a new socket() fails
 * with a clear errno because there is no server to reach.
 * Prints "blocked" once the threads are in their calls, then "ok <case>"
 * or "FAIL <case>: why"; exits 0 only when all held.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fails;
#define CHECK(name, cond, ...)                         \
  do {                                                 \
    if (cond) printf("ok %s\n", name);                 \
    else {                                             \
      printf("FAIL %s: ", name);                       \
      printf(__VA_ARGS__);                             \
      printf("\n");                                    \
      fails++;                                         \
    }                                                  \
    fflush(stdout);                                    \
  } while (0)

/* the errors a program may see for a socket whose server went away */
static int reset_class(int e) { return e == ECONNRESET || e == EBADF || e == EPIPE || e == ENOTCONN || e == ECONNABORTED; }

struct call { int fd, fd2; long rc; int err; short rev; };

static void *do_recv(void *p) {
  struct call *c = p;
  char b[64];
  c->rc = recv(c->fd, b, sizeof b, 0);
  c->err = errno;
  return NULL;
}
static void *do_accept(void *p) {
  struct call *c = p;
  c->rc = accept(c->fd, NULL, NULL);
  c->err = errno;
  return NULL;
}
static void *do_send(void *p) {
  struct call *c = p;
  static char big[256 * 1024];
  long total = 0, n;
  while ((n = send(c->fd, big, sizeof big, MSG_NOSIGNAL)) > 0) total += n;
  c->rc = n;
  c->err = errno;
  c->fd2 = total > 0; /* the loop had sent something before the server went */
  return NULL;
}
static void *do_poll(void *p) {
  struct call *c = p;
  struct pollfd set[2] = {{c->fd2, POLLIN, 0}, {c->fd, POLLIN, 0}};
  c->rc = poll(set, 2, -1);
  c->err = errno;
  c->rev = set[1].revents;
  return NULL;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* a send on a dead socket must be an error either way; the library raises no SIGPIPE of its own */
  int pfd[2];
  if (pipe(pfd) < 0) return perror("pipe"), 2;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sin;
  int ok = l >= 0 && bind(l, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(l, 4) == 0 && getsockname(l, (struct sockaddr *)&sin, &sl) == 0;
  int cli = socket(AF_INET, SOCK_STREAM, 0);
  ok = ok && connect(cli, (struct sockaddr *)&sin, sizeof sin) == 0;
  int srv = ok ? accept(l, NULL, NULL) : -1;
  int l2 = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ok = ok && srv >= 0 && l2 >= 0 && bind(l2, (struct sockaddr *)&any, sizeof any) == 0 && listen(l2, 4) == 0;
  int cli2 = socket(AF_INET, SOCK_STREAM, 0);
  ok = ok && connect(cli2, (struct sockaddr *)&sin, sizeof sin) == 0;
  int srv2 = ok ? accept(l, NULL, NULL) : -1; /* never read: cli2's sends fill the buffers and block */
  ok = ok && srv2 >= 0;
  CHECK("setup", ok, "listen/connect/accept (errno %s)", strerror(errno));
  if (!ok) return 1;

  struct call r = {srv, -1, 0, 0, 0}, a = {l2, -1, 0, 0, 0}, pl = {cli, pfd[0], 0, 0, 0}, sd = {cli2, 0, 0, 0, 0};
  pthread_t tr, ta, tp, ts;
  pthread_create(&tr, NULL, do_recv, &r);
  pthread_create(&ta, NULL, do_accept, &a);
  pthread_create(&tp, NULL, do_poll, &pl);
  pthread_create(&ts, NULL, do_send, &sd);
  usleep(300 * 1000); /* (the threads' calls are in the server by now; if one is not, it meets the dead connection instead: the same errors) */
  printf("blocked\n");
  fflush(stdout);

  pthread_join(tr, NULL);
  CHECK("recv", r.rc < 0 && reset_class(r.err), "recv %ld errno %s", r.rc, strerror(r.err));
  pthread_join(ta, NULL);
  CHECK("accept", a.rc < 0 && reset_class(a.err), "accept %ld errno %s", a.rc, strerror(a.err));
  pthread_join(tp, NULL);
  CHECK("poll", pl.rc == 1 && (pl.rev & (POLLERR | POLLHUP)), "poll %ld revents %#x errno %s", pl.rc, pl.rev, strerror(pl.err));
  pthread_join(ts, NULL);
  CHECK("send-blocked", sd.fd2 && sd.rc < 0 && reset_class(sd.err), "sent before: %d, last send %ld errno %s", sd.fd2, sd.rc, strerror(sd.err));

  /* afterwards: the old sockets fail the same way, close works, a new socket cannot reach a server */
  errno = 0;
  long n = send(cli, "x", 1, 0);
  CHECK("send-after", n < 0 && reset_class(errno), "send %ld errno %s", n, strerror(errno));
  errno = 0;
  int so = -1;
  socklen_t ol = sizeof so;
  int g = getsockopt(srv, SOL_SOCKET, SO_ERROR, &so, &ol);
  CHECK("getsockopt-after", g < 0 && reset_class(errno), "getsockopt %d errno %s", g, strerror(errno));
  CHECK("close-after", close(cli) == 0 && close(srv) == 0 && close(l) == 0 && close(l2) == 0 && close(cli2) == 0 && close(srv2) == 0, "close errno %s", strerror(errno));
  errno = 0;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  CHECK("socket-after", s < 0 && (errno == ECONNREFUSED || errno == ENETDOWN || errno == ECONNRESET), "socket %d errno %s", s, strerror(errno));
  printf("done %d failures\n", fails);
  return fails ? 1 : 0;
}
