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

// Initializes MPI (MPI_Init_thread, MPI_THREAD_SERIALIZED) on first use; MPI_Finalize runs when
// the last group is destroyed. Unavailable when not started by an MPI launcher is not detected
// by MPI itself: a singleton run gives a group of 1.
StatusOr<std::unique_ptr<Group>> FromEnvironment();

// True if this build has the MPI backend.
bool Available();

}  // namespace shoal::comm::mpi
