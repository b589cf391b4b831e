#include "base/sysinfo.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#if defined(__APPLE__)
#include <mach/mach.h>
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

namespace shoal {

#if defined(__linux__)
namespace {
// A "Key:   123 kB" line of /proc/meminfo, in bytes; 0 when absent.
uint64_t MemInfoBytes(const char* key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  const size_t key_len = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, key_len, key) == 0 && line.size() > key_len && line[key_len] == ':') {
      unsigned long long kib = 0;
      if (std::sscanf(line.c_str() + key_len + 1, "%llu", &kib) == 1) return kib * 1024;
    }
  }
  return 0;
}
}  // namespace

uint64_t TotalMemoryBytes() { return MemInfoBytes("MemTotal"); }
uint64_t AvailableMemoryBytes() {
  const uint64_t avail = MemInfoBytes("MemAvailable");
  return avail != 0 ? avail : MemInfoBytes("MemFree");
}
std::string CpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t b = line.find_first_not_of(" \t", colon + 1);
        if (b != std::string::npos) return line.substr(b);
      }
    }
  }
  return "unknown";
}
#elif defined(__APPLE__)
uint64_t TotalMemoryBytes() {
  uint64_t bytes = 0;
  size_t len = sizeof(bytes);
  return sysctlbyname("hw.memsize", &bytes, &len, nullptr, 0) == 0 ? bytes : 0;
}
uint64_t AvailableMemoryBytes() {
  vm_statistics64_data_t vm;
  mach_msg_type_number_t count = HOST_VM_INFO64_COUNT;
  if (host_statistics64(mach_host_self(), HOST_VM_INFO64, reinterpret_cast<host_info64_t>(&vm),
                        &count) != KERN_SUCCESS) {
    return 0;
  }
  vm_size_t page = 0;
  host_page_size(mach_host_self(), &page);
  return (uint64_t{vm.free_count} + vm.inactive_count + vm.purgeable_count) * page;
}
std::string CpuName() {
  char buf[256];
  size_t len = sizeof(buf);
  if (sysctlbyname("machdep.cpu.brand_string", buf, &len, nullptr, 0) == 0) return buf;
  return "unknown";
}
#else
uint64_t TotalMemoryBytes() { return 0; }
uint64_t AvailableMemoryBytes() { return 0; }
std::string CpuName() { return "unknown"; }
#endif

uint64_t PeakResidentBytes() {
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#if defined(__APPLE__)
  return uint64_t(ru.ru_maxrss);  // bytes on macOS
#else
  return uint64_t(ru.ru_maxrss) * 1024;  // KiB on Linux
#endif
}

}  // namespace shoal
