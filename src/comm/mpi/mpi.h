// MPI backend: a Group over MPI_COMM_WORLD for jobs launched by mpirun / srun. Built only where
// MPI is found; elsewhere FromEnvironment returns Unimplemented("built without MPI").
//
// AllReduceSum runs the shared algorithms (peer_group.h) over MPI_Isend/Irecv, so results are
// summed in the same documented order as every other backend and are bit-identical across ranks
// (MPI_Allreduce does not promise either). AllGatherV, GatherV, Broadcast and Barrier use the MPI
// collectives. MPI has no per-call timeout: a dead peer is reported by MPI (errors return, they
// do not abort: MPI_ERRORS_RETURN), a silent one is not.
#pragma once

#include <memory>

#include "base/status.h"
#include "comm/group.h"

namespace shoal::comm::mpi {

// Initializes MPI (MPI_Init_thread, MPI_THREAD_SERIALIZED) unless the program already did;
// MPI_Finalize then runs at process exit. Each call gives a group over a duplicate of
// MPI_COMM_WORLD (its traffic never mixes with the program's own). Started without an MPI
// launcher, MPI gives a group of one rank.
StatusOr<std::unique_ptr<Group>> FromEnvironment();

// True if this build has the MPI backend.
bool Available();

}  // namespace shoal::comm::mpi
