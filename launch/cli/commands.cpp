#include "launch/cli/commands.h"

namespace tessera::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"demo", "train a small MLP on a synthetic 3-class spiral on the CPU and print the falling loss", run_demo},
  };
  return all;
}

}  // namespace tessera::cli
