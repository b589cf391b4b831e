// Facts about this machine: memory and CPU. Linux reads /proc; macOS asks sysctl.
#pragma once

#include <cstdint>
#include <string>

namespace shoal {

uint64_t TotalMemoryBytes();      // physical memory; 0 when unknown
uint64_t AvailableMemoryBytes();  // memory a new allocation can get without swapping; 0: unknown
std::string CpuName();            // "AMD EPYC 7B13"; "unknown" when unknown
uint64_t PeakResidentBytes();     // this process's peak resident memory (getrusage); 0: unknown

}  // namespace shoal
