// From a plan to the runtime's view of one rank: which ranks share its stage, where its input
// comes from and its output goes, and which logits rows every rank computes.
#pragma once

#include <memory>

#include "base/status.h"
#include "comm/group.h"
#include "parallel/plan.h"
#include "runtime/session.h"

namespace shoal::runtime {

// The Parallelism of group.rank() under `plan` (one rank per plan rank). With several pipeline
// stages, *stage_group receives the subgroup of this rank's stage (it must outlive the session).
StatusOr<Parallelism> PlanParallelism(const parallel::Plan& plan, comm::Group& group,
                                      std::unique_ptr<comm::Group>* stage_group);

}  // namespace shoal::runtime
