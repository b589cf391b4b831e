#include "runtime/pooled.h"

#include <string>

#include "comm/subgroup.h"

namespace shoal::runtime {

StatusOr<Parallelism> PlanParallelism(const parallel::Plan& plan, comm::Group& group,
                                      std::unique_ptr<comm::Group>* stage_group) {
  if (plan.ranks.size() != size_t(group.size())) {
    return InvalidArgument("the plan has " + std::to_string(plan.ranks.size()) +
                           " ranks, the group " + std::to_string(group.size()));
  }
  Parallelism par;
  par.group = &group;
  for (const parallel::RankPlan& r : plan.ranks) {
    par.vocab_by_rank.push_back(r.shard.last_stage ? r.shard.vocab : model::Range{});
  }
  const int stage = plan.ranks[size_t(group.rank())].stage;
  if (plan.options.stages > 1) {
    SHOAL_ASSIGN_OR_RETURN(auto sub, comm::SubGroup::Create(group, plan.StageRanks(stage)));
    *stage_group = std::move(sub);
    par.stage = stage_group->get();
    if (stage > 0) par.prev_stage_rank = plan.StageRanks(stage - 1).front();
    if (stage + 1 < plan.options.stages) par.next_stage_ranks = plan.StageRanks(stage + 1);
  }
  return par;
}

}  // namespace shoal::runtime
