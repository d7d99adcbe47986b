/*
 * A test program for rumpnet-hijack, run under LD_PRELOAD by
 * packages/client/test/native.test.ts: a host pipe and rump TCP sockets in
 * one poll() and one select(), in every order of readiness, with a second
 * thread making rump calls while the first is blocked in the mixed poll.
 * Prints one "ok <case>" line per case that held, "FAIL <case>: why" else;
 * exits 0 only when all held. Everything it does goes over 127.0.0.1 on the
 * stack's lo0 (a non-hijacked run would use the host's loopback, which the
 * test rules out by checking the server's socket table).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fails;
#define CHECK(name, cond, ...)                         \
  do {                                                 \
    if (cond) printf("ok %s\n", name);                 \
    else {                                             \
      printf("FAIL %s: ", name);                       \
      printf(__VA_ARGS__);                             \
      printf(" (errno %s)\n", strerror(errno));        \
      fails++;                                         \
    }                                                  \
    fflush(stdout);                                    \
  } while (0)

static long ms_since(struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

struct later { int fd; int delay_ms; const char *what; };
static void *write_later(void *p) {
  struct later *l = p;
  usleep((useconds_t)l->delay_ms * 1000);
  ssize_t w = write(l->fd, l->what, strlen(l->what));
  (void)w;
  return NULL;
}

int main(void) {
  int pfd[2];
  if (pipe(pfd) < 0) return perror("pipe"), 2;
  int lst = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int one = 1;
  setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  CHECK("listen", bind(lst, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(lst, 4) == 0, "bind/listen");
  socklen_t sl = sizeof sin;
  getsockname(lst, (struct sockaddr *)&sin, &sl);
  printf("port %d fd %d\n", ntohs(sin.sin_port), lst);

  /* a non-blocking connect: EINPROGRESS, then POLLOUT and SO_ERROR 0 */
  int cli = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int rc = connect(cli, (struct sockaddr *)&sin, sizeof sin);
  CHECK("connect-inprogress", rc == 0 || errno == EINPROGRESS, "connect rc %d", rc);
  struct pollfd cp = {cli, POLLOUT, 0};
  int err = -1;
  socklen_t el = sizeof err;
  CHECK("connect-pollout", poll(&cp, 1, 5000) == 1 && (cp.revents & POLLOUT) && getsockopt(cli, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0,
        "revents %#x so_error %d", cp.revents, err);
  int srv = accept(lst, NULL, NULL);
  CHECK("accept", srv >= 0 && srv != pfd[0] && srv != pfd[1], "accept %d", srv);
  int fl = fcntl(cli, F_GETFL);
  CHECK("fcntl-nonblock", (fl & O_NONBLOCK) && fcntl(cli, F_SETFL, fl & ~O_NONBLOCK) == 0 && !(fcntl(cli, F_GETFL) & O_NONBLOCK), "flags %#x", fl);

  struct pollfd set[2] = {{pfd[0], POLLIN, 0}, {srv, POLLIN, 0}};
  struct timespec t0;
  char buf[64];

  /* nothing ready: the timeout is kept */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = poll(set, 2, 300);
  long el_ms = ms_since(&t0);
  CHECK("mixed-timeout", rc == 0 && el_ms >= 290 && el_ms < 5000, "rc %d after %ld ms", rc, el_ms);

  /* the host side becomes ready while the rump poll waits on the server (it must be cancelled) */
  pthread_t th;
  struct later l1 = {pfd[1], 150, "p"};
  pthread_create(&th, NULL, write_later, &l1);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = poll(set, 2, -1);
  el_ms = ms_since(&t0);
  pthread_join(th, NULL);
  CHECK("mixed-host-wins", rc == 1 && set[0].revents == POLLIN && set[1].revents == 0 && el_ms < 5000, "rc %d revents %#x %#x after %ld ms", rc, set[0].revents, set[1].revents, el_ms);
  CHECK("pipe-read", read(pfd[0], buf, sizeof buf) == 1, "read");

  /* the rump side becomes ready: another thread sends while this one is blocked in the mixed poll */
  struct later l2 = {cli, 150, "rump-data"};
  pthread_create(&th, NULL, write_later, &l2);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = poll(set, 2, 10000);
  el_ms = ms_since(&t0);
  pthread_join(th, NULL);
  CHECK("mixed-rump-wins", rc == 1 && set[0].revents == 0 && (set[1].revents & POLLIN) && el_ms < 5000, "rc %d revents %#x %#x after %ld ms", rc, set[0].revents, set[1].revents, el_ms);
  int avail = -1;
  CHECK("fionread", ioctl(srv, FIONREAD, &avail) == 0 && avail == 9, "FIONREAD %d", avail);
  ssize_t n = read(srv, buf, sizeof buf);
  CHECK("rump-read", n == 9 && memcmp(buf, "rump-data", 9) == 0, "read %zd", n);

  /*
   * both ready at once. send() returns once the stack has the byte, not once
   * it has crossed lo0 to srv (the server delivers it on a later turn of its
   * loop, late on a loaded machine), so wait for srv alone first: a sleep
   * here made "mixed-both" see only the pipe now and then.
   */
  ssize_t w1 = write(pfd[1], "x", 1), w2 = send(cli, "y", 1, 0);
  (void)w1;
  struct pollfd only = {srv, POLLIN, 0};
  int arrived = poll(&only, 1, 10000);
  rc = poll(set, 2, 1000);
  CHECK("mixed-both", rc == 2 && set[0].revents == POLLIN && (set[1].revents & POLLIN), "rc %d (send %zd, srv alone %d) revents %#x %#x", rc, w2, arrived, set[0].revents, set[1].revents);

  /* select() over the same two, readiness from each side */
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(pfd[0], &rs);
  FD_SET(srv, &rs);
  struct timeval tv = {1, 0};
  rc = select((pfd[0] > srv ? pfd[0] : srv) + 1, &rs, NULL, NULL, &tv);
  CHECK("select-both", rc == 2 && FD_ISSET(pfd[0], &rs) && FD_ISSET(srv, &rs), "rc %d", rc);
  n = read(pfd[0], buf, 1);
  n = recv(srv, buf, sizeof buf, 0);
  FD_ZERO(&rs);
  FD_SET(pfd[0], &rs);
  FD_SET(srv, &rs);
  tv = (struct timeval){0, 200000};
  rc = select((pfd[0] > srv ? pfd[0] : srv) + 1, &rs, NULL, NULL, &tv);
  CHECK("select-timeout", rc == 0 && !FD_ISSET(pfd[0], &rs) && !FD_ISSET(srv, &rs), "rc %d", rc);

  /* epoll: a pipe (in the kernel's set) and a rump socket (kept by the library) in one set */
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1}, got[4];
  int ok = epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev) == 0;
  ev.data.u32 = 2;
  ok = ok && epoll_ctl(ep, EPOLL_CTL_ADD, srv, &ev) == 0;
  CHECK("epoll-add", ok && epoll_ctl(ep, EPOLL_CTL_ADD, srv, &ev) < 0 && errno == EEXIST, "epoll_ctl");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = epoll_wait(ep, got, 4, 200);
  el_ms = ms_since(&t0);
  CHECK("epoll-timeout", rc == 0 && el_ms >= 190, "rc %d after %ld ms", rc, el_ms);
  pthread_create(&th, NULL, write_later, &l2);
  rc = epoll_wait(ep, got, 4, 10000);
  pthread_join(th, NULL);
  CHECK("epoll-rump", rc == 1 && got[0].data.u32 == 2 && (got[0].events & EPOLLIN), "rc %d data %u", rc, got[0].data.u32);
  n = recv(srv, buf, sizeof buf, 0);
  pthread_create(&th, NULL, write_later, &l1);
  rc = epoll_wait(ep, got, 4, 10000);
  pthread_join(th, NULL);
  CHECK("epoll-host", rc == 1 && got[0].data.u32 == 1 && (got[0].events & EPOLLIN), "rc %d data %u", rc, got[0].data.u32);
  n = read(pfd[0], buf, sizeof buf);
  close(ep);

  /* dup shares the socket; closing one number keeps the other working */
  int d = dup(srv);
  close(srv);
  n = send(cli, "dup", 3, 0);
  n = recv(d, buf, sizeof buf, 0);
  CHECK("dup", n == 3 && memcmp(buf, "dup", 3) == 0, "recv %zd", n);

  /*
   * fork: the child's inherited rump sockets are the parent's session's,
   * unusable there (EBADF) and closable without touching the parent's; a
   * new socket in the child opens the child's own session.
   */
  pid_t pid = fork();
  if (pid == 0) {
    int bad = send(cli, "x", 1, MSG_NOSIGNAL) < 0 && errno == EBADF;
    int closed = close(cli) == 0;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof any;
    int own = u >= 0 && bind(u, (struct sockaddr *)&any, sizeof any) == 0 && getsockname(u, (struct sockaddr *)&any, &al) == 0 && any.sin_port != 0;
    _exit(bad && closed && own ? 0 : 10 + bad * 1 + closed * 2 + own * 4);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK("fork-child", WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
  n = send(cli, "after-fork", 10, 0);
  n = recv(d, buf, sizeof buf, 0);
  CHECK("fork-parent", n == 10 && memcmp(buf, "after-fork", 10) == 0, "recv %zd", n);

  /* EOF: the peer's close is POLLIN and a 0-byte read */
  close(cli);
  struct pollfd e = {d, POLLIN, 0};
  rc = poll(&e, 1, 5000);
  n = read(d, buf, sizeof buf);
  CHECK("eof", rc == 1 && n == 0, "rc %d read %zd", rc, n);
  close(d);
  close(lst);
  printf("done %d failures\n", fails);
  return fails ? 1 : 0;
}
