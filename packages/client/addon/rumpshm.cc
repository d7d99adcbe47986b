// rumpshm: the shared-memory region of the rump protocol's optional data path
// (docs/PROTOCOL.md "Shared-memory data path"), both ends of it.
//
// Why native: Node has no memfd_create, no fcntl seals, no mmap. The region
// is a sealed memfd the CLIENT creates and maps; the SERVER takes the same
// file from the client's descriptor table through /proc and maps it too.
// JavaScript sees each mapping as an external ArrayBuffer.
//
// Ownership: every mapping is unmapped exactly once — by `unmap` (which first
// detaches the ArrayBuffer, so no typed array can reach the memory after it)
// or, if nobody called it, by the ArrayBuffer's finalizer. `mappings()` counts
// the live ones so tests can check that a session's end left none.
//
// Nothing here throws a C++ exception (NAPI_DISABLE_CPP_EXCEPTIONS) and
// nothing aborts: every OS error becomes a JavaScript Error with `code`,
// `errno` and `syscall`.

#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include <atomic>
#include <string>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

namespace {

std::atomic<int64_t> g_mappings{0};
std::atomic<int64_t> g_mappedBytes{0};

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

std::string Describe(int err) { return std::string(uv_err_name(-err)) + " (" + strerror(err) + ")"; }

// One mapping. Owned by its ArrayBuffer's finalizer; `addr` is null once unmapped.
struct Mapping {
  void* addr;
  size_t len;
};

void Unmap(Mapping* m) {
  if (m->addr == nullptr) return;
  munmap(m->addr, m->len);
  m->addr = nullptr;
  g_mappings--;
  g_mappedBytes -= static_cast<int64_t>(m->len);
}

void Finalize(Napi::Env, void*, Mapping* m) {
  Unmap(m);
  delete m;
}

// Maps `fd` (size `len`) shared, read-write, with every page faulted in now
// (MAP_POPULATE): a later access never needs a page the kernel cannot give.
Napi::Value MapFd(Napi::Env env, int fd, size_t len) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    return ThrowErrno(env, err, "mmap", "shm: mmap of " + std::to_string(len) + " bytes: " + Describe(err));
  }
  Mapping* m = new Mapping{p, len};
  g_mappings++;
  g_mappedBytes += static_cast<int64_t>(len);
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(
      env, p, len,
      [](napi_env e, void* data, void* hint) { Finalize(Napi::Env(e), data, static_cast<Mapping*>(hint)); }, m, &ab);
  if (st != napi_ok) {
    Unmap(m);
    delete m;
    return ThrowErrno(env, ENOTSUP, "napi_create_external_arraybuffer", "shm: this runtime refuses external ArrayBuffers");
  }
  // The Mapping travels with the buffer so that unmap() can find it.
  Napi::ArrayBuffer buf(env, ab);
  napi_wrap(env, ab, m, [](napi_env, void*, void*) {}, nullptr, nullptr);
  return buf;
}

int ArgSize(const Napi::CallbackInfo& info, size_t i, size_t* out) {
  if (!info[i].IsNumber()) return -1;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 4096 && d <= (1u << 30)) || d != static_cast<double>(static_cast<size_t>(d))) return -1;
  *out = static_cast<size_t>(d);
  return 0;
}

// createRegion(size) -> { fd, buffer }: a sealed memfd of `size` bytes mapped here.
// The seals (no shrinking, no growing, no further seals) are what lets the
// server map it safely: a region that could shrink would SIGBUS the server.
Napi::Value CreateRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t len;
  if (ArgSize(info, 0, &len) < 0) return ThrowType(env, "createRegion: size 4096..2^30 expected");
  int fd = memfd_create("rumpnet-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    int err = errno;
    return ThrowErrno(env, err, "memfd_create", "shm: memfd_create: " + Describe(err));
  }
  if (ftruncate(fd, static_cast<off_t>(len)) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "ftruncate", "shm: ftruncate: " + Describe(err));
  }
  // A test may ask for a region without seals (the server must refuse it).
  bool seal = info.Length() < 2 || !info[1].IsBoolean() || info[1].As<Napi::Boolean>().Value();
  if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "fcntl", "shm: F_ADD_SEALS: " + Describe(err));
  }
  Napi::Value buf = MapFd(env, fd, len);
  if (env.IsExceptionPending()) {
    close(fd);
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", Napi::Number::New(env, fd));
  o.Set("buffer", buf);
  return o;
}

// openPeerRegion(pid, fd, size) -> ArrayBuffer: the server's mapping of the
// region a client announced as its descriptor `fd`.
//
// The file is reached through /proc/<pid>/fd/<fd> with O_PATH first: that
// pins the inode without opening it, so a descriptor that names a device or
// a FIFO is refused before anything is opened (an open of a device can have
// effects). Only a regular file on tmpfs (a memfd; not hugetlbfs, whose
// faults can fail) is reopened read-write through /proc/self/fd. Then the
// seals must hold SHRINK and GROW (else the client could truncate the file
// under our mapping and a server access would SIGBUS), WRITE must not be
// set, and the size must be exactly `size`.
Napi::Value OpenPeerRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "openPeerRegion: pid, fd, size expected");
  int pid = info[0].As<Napi::Number>().Int32Value();
  int cfd = info[1].As<Napi::Number>().Int32Value();
  size_t len;
  if (ArgSize(info, 2, &len) < 0) return ThrowType(env, "openPeerRegion: size 4096..2^30 expected");
  if (pid <= 0 || cfd < 0) return ThrowErrno(env, EINVAL, "open", "shm: bad pid or descriptor");
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, cfd);
  int pfd = open(path, O_PATH | O_CLOEXEC);
  if (pfd < 0) {
    int err = errno;
    return ThrowErrno(env, err, "open", std::string("shm: cannot reach the client's descriptor (") + path + "): " + Describe(err));
  }
  struct stat st;
  if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(pfd);
    return ThrowErrno(env, EINVAL, "fstat", "shm: the client's descriptor is not a regular file");
  }
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
  int fd = open(self, O_RDWR | O_CLOEXEC | O_NONBLOCK);
  int openErr = errno;
  close(pfd);
  if (fd < 0) return ThrowErrno(env, openErr, "open", "shm: reopening the client's memfd: " + Describe(openErr));
  struct statfs sfs;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC) {
    close(fd);
    return ThrowErrno(env, EINVAL, "fstatfs", "shm: the client's descriptor is not a memfd on tmpfs");
  }
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "fcntl", "shm: F_GET_SEALS: " + Describe(err));
  }
  if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
    close(fd);
    return ThrowErrno(env, EPERM, "fcntl", "shm: the region is not sealed against shrinking and growing");
  }
  if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0) {
    close(fd);
    return ThrowErrno(env, EPERM, "fcntl", "shm: the region is sealed against writing");
  }
  if (static_cast<size_t>(st.st_size) != len) {
    close(fd);
    return ThrowErrno(env, EINVAL, "fstat",
                      "shm: the region has " + std::to_string(st.st_size) + " bytes, not the " + std::to_string(len) + " announced");
  }
  Napi::Value buf = MapFd(env, fd, len);
  close(fd);  // the mapping keeps the file
  return buf;
}

// unmap(buffer): detaches the ArrayBuffer (every view of it becomes empty)
// and unmaps its memory now. A buffer already unmapped is left alone.
Napi::Value UnmapRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) return ThrowType(env, "unmap: ArrayBuffer expected");
  napi_value ab = info[0];
  void* hint = nullptr;
  if (napi_unwrap(env, ab, &hint) != napi_ok || hint == nullptr) return ThrowType(env, "unmap: not a region of this addon");
  Mapping* m = static_cast<Mapping*>(hint);
  void* addr = m->addr;
  size_t len = m->len;
  if (addr == nullptr) return env.Undefined();
  // Marked unmapped first: should the finalizer run during the detach, it
  // then only frees `m` (which is not touched after the detach).
  m->addr = nullptr;
  if (napi_detach_arraybuffer(env, ab) != napi_ok) {
    m->addr = addr;
    return ThrowErrno(env, EBUSY, "napi_detach_arraybuffer", "shm: cannot detach the region's ArrayBuffer");
  }
  munmap(addr, len);
  g_mappings--;
  g_mappedBytes -= static_cast<int64_t>(len);
  return env.Undefined();
}

// closeFd(fd)
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "closeFd: fd expected");
  close(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

// mappings() -> { count, bytes }: the regions this process has mapped now.
Napi::Value Mappings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Napi::Number::New(env, static_cast<double>(g_mappings.load())));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(g_mappedBytes.load())));
  return o;
}

// busyPoll(fd, usec, yield?) -> 1 when `fd` became readable (or hung up, or failed:
// the event loop's read then finds out) within `usec` µs, 0 when it did not,
// -errno when poll(2) refused. The client's busy poll (Linux's SO_BUSY_POLL,
// docs/ARCHITECTURE.md "Client busy poll"): a call waiting for the server's
// answer spins on non-blocking poll(2)s of the Unix socket instead of going
// back to epoll and sleeping, so the answer finds this process running, not
// a vCPU to wake. Nothing is read here: libuv's level-triggered epoll sees
// the socket readable on the loop's next poll and reads it as always.
// With `yield`, sched_yield(2) between polls: the vCPU stays out of halt, but
// a task ready on this CPU (the server, the peer) runs at once.
// Bounded: every pass checks the clock against `usec` (at most 1000).
Napi::Value BusyPoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "busyPoll: fd, usec expected");
  int fd = info[0].As<Napi::Number>().Int32Value();
  double us = info[1].As<Napi::Number>().DoubleValue();
  if (fd < 0) return ThrowErrno(env, EBADF, "poll", "busyPoll: bad descriptor");
  if (!(us > 0)) return Napi::Number::New(env, 0);
  if (us > 1000) us = 1000;
  const bool yield = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  const int64_t limit = static_cast<int64_t>(us * 1000.0);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, 0);
    if (r > 0) return Napi::Number::New(env, 1);
    if (yield) sched_yield();
    if (r < 0 && errno != EINTR && errno != EAGAIN) return Napi::Number::New(env, -errno);
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (static_cast<int64_t>(t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) >= limit) return Napi::Number::New(env, 0);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Number::New(env, 1));
  exports.Set("createRegion", Napi::Function::New<CreateRegion>(env, "createRegion"));
  exports.Set("openPeerRegion", Napi::Function::New<OpenPeerRegion>(env, "openPeerRegion"));
  exports.Set("unmap", Napi::Function::New<UnmapRegion>(env, "unmap"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("mappings", Napi::Function::New<Mappings>(env, "mappings"));
  exports.Set("busyPoll", Napi::Function::New<BusyPoll>(env, "busyPoll"));
  return exports;
}

}  // namespace

NODE_API_MODULE(rumpshm, Init)
