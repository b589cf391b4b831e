// The MPI backend of a build without MPI.
#include "comm/mpi/mpi.h"

namespace shoal::comm::mpi {

StatusOr<std::unique_ptr<Group>> FromEnvironment() {
  return Unimplemented("mpi: built without MPI (install libopenmpi-dev and reconfigure)");
}

bool Available() { return false; }

}  // namespace shoal::comm::mpi
