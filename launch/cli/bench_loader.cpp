// Placeholder until its issue lands (see ISSUES): keeps the command registry linking.
#include "core/check.h"
#include "launch/cli/commands.h"

namespace tessera::cli {

int run_bench_loader(const std::vector<std::string>&) { TESSERA_THROW("not built yet"); }

}  // namespace tessera::cli
