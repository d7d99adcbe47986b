// tapbridge: the small native half of @rumpnet/tap-bridge.
//
// What lives here, and why it has to be native:
//   * opening a Linux tap device (TUNSETIFF on /dev/net/tun) and setting its
//     MTU, MAC and IFF_UP with ioctls: Node has no ioctl;
//   * AF_UNIX SOCK_DGRAM sockets for the rootless bus: Node has no Unix
//     datagram sockets;
//   * the peer credentials of a Unix stream socket (SO_PEERCRED and
//     SO_PEERGROUPS): Node has no getsockopt;
//   * a FrameIo poller that watches a non-blocking fd from the event loop
//     with uv_poll_t and, on each wake-up, reads EVERY ready frame into one
//     pooled buffer and calls JavaScript once for the whole batch. Going
//     through the libuv thread pool per frame costs about 40 us a frame; a
//     direct read/write costs 2-3 us, so the fd is never handed to the pool.
//
// Nothing here throws a C++ exception (NAPI_DISABLE_CPP_EXCEPTIONS) and
// nothing aborts: every OS error becomes a JavaScript Error with `code`,
// `errno` and `syscall`, or a negative errno return on the data path.

#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <net/if.h>
#include <net/if_arp.h>
#include <linux/if_tun.h>

#include <string>
#include <vector>

namespace {

// ---------------------------------------------------------------------------
// Errors

// Throws a JS Error carrying Node's usual fields (code/errno/syscall), so the
// TypeScript side can wrap it in a TapError without parsing messages.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));  // libuv codes are -errno on Unix
  e.Set("errno", Napi::Number::New(env, -err));              // negative, as in Node
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

std::string Describe(int err) { return std::string(uv_err_name(-err)) + " (" + strerror(err) + ")"; }

// ---------------------------------------------------------------------------
// Network namespaces
//
// A tap fd and an AF_INET control socket stay bound to the namespace they were
// created in, whatever the thread does afterwards. So a process outside a
// namespace can open a tap inside it by entering the namespace on this thread
// for the duration of the open only (what `ip netns exec` does for a whole
// process). setns(2) affects the calling thread alone: libuv's pool threads
// and Node's other threads never move.
class NetnsGuard {
 public:
  // Returns 0, or an errno with `step` naming the failing call.
  int Enter(const std::string& path, const char** step) {
    if (path.empty()) return 0;
    orig_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig_ < 0) { *step = "open"; return errno; }
    int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) { *step = "open"; return errno; }
    int rc = setns(target, CLONE_NEWNET);
    int err = errno;
    close(target);
    if (rc < 0) { *step = "setns"; return err; }
    entered_ = true;
    return 0;
  }
  ~NetnsGuard() {
    // Going back to the namespace we came from cannot fail for a thread that
    // was allowed to leave it; if it ever did we report it and carry on
    // rather than abort (the process would merely see the wrong namespace).
    if (entered_ && setns(orig_, CLONE_NEWNET) < 0) {
      fprintf(stderr, "tapbridge: cannot return to the original netns: %s\n", strerror(errno));
    }
    if (orig_ >= 0) close(orig_);
  }

 private:
  int orig_ = -1;
  bool entered_ = false;
};

// ---------------------------------------------------------------------------
// Tap devices

// openTap({ name, vnetHdr, multiQueue, netns, offload }) -> { fd, ctlFd, name, vnetHdrSize }
//
// With vnetHdr, every frame on the fd carries a 10-byte struct virtio_net_hdr
// in front (TUNSETVNETHDRSZ 10, little-endian fields: TUNSETVNETLE), and
// `offload` (TUN_F_* bits, -1 for none) is passed to TUNSETOFFLOAD: what the
// reader can take — partial checksums (TUN_F_CSUM), TCP super-packets
// (TUN_F_TSO4). The kernel then turns on the matching netdev features of the
// Linux side (NETIF_F_HW_CSUM, NETIF_F_TSO) and hands us such frames.
Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "openTap: options object expected");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string name = o.Has("name") && o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "";
  bool vnet = o.Has("vnetHdr") && o.Get("vnetHdr").ToBoolean().Value();
  bool mq = o.Has("multiQueue") && o.Get("multiQueue").ToBoolean().Value();
  std::string netns = o.Has("netns") && o.Get("netns").IsString() ? o.Get("netns").As<Napi::String>().Utf8Value() : "";
  int offload = o.Has("offload") && o.Get("offload").IsNumber() ? o.Get("offload").As<Napi::Number>().Int32Value() : -1;
  if (name.size() >= IFNAMSIZ) return ThrowErrno(env, EINVAL, "open", "tap name '" + name + "' is longer than 15 bytes");

  NetnsGuard ns;
  const char* step = "";
  if (int err = ns.Enter(netns, &step)) {
    return ThrowErrno(env, err, step, "cannot enter network namespace " + netns + ": " + Describe(err) +
                                          (err == EPERM ? " (needs CAP_SYS_ADMIN)" : ""));
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO)
      return ThrowErrno(env, err, "open", "no /dev/net/tun: load the tun module or run in a container with /dev/net/tun");
    if (err == EPERM || err == EACCES)
      return ThrowErrno(env, err, "open", "opening /dev/net/tun needs CAP_NET_ADMIN (or read/write access to the device)");
    return ThrowErrno(env, err, "open", "cannot open /dev/net/tun: " + Describe(err));
  }

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  // IFF_NO_PI: no 4-byte packet-information prefix, the fd carries bare
  // Ethernet frames (with a virtio_net_hdr in front when IFF_VNET_HDR).
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (mq ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    std::string who = "tap '" + (name.empty() ? std::string("(kernel-chosen)") : name) + "'";
    if (err == EPERM || err == EACCES)
      return ThrowErrno(env, err, "ioctl", "creating or attaching " + who + " needs CAP_NET_ADMIN");
    if (err == EBUSY)
      return ThrowErrno(env, err, "ioctl", who + ": name busy (already attached by another file descriptor)");
    if (err == EINVAL)
      return ThrowErrno(env, err, "ioctl", who + ": exists with another type or flags (tun vs tap, multi-queue, vnet header)");
    return ThrowErrno(env, err, "ioctl", "TUNSETIFF " + who + ": " + Describe(err));
  }

  int vnetSize = 0;
  if (vnet) {
    // 10 bytes: no num_buffers (we never merge receive buffers). Little-endian
    // fields whatever the host (TUNSETVNETLE; on a little-endian host that is
    // the default anyway, so a kernel refusing it changes nothing there).
    vnetSize = 10;
    int le = 1;
    if (ioctl(fd, TUNSETVNETHDRSZ, &vnetSize) < 0 || (ioctl(fd, TUNSETVNETLE, &le) < 0 && errno != EINVAL)) {
      int err = errno;
      close(fd);
      return ThrowErrno(env, err, "ioctl", "TUNSETVNETHDRSZ/TUNSETVNETLE: " + Describe(err));
    }
    if (offload >= 0 && ioctl(fd, TUNSETOFFLOAD, (unsigned long)offload) < 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(env, err, "ioctl", "TUNSETOFFLOAD " + std::to_string(offload) + ": " + Describe(err));
    }
  } else if (offload == 0) {
    // A plain reader clears the Linux side's CSUM/TSO features: a persistent
    // tap keeps them from an earlier reader that had a vnet header, and the
    // kernel would then hand us super-packets with nothing to say so. Best
    // effort: a kernel without TUNSETOFFLOAD never set them.
    (void)ioctl(fd, TUNSETOFFLOAD, 0UL);
  }

  // The control socket for SIOC[GS]IF* ioctls; created here so that it lives
  // in the same namespace as the device.
  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "socket", "cannot create the interface control socket: " + Describe(err));
  }

  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", Napi::Number::New(env, fd));
  r.Set("ctlFd", Napi::Number::New(env, ctl));
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  r.Set("name", Napi::String::New(env, ifr.ifr_name));
  r.Set("vnetHdrSize", Napi::Number::New(env, vnetSize));
  return r;
}

// Common prologue of the interface ioctls: (ctlFd, ifname, ...).
bool IfArgs(const Napi::CallbackInfo& info, int* ctl, struct ifreq* ifr) {
  if (!info[0].IsNumber() || !info[1].IsString()) {
    ThrowType(info.Env(), "expected (ctlFd, ifname, ...)");
    return false;
  }
  *ctl = info[0].As<Napi::Number>().Int32Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  memset(ifr, 0, sizeof *ifr);
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ThrowErrno(info.Env(), EINVAL, "ioctl", "bad interface name '" + name + "'");
    return false;
  }
  memcpy(ifr->ifr_name, name.data(), name.size());
  return true;
}

Napi::Value IfThrow(Napi::Env env, int err, const char* what, const struct ifreq& ifr) {
  std::string msg = std::string(what) + " " + ifr.ifr_name + ": ";
  if (err == EPERM || err == EACCES) msg += "needs CAP_NET_ADMIN";
  else if (err == ENODEV) msg += "no such interface";
  else msg += Describe(err);
  return ThrowErrno(env, err, "ioctl", msg);
}

// setMtu(ctlFd, ifname, mtu): SIOCSIFMTU. A tap takes 68..65535.
Napi::Value SetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ctl;
  struct ifreq ifr;
  if (!IfArgs(info, &ctl, &ifr)) return env.Undefined();
  if (!info[2].IsNumber()) return ThrowType(env, "setMtu: mtu must be a number");
  double mtu = info[2].As<Napi::Number>().DoubleValue();
  if (!(mtu >= 0 && mtu <= 0x7fffffff) || mtu != (int)mtu)
    return ThrowErrno(env, EINVAL, "ioctl", "bad MTU " + std::to_string(mtu) + " for " + ifr.ifr_name);
  ifr.ifr_mtu = (int)mtu;
  if (ioctl(ctl, SIOCSIFMTU, &ifr) < 0) {
    int err = errno;
    if (err == EINVAL)
      return ThrowErrno(env, err, "ioctl", "bad MTU " + std::to_string((int)mtu) + " for " + ifr.ifr_name + " (a tap takes 68..65535)");
    return IfThrow(env, err, "SIOCSIFMTU", ifr);
  }
  return env.Undefined();
}

// getMtu(ctlFd, ifname) -> number
Napi::Value GetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ctl;
  struct ifreq ifr;
  if (!IfArgs(info, &ctl, &ifr)) return env.Undefined();
  if (ioctl(ctl, SIOCGIFMTU, &ifr) < 0) return IfThrow(env, errno, "SIOCGIFMTU", ifr);
  return Napi::Number::New(env, ifr.ifr_mtu);
}

// setMac(ctlFd, ifname, Uint8Array(6)): SIOCSIFHWADDR. Taps allow a live change.
Napi::Value SetMac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ctl;
  struct ifreq ifr;
  if (!IfArgs(info, &ctl, &ifr)) return env.Undefined();
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[2].As<Napi::Uint8Array>().ElementLength() != 6)
    return ThrowType(env, "setMac: a 6-byte Uint8Array expected");
  Napi::Uint8Array mac = info[2].As<Napi::Uint8Array>();
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, mac.Data(), 6);
  if (ioctl(ctl, SIOCSIFHWADDR, &ifr) < 0) {
    int err = errno;
    if (err == EADDRNOTAVAIL || err == EINVAL)
      return ThrowErrno(env, err, "ioctl", std::string("bad MAC for ") + ifr.ifr_name + " (multicast or zero address)");
    return IfThrow(env, err, "SIOCSIFHWADDR", ifr);
  }
  return env.Undefined();
}

// getMac(ctlFd, ifname) -> Uint8Array(6)
Napi::Value GetMac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ctl;
  struct ifreq ifr;
  if (!IfArgs(info, &ctl, &ifr)) return env.Undefined();
  if (ioctl(ctl, SIOCGIFHWADDR, &ifr) < 0) return IfThrow(env, errno, "SIOCGIFHWADDR", ifr);
  Napi::Uint8Array mac = Napi::Uint8Array::New(env, 6);
  memcpy(mac.Data(), ifr.ifr_hwaddr.sa_data, 6);
  return mac;
}

// getFlags(ctlFd, ifname) -> number (IFF_UP = 1, IFF_RUNNING = 0x40, ...)
Napi::Value GetFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ctl;
  struct ifreq ifr;
  if (!IfArgs(info, &ctl, &ifr)) return env.Undefined();
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) return IfThrow(env, errno, "SIOCGIFFLAGS", ifr);
  return Napi::Number::New(env, (unsigned short)ifr.ifr_flags);
}

// setUp(ctlFd, ifname, up): read-modify-write of IFF_UP, as ifconfig does.
Napi::Value SetUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ctl;
  struct ifreq ifr;
  if (!IfArgs(info, &ctl, &ifr)) return env.Undefined();
  bool up = info[2].ToBoolean().Value();
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) return IfThrow(env, errno, "SIOCGIFFLAGS", ifr);
  if (up) ifr.ifr_flags |= IFF_UP;
  else ifr.ifr_flags &= ~IFF_UP;
  if (ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0) return IfThrow(env, errno, "SIOCSIFFLAGS", ifr);
  return env.Undefined();
}

// closeFd(fd): for control sockets (FrameIo closes its own fd).
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) {
    int fd = info[0].As<Napi::Number>().Int32Value();
    if (fd >= 0) close(fd);
  }
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------
// Unix datagram sockets (the bus)

bool FillSun(const std::string& path, struct sockaddr_un* sun) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sun->sun_path) return false;
  memcpy(sun->sun_path, path.data(), path.size());
  return true;
}

// openUnixDgram(path, bufBytes) -> fd. Binds a non-blocking datagram socket.
Napi::Value OpenUnixDgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "openUnixDgram: path expected");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int buf = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  struct sockaddr_un sun;
  if (!FillSun(path, &sun))
    return ThrowErrno(env, ENAMETOOLONG, "bind", "bus socket path is empty or longer than 107 bytes: " + path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket", "cannot create a Unix datagram socket: " + Describe(errno));
  if (buf > 0) {
    // Best effort: a larger receive buffer absorbs bursts between wake-ups.
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  }
  if (bind(fd, (struct sockaddr*)&sun, sizeof sun) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "bind", "cannot bind bus socket " + path + ": " + Describe(err));
  }
  return Napi::Number::New(env, fd);
}

// probeUnixDgram(path) -> 0 | -errno. connect(2) on a datagram socket sends
// nothing, yet fails with ECONNREFUSED when the file is a socket nobody is
// bound to any more: the one safe sign that a bus member is dead.
Napi::Value ProbeUnixDgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "probeUnixDgram: path expected");
  struct sockaddr_un sun;
  if (!FillSun(info[0].As<Napi::String>().Utf8Value(), &sun)) return Napi::Number::New(env, -ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  int rc = connect(fd, (struct sockaddr*)&sun, sizeof sun) < 0 ? -errno : 0;
  close(fd);
  return Napi::Number::New(env, rc);
}

// ---------------------------------------------------------------------------
// Peer credentials

// peerCred(fd) -> { pid, uid, gid, groups: number[] | null }
//
// SO_PEERCRED hands back the credentials the peer had when it called
// connect(2) (or socketpair(2)): the kernel copies them into the socket then,
// so a peer that later exits, setuid()s or passes the fd on cannot change
// what we read — the property an access decision wants. SO_PEERGROUPS
// (Linux 4.13) gives the supplementary groups captured at the same moment;
// on an older kernel `groups` is null and the caller decides what to do.
// Only Unix domain sockets carry credentials: anything else is ENOTSUP.
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "peerCred: fd expected");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) return ThrowErrno(env, EBADF, "getsockopt", "peerCred: no file descriptor (" + std::to_string(fd) + ")");
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) {
    int err = errno;
    return ThrowErrno(env, err, "getsockopt", "peerCred: SO_DOMAIN of fd " + std::to_string(fd) + ": " + Describe(err));
  }
  if (domain != AF_UNIX) {
    return ThrowErrno(env, ENOTSUP, "getsockopt",
                      "peerCred: fd " + std::to_string(fd) + " is not a Unix domain socket; only those carry peer credentials");
  }
  struct ucred uc;
  socklen_t len = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
    int err = errno;
    return ThrowErrno(env, err, "getsockopt", "peerCred: SO_PEERCRED of fd " + std::to_string(fd) + ": " + Describe(err));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, uc.pid));
  o.Set("uid", Napi::Number::New(env, uc.uid));
  o.Set("gid", Napi::Number::New(env, uc.gid));
#ifdef SO_PEERGROUPS
  // The kernel says how much room it needs with ERANGE; NGROUPS_MAX is 65536.
  std::vector<gid_t> groups(64);
  for (int round = 0; round < 3; round++) {
    socklen_t glen = groups.size() * sizeof(gid_t);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      size_t n = glen / sizeof(gid_t);
      Napi::Array a = Napi::Array::New(env, n);
      for (size_t i = 0; i < n; i++) a.Set(i, Napi::Number::New(env, groups[i]));
      o.Set("groups", a);
      return o;
    }
    if (errno != ERANGE) break;
    groups.resize(glen / sizeof(gid_t) + 1);
  }
#endif
  o.Set("groups", env.Null());
  return o;
}

// ---------------------------------------------------------------------------
// FrameIo: batched, thread-pool-free I/O on one non-blocking fd

class FrameIo : public Napi::ObjectWrap<FrameIo> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FrameIo",
                       {
                           InstanceMethod<&FrameIo::Start>("start"),
                           InstanceMethod<&FrameIo::Pause>("pause"),
                           InstanceMethod<&FrameIo::WantWritable>("wantWritable"),
                           InstanceMethod<&FrameIo::Write>("write"),
                           InstanceMethod<&FrameIo::WriteBatch>("writeBatch"),
                           InstanceMethod<&FrameIo::WriteGso>("writeGso"),
                           InstanceMethod<&FrameIo::BusyPoll>("busyPoll"),
                           InstanceMethod<&FrameIo::SetVnetHdr>("setVnetHdr"),
                           InstanceMethod<&FrameIo::SendTo>("sendto"),
                           InstanceMethod<&FrameIo::Close>("close"),
                           InstanceMethod<&FrameIo::RefLoop>("ref"),
                           InstanceMethod<&FrameIo::UnrefLoop>("unref"),
                           InstanceAccessor<&FrameIo::GetLastErrno>("lastErrno"),
                           InstanceAccessor<&FrameIo::GetFd>("fd"),
                           InstanceAccessor<&FrameIo::GetWakeups>("wakeups"),
                       });
  }

  // new FrameIo(fd, onFrames(count, errno), onWritable(), maxBatch, frameMax)
  // Takes ownership of fd: close() (or garbage collection) closes it.
  explicit FrameIo(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FrameIo>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsFunction()) {
      ThrowType(env, "new FrameIo(fd, onFrames, onWritable, maxBatch?, frameMax?)");
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    if (info[3].IsNumber()) max_batch_ = info[3].As<Napi::Number>().Int32Value();
    if (info[4].IsNumber()) frame_max_ = info[4].As<Napi::Number>().Int32Value();
    if (max_batch_ < 1 || max_batch_ > 4096) max_batch_ = 256;
    if (frame_max_ < 64 || frame_max_ > (1 << 20)) frame_max_ = 65600;

    // One pooled buffer per fd, reused on every wake-up: frames land in it
    // back to back (8-byte aligned). Enough room for a full batch of
    // standard frames plus one maximal frame; a batch ends early when the
    // next maximal frame might not fit (the fd is level-triggered, so the
    // rest is read on the next turn of the loop).
    buf_size_ = (size_t)max_batch_ * 2048 + (size_t)frame_max_;
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, buf_size_);
    buf_ = static_cast<uint8_t*>(ab.Data());
    Napi::Int32Array meta = Napi::Int32Array::New(env, (size_t)max_batch_ * 2);
    meta_ = meta.Data();
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("buffer", ab);  // JS keeps these and builds views per batch
    self.Set("meta", meta);
    self.Set("maxBatch", Napi::Number::New(env, max_batch_));
    buf_ref_ = Napi::Persistent(Napi::Object(ab));  // keeps buf_/meta_ valid for our lifetime
    meta_ref_ = Napi::Persistent(Napi::Object(meta));
    on_frames_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_writable_ = Napi::Persistent(info[2].As<Napi::Function>());
    async_ = new Napi::AsyncContext(env, "rumpnet:FrameIo");

    poll_ = new uv_poll_t;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int rc = uv_poll_init(loop, poll_, fd_);
    if (rc < 0) {
      delete poll_;
      poll_ = nullptr;
      ThrowErrno(env, -rc, "uv_poll_init", std::string("cannot poll fd: ") + uv_strerror(rc));
      return;
    }
    poll_->data = this;
    // An open FrameIo is alive like an open socket: it must not be collected
    // while the loop may still call into it. close() drops this reference.
    Ref();
  }

  ~FrameIo() override {
    // Reached only after close() (the strong reference is dropped there) or
    // when the constructor failed; CloseNow is idempotent.
    CloseNow();
    delete async_;
  }

 private:
  // start(): deliver readable frames.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    reading_ = true;
    return Napi::Number::New(info.Env(), UpdatePoll());
  }
  // pause(): stop reading; frames queue in the kernel (tap ring, socket buffer).
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    reading_ = false;
    return Napi::Number::New(info.Env(), UpdatePoll());
  }
  // wantWritable(on): call onWritable() when the fd can take writes again.
  Napi::Value WantWritable(const Napi::CallbackInfo& info) {
    writable_ = info[0].ToBoolean().Value();
    return Napi::Number::New(info.Env(), UpdatePoll());
  }

  int UpdatePoll() {
    if (!poll_ || closed_) return -EBADF;
    int events = (reading_ ? UV_READABLE : 0) | (writable_ ? UV_WRITABLE : 0);
    if (events == 0) return uv_poll_stop(poll_);
    return uv_poll_start(poll_, events, &FrameIo::OnPoll);
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    FrameIo* self = static_cast<FrameIo*>(handle->data);
    if (self == nullptr || self->closed_) return;
    if (status < 0) {
      // libuv reports EBADF and the like here; surface it once and stop,
      // rather than spin on a broken fd.
      self->reading_ = self->writable_ = false;
      self->UpdatePoll();
      self->Deliver(0, -status);
      return;
    }
    if (events & UV_READABLE) self->ReadBatch();
    if (!self->closed_ && (events & UV_WRITABLE)) self->CallJs(self->on_writable_, {});
  }

  // Reads every ready frame (up to max_batch_) and calls JS once.
  void ReadBatch() {
    wakeups_++;
    int err = 0;
    int n = ReadFrames(0, 0, &err);
    if (n > 0 || err != 0) Deliver(n, err);
  }

  // busyPoll(usec) -> frames read into the buffer (as onFrames announces
  // them; the caller delivers them) | 0 when none came within `usec` | -errno.
  // Linux's SO_BUSY_POLL for a tap: spin on non-blocking reads instead of
  // going back to epoll and being woken. Bounded by the time given (at most
  // 1000 µs) and by max_batch_ frames.
  Napi::Value BusyPoll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || !reading_) return Napi::Number::New(env, 0);
    double us = info[0].ToNumber().DoubleValue();
    if (!(us > 0)) return Napi::Number::New(env, 0);
    if (us > 1000) us = 1000;
    const int64_t limit = (int64_t)(us * 1000.0);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    // Bounded: every pass reads or checks the clock against `limit`.
    for (;;) {
      ssize_t r = read(fd_, buf_, (size_t)frame_max_);
      if (r >= 0) {
        meta_[0] = 0;
        meta_[1] = (int32_t)r;
        int err = 0;
        int n = ReadFrames(((size_t)r + 7) & ~(size_t)7, 1, &err);
        return Napi::Number::New(env, n);
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return Napi::Number::New(env, -errno);
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((int64_t)(t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) >= limit) return Napi::Number::New(env, 0);
    }
  }

  // Reads ready frames into the buffer after the `n` already there (ending at
  // `off`); returns the new count. `*err` is set on a read error.
  int ReadFrames(size_t off, int n, int* err) {
    // Bounded: at most max_batch_ successful reads, and EINTR retries are
    // bounded by the same counter through `tries`.
    for (int tries = 0; n < max_batch_ && off + (size_t)frame_max_ <= buf_size_ && tries < 2 * max_batch_; tries++) {
      ssize_t r = read(fd_, buf_ + off, (size_t)frame_max_);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
        break;
      }
      meta_[2 * n] = (int32_t)off;
      meta_[2 * n + 1] = (int32_t)r;
      n++;
      off += ((size_t)r + 7) & ~(size_t)7;
    }
    return n;
  }

  void Deliver(int count, int err) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    CallJs(on_frames_, {Napi::Number::New(env, count), Napi::Number::New(env, err)});
  }

  // MakeCallback (not Call): we are entered from libuv with no JavaScript on
  // the stack, so the callback needs an async context, and microtasks and
  // process.nextTick queues must run afterwards. An exception thrown by the
  // callback goes to 'uncaughtException', as one from a 'data' handler would.
  void CallJs(Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    fn.MakeCallback(Value(), args, *async_);
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  // write(Uint8Array) -> bytes written | -errno. One frame per write(2): a tap
  // takes exactly one frame per call, so writev would not batch anything.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Napi::Number::New(env, -EBADF);
    if (!info[0].IsTypedArray()) return ThrowType(env, "write: Uint8Array expected");
    Napi::Uint8Array f = info[0].As<Napi::Uint8Array>();
    return Napi::Number::New(env, WriteOne(f.Data(), f.ByteLength()));
  }

  // One frame, behind a virtio_net_hdr when the fd carries them (`hdr`, or
  // all zero: nothing to do, no GSO). writev keeps the frame where the stack
  // built it: no copy to make room for the header.
  ssize_t WriteOne(const uint8_t* p, size_t len, const uint8_t* hdr = nullptr) {
    static const uint8_t kZeroHdr[16] = {0};
    struct iovec iov[2];
    iov[0].iov_base = const_cast<uint8_t*>(hdr != nullptr ? hdr : kZeroHdr);
    iov[0].iov_len = (size_t)vnet_hdr_;
    iov[1].iov_base = const_cast<uint8_t*>(p);
    iov[1].iov_len = len;
    for (int tries = 0; tries < 8; tries++) {
      ssize_t r = vnet_hdr_ > 0 ? ::writev(fd_, iov, 2) : ::write(fd_, p, len);
      if (r >= 0) return r;
      if (errno != EINTR) return -errno;
    }
    return -EINTR;
  }

  // setVnetHdr(size): frames on this fd carry a virtio_net_hdr of `size`
  // bytes (0, 10 or 12); write() and writeBatch() then send a zero one.
  Napi::Value SetVnetHdr(const Napi::CallbackInfo& info) {
    int n = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    if (n != 0 && n != 10 && n != 12) return ThrowType(info.Env(), "setVnetHdr: 0, 10 or 12 expected");
    vnet_hdr_ = n;
    return info.Env().Undefined();
  }

  // writeGso(frame, flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset)
  // -> bytes written | -errno: one frame behind a virtio_net_hdr with these
  // fields (include/uapi/linux/virtio_net.h; the kernel's
  // virtio_net_hdr_to_skb() checks them and refuses bad ones with EINVAL).
  Napi::Value WriteGso(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Napi::Number::New(env, -EBADF);
    if (vnet_hdr_ == 0) return Napi::Number::New(env, -EINVAL);
    if (!info[0].IsTypedArray()) return ThrowType(env, "writeGso: Uint8Array expected");
    for (int i = 1; i <= 6; i++)
      if (!info[i].IsNumber()) return ThrowType(env, "writeGso(frame, flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset)");
    uint8_t h[12] = {0};
    h[0] = (uint8_t)info[1].As<Napi::Number>().Uint32Value();
    h[1] = (uint8_t)info[2].As<Napi::Number>().Uint32Value();
    for (int i = 0; i < 4; i++) {
      uint32_t v = info[3 + i].As<Napi::Number>().Uint32Value();
      h[2 + 2 * i] = (uint8_t)(v & 0xff);  // little-endian (TUNSETVNETLE)
      h[3 + 2 * i] = (uint8_t)((v >> 8) & 0xff);
    }
    Napi::Uint8Array f = info[0].As<Napi::Uint8Array>();
    return Napi::Number::New(env, WriteOne(f.Data(), f.ByteLength(), h));
  }

  // writeBatch(frames: Uint8Array[], start) -> how many frames, from `start`,
  // were written before the first failure; the failure's errno is left in
  // `lastErrno` (0 when all were written). One N-API crossing for many frames.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    last_errno_ = 0;
    if (closed_) {
      last_errno_ = EBADF;
      return Napi::Number::New(env, 0);
    }
    if (!info[0].IsArray()) return ThrowType(env, "writeBatch: array expected");
    Napi::Array frames = info[0].As<Napi::Array>();
    uint32_t start = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    uint32_t len = frames.Length();
    uint32_t i = start;
    for (; i < len; i++) {
      Napi::Value v = frames.Get(i);
      if (!v.IsTypedArray()) {
        last_errno_ = EINVAL;
        break;
      }
      Napi::Uint8Array f = v.As<Napi::Uint8Array>();
      ssize_t r = WriteOne(f.Data(), f.ByteLength());
      if (r < 0) {
        last_errno_ = (int)-r;
        break;
      }
    }
    return Napi::Number::New(env, i - start);
  }

  // sendto(path, Uint8Array) -> 0 | -errno. For bus sockets: ENOENT (member
  // gone), ECONNREFUSED (stale socket file), EAGAIN (member's queue full).
  Napi::Value SendTo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Napi::Number::New(env, -EBADF);
    if (!info[0].IsString() || !info[1].IsTypedArray()) return ThrowType(env, "sendto(path, Uint8Array) expected");
    struct sockaddr_un sun;
    if (!FillSun(info[0].As<Napi::String>().Utf8Value(), &sun)) return Napi::Number::New(env, -ENAMETOOLONG);
    Napi::Uint8Array f = info[1].As<Napi::Uint8Array>();
    for (int tries = 0; tries < 8; tries++) {
      ssize_t r = ::sendto(fd_, f.Data(), f.ByteLength(), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr*)&sun, sizeof sun);
      if (r >= 0) return Napi::Number::New(env, 0);
      if (errno != EINTR) return Napi::Number::New(env, -errno);
    }
    return Napi::Number::New(env, -EINTR);
  }

  // close(): stop polling, release the handle, close the fd. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      CloseNow();
      Unref();  // may now be collected
    }
    return info.Env().Undefined();
  }

  void CloseNow() {
    if (closed_) return;
    closed_ = true;
    if (poll_ != nullptr) {
      // The handle must outlive libuv's reference to it: free it in the close
      // callback, never here. Close the fd only after uv_poll has let go.
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // ref()/unref(): whether this fd keeps the event loop (the process) alive.
  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }
  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value GetLastErrno(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), last_errno_); }
  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetWakeups(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)wakeups_); }

  int fd_ = -1;
  int max_batch_ = 256;
  int frame_max_ = 65600;
  size_t buf_size_ = 0;
  uint8_t* buf_ = nullptr;
  int32_t* meta_ = nullptr;
  bool reading_ = false;
  bool writable_ = false;
  bool closed_ = false;
  int last_errno_ = 0;
  int vnet_hdr_ = 0;
  uint64_t wakeups_ = 0;
  uv_poll_t* poll_ = nullptr;
  Napi::AsyncContext* async_ = nullptr;
  Napi::ObjectReference buf_ref_;
  Napi::ObjectReference meta_ref_;
  Napi::FunctionReference on_frames_;
  Napi::FunctionReference on_writable_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Number::New(env, 1));
  exports.Set("openTap", Napi::Function::New<OpenTap>(env, "openTap"));
  exports.Set("setMtu", Napi::Function::New<SetMtu>(env, "setMtu"));
  exports.Set("getMtu", Napi::Function::New<GetMtu>(env, "getMtu"));
  exports.Set("setMac", Napi::Function::New<SetMac>(env, "setMac"));
  exports.Set("getMac", Napi::Function::New<GetMac>(env, "getMac"));
  exports.Set("getFlags", Napi::Function::New<GetFlags>(env, "getFlags"));
  exports.Set("setUp", Napi::Function::New<SetUp>(env, "setUp"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("openUnixDgram", Napi::Function::New<OpenUnixDgram>(env, "openUnixDgram"));
  exports.Set("probeUnixDgram", Napi::Function::New<ProbeUnixDgram>(env, "probeUnixDgram"));
  exports.Set("peerCred", Napi::Function::New<PeerCred>(env, "peerCred"));
  exports.Set("FrameIo", FrameIo::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(tapbridge, Init)
