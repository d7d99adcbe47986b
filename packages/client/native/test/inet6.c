/*
 * A test program for rumpnet-hijack's AF_INET6 sockets, run under
 * LD_PRELOAD by packages/client/test/native.test.ts against the stack's lo0
 * (::1 and 127.0.0.1): sockaddr_in6 in and out of every address call,
 * IPV6_V6ONLY set and read through, a dual-stack [::] listener taking an
 * IPv4 client as ::ffff:127.0.0.1, a v6-only one refusing it, UDP over ::1.
 * Prints "ok <case>" per case that held, "FAIL <case>: why" else; exits 0
 * only when all held.
 *
 *   inet6            the cases above (the sockets must be the stack's)
 *   inet6 --host     only: an AF_INET6 socket is a host one (RUMPHIJACK=inet)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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
      printf(" (errno %s)\n", strerror(errno));        \
      fails++;                                         \
    }                                                  \
    fflush(stdout);                                    \
  } while (0)

/* the library's reserved range starts at 1024 - 256 unless RUMPHIJACK_FDBASE moves it */
#define RUMP_FD_MIN 100

static const char *text6(const struct sockaddr_in6 *s) {
  static char b[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, &s->sin6_addr, b, sizeof b);
}

static int listener(int v6only, struct sockaddr_in6 *bound) {
  int l = socket(AF_INET6, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6only >= 0 && setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) return -1;
  struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
  if (bind(l, (struct sockaddr *)&any, sizeof any) < 0 || listen(l, 4) < 0) return -1;
  socklen_t sl = sizeof *bound;
  if (getsockname(l, (struct sockaddr *)bound, &sl) < 0 || sl != sizeof *bound) return -1;
  return l;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--host") == 0) {
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    CHECK("host-socket", s >= 0 && s < RUMP_FD_MIN, "socket %d", s);
    return fails ? 1 : 0;
  }

  /* a v6-only listener on [::]: its name is a sockaddr_in6, the option reads back */
  struct sockaddr_in6 a6;
  int la = listener(1, &a6);
  int v = -1;
  socklen_t vl = sizeof v;
  CHECK("v6only-listener", la >= RUMP_FD_MIN && a6.sin6_family == AF_INET6 && a6.sin6_port != 0 && IN6_IS_ADDR_UNSPECIFIED(&a6.sin6_addr) &&
        getsockopt(la, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl) == 0 && v == 1,
        "fd %d family %d port %d v6only %d", la, a6.sin6_family, ntohs(a6.sin6_port), v);
  printf("port %d fd %d\n", ntohs(a6.sin6_port), la);

  /* an IPv6 client to [::1]: both names are ::1, data flows */
  int c = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = a6.sin6_port, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int rc = connect(c, (struct sockaddr *)&to, sizeof to);
  struct sockaddr_in6 peer = {0}, mine = {0};
  socklen_t pl = sizeof peer, ml = sizeof mine;
  int s = rc == 0 ? accept(la, (struct sockaddr *)&peer, &pl) : -1;
  getsockname(c, (struct sockaddr *)&mine, &ml);
  CHECK("connect6", rc == 0 && s >= RUMP_FD_MIN && pl == sizeof peer && peer.sin6_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&peer.sin6_addr) &&
        peer.sin6_port == mine.sin6_port && mine.sin6_family == AF_INET6,
        "connect %d accept %d peer [%s]:%d len %u", rc, s, text6(&peer), ntohs(peer.sin6_port), (unsigned)pl);
  char buf[64];
  ssize_t n = send(c, "six", 3, 0);
  n = n == 3 ? recv(s, buf, sizeof buf, 0) : -1;
  CHECK("data6", n == 3 && memcmp(buf, "six", 3) == 0, "recv %zd", n);
  struct sockaddr_in6 gp = {0};
  socklen_t gl = sizeof gp;
  CHECK("getpeername6", getpeername(s, (struct sockaddr *)&gp, &gl) == 0 && gl == sizeof gp && IN6_IS_ADDR_LOOPBACK(&gp.sin6_addr) && gp.sin6_port == mine.sin6_port,
        "[%s]:%d", text6(&gp), ntohs(gp.sin6_port));
  close(c);
  close(s);

  /* IPv4 to the v6-only listener's port: nobody takes it */
  int c4 = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in to4 = {.sin_family = AF_INET, .sin_port = a6.sin6_port, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  rc = connect(c4, (struct sockaddr *)&to4, sizeof to4);
  CHECK("v6only-refuses-v4", rc < 0 && errno == ECONNREFUSED, "connect %d", rc);
  close(c4);
  close(la);

  /* a dual-stack listener (IPV6_V6ONLY 0, the default): an IPv4 client appears as ::ffff:127.0.0.1 */
  struct sockaddr_in6 b6;
  int lb = listener(-1, &b6);
  v = -1;
  vl = sizeof v;
  CHECK("dual-listener", lb >= RUMP_FD_MIN && getsockopt(lb, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl) == 0 && v == 0, "fd %d v6only %d", lb, v);
  c4 = socket(AF_INET, SOCK_STREAM, 0);
  to4.sin_port = b6.sin6_port;
  rc = connect(c4, (struct sockaddr *)&to4, sizeof to4);
  pl = sizeof peer;
  memset(&peer, 0, sizeof peer);
  s = rc == 0 ? accept(lb, (struct sockaddr *)&peer, &pl) : -1;
  CHECK("dual-takes-v4", rc == 0 && s >= 0 && peer.sin6_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr) &&
        peer.sin6_addr.s6_addr32[3] == htonl(INADDR_LOOPBACK),
        "connect %d accept %d peer [%s]", rc, s, text6(&peer));
  n = send(s, "mapped", 6, 0);
  n = n == 6 ? recv(c4, buf, sizeof buf, 0) : -1;
  CHECK("data-mapped", n == 6 && memcmp(buf, "mapped", 6) == 0, "recv %zd", n);
  close(c4);
  close(s);
  close(lb);

  /* UDP over ::1: recvfrom names the sender as a sockaddr_in6 */
  int u = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 ub = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t ul = sizeof ub;
  rc = u >= RUMP_FD_MIN && bind(u, (struct sockaddr *)&ub, sizeof ub) == 0 && getsockname(u, (struct sockaddr *)&ub, &ul) == 0 ? 0 : -1;
  n = rc == 0 ? sendto(u, "dgram6", 6, 0, (struct sockaddr *)&ub, sizeof ub) : -1;
  struct sockaddr_in6 from = {0};
  socklen_t fl = sizeof from;
  n = n == 6 ? recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) : -1;
  CHECK("udp6", n == 6 && memcmp(buf, "dgram6", 6) == 0 && fl == sizeof from && from.sin6_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&from.sin6_addr) &&
        from.sin6_port == ub.sin6_port,
        "fd %d recvfrom %zd from [%s]:%d", u, n, text6(&from), ntohs(from.sin6_port));
  /* recvmsg scatters a datagram over three iovecs (whether its bytes came by COPYOUT or inside the
     reply), fills msg_name, reports no control data and MSG_TRUNC for what did not fit */
  n = sendto(u, "abcdefghijklmnopqrstuvwxyz", 26, 0, (struct sockaddr *)&ub, sizeof ub);
  char p1[5] = {0}, p2[7] = {0}, p3[10] = {0}, cbuf[64];
  struct iovec mv[3] = {{p1, sizeof p1}, {p2, sizeof p2}, {p3, sizeof p3}};
  struct sockaddr_in6 mfrom = {0};
  struct msghdr mh = {.msg_name = &mfrom, .msg_namelen = sizeof mfrom, .msg_iov = mv, .msg_iovlen = 3, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  n = n == 26 ? recvmsg(u, &mh, 0) : -1;
  CHECK("recvmsg6", n == 22 && memcmp(p1, "abcde", 5) == 0 && memcmp(p2, "fghijkl", 7) == 0 && memcmp(p3, "mnopqrstuv", 10) == 0 &&
        mh.msg_namelen == sizeof mfrom && mfrom.sin6_port == ub.sin6_port && mh.msg_controllen == 0 && (mh.msg_flags & MSG_TRUNC),
        "recvmsg %zd flags %#x controllen %zu", n, mh.msg_flags, (size_t)mh.msg_controllen);
  /* a sockaddr_in6 shorter than RFC 2133's 24 bytes is EINVAL, as the kernel says */
  rc = sendto(u, "x", 1, 0, (struct sockaddr *)&ub, 20);
  CHECK("short-sockaddr6", rc < 0 && errno == EINVAL, "sendto %d", rc);
  close(u);
  printf("done %d failures\n", fails);
  return fails ? 1 : 0;
}
