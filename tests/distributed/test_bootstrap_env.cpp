// Local-rank detection from launcher variables (pure: the environment is a map here), including the trap of
// mpirun inside a SLURM allocation, where every rank inherits the batch step's SLURM_LOCALID.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "distributed/bootstrap.h"

namespace tessera {
namespace {

dist::LocalRank detect(const std::map<std::string, std::string>& env) {
  return dist::local_rank_from_environment([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(BootstrapEnvironment, LauncherVariables) {
  auto r = detect({{"OMPI_COMM_WORLD_LOCAL_RANK", "3"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
  EXPECT_EQ(r.rank, 3);
  EXPECT_EQ(r.size, 4);
  r = detect({{"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "2"}});
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.size, 2);
  r = detect({{"SLURM_LOCALID", "5"}, {"SLURM_NODEID", "0"}, {"SLURM_STEP_TASKS_PER_NODE", "8"}});
  EXPECT_EQ(r.rank, 5);
  EXPECT_EQ(r.size, 8);
}

TEST(BootstrapEnvironment, SlurmSizeIsThisStepsTasksOnThisNode) {
  // `srun -n 1` inside a job submitted with --ntasks-per-node=2: the step has one task here, whatever the job asked.
  auto r = detect({{"SLURM_LOCALID", "0"}, {"SLURM_NODEID", "0"}, {"SLURM_STEP_TASKS_PER_NODE", "1"},
                   {"SLURM_NTASKS_PER_NODE", "2"}});
  EXPECT_EQ(r.rank, 0);
  EXPECT_EQ(r.size, 1);
  // 5 tasks at 4 per node: the second node has one.
  r = detect({{"SLURM_LOCALID", "0"}, {"SLURM_NODEID", "1"}, {"SLURM_STEP_TASKS_PER_NODE", "4,1"}});
  EXPECT_EQ(r.size, 1);
  // Without --ntasks-per-node srun still gives the step's layout.
  r = detect({{"SLURM_LOCALID", "1"}, {"SLURM_NODEID", "3"}, {"SLURM_STEP_TASKS_PER_NODE", "2(x3),3"}});
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.size, 3);
}

TEST(BootstrapEnvironment, SlurmTasksPerNodeFormats) {
  EXPECT_EQ(dist::slurm_tasks_on_node("2", 0), 2);
  EXPECT_EQ(dist::slurm_tasks_on_node("2(x3),1", 2), 2);
  EXPECT_EQ(dist::slurm_tasks_on_node("2(x3),1", 3), 1);
  EXPECT_EQ(dist::slurm_tasks_on_node("2(x3),1", 4), -1);
  EXPECT_EQ(dist::slurm_tasks_on_node("", 0), -1);
  EXPECT_EQ(dist::slurm_tasks_on_node("2(x3", 0), -1);
  EXPECT_EQ(dist::slurm_tasks_on_node("two", 0), -1);
  EXPECT_EQ(dist::slurm_tasks_on_node("2", -1), -1);
}

TEST(BootstrapEnvironment, MpirunInsideSlurmPrefersOpenMpi) {
  const auto r = detect({{"SLURM_LOCALID", "0"}, {"SLURM_NODEID", "0"}, {"SLURM_STEP_TASKS_PER_NODE", "1"},
                         {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.size, 2);
}

TEST(BootstrapEnvironment, MissingOrInconsistentMeansAskMpi) {
  EXPECT_EQ(detect({}).rank, -1);
  EXPECT_EQ(detect({{"SLURM_LOCALID", "0"}, {"SLURM_NTASKS_PER_NODE", "2"}}).rank, -1)
      << "the batch script has SLURM_LOCALID but no step layout";
  EXPECT_EQ(detect({{"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}).rank, -1);
}

}  // namespace
}  // namespace tessera
