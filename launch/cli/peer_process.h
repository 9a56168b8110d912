#pragma once
// Child processes for `tessera bench` and benchmarks/ (their PyTorch / h5py peers, mpirun): started from an argument
// vector with posix_spawnp, never through a shell, so a path with a quote, a space or `$(...)` reaches the child as
// it is.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"

extern char** environ;

namespace tessera::bench {

struct ProcessOptions {
  std::vector<std::string> env;  // NAME=VALUE, added to this process's environment (replacing NAME there)
  std::string stdout_path;       // non-empty: the child's stdout goes to this file (truncated)
  int stdout_fd = -1;            // >= 0: the child's stdout goes to this descriptor
};

// Starts argv[0] (looked up in PATH) with the arguments argv; throws naming the program if it cannot start.
inline pid_t start_process(const std::vector<std::string>& argv, const ProcessOptions& options = {}) {
  TESSERA_CHECK(!argv.empty(), "start_process: empty argument vector");
  std::vector<std::string> env_strings = options.env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e, name = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& extra : options.env) replaced = replaced || extra.starts_with(name);
    if (!replaced) env_strings.push_back(entry);
  }
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> result;
    for (auto& s : strings) result.push_back(s.data());
    result.push_back(nullptr);
    return result;
  };
  std::vector<std::string> args = argv;
  std::vector<char*> arg_ptrs = pointers(args), env_ptrs = pointers(env_strings);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!options.stdout_path.empty())
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  else if (options.stdout_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, options.stdout_fd, STDOUT_FILENO);
  pid_t pid = 0;
  const int error = posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, arg_ptrs.data(), env_ptrs.data());
  posix_spawn_file_actions_destroy(&actions);
  TESSERA_CHECK(error == 0, "cannot start '", argv[0], "': ", std::strerror(error));
  return pid;
}

// Waits for a child of start_process: its exit status, or 128 + the signal that ended it (as a shell reports it).
inline int wait_process(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    TESSERA_CHECK(errno == EINTR, "waitpid: ", std::strerror(errno));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs argv to the end and returns what it printed on stdout, or "" when it failed (could not start or exited
// non-zero), so a benchmark can report Tessera alone.
inline std::string run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "";  // close-on-exec: no other child inherits the pipe
  pid_t pid = -1;
  try {
    pid = start_process(argv, {.env = env, .stdout_fd = fds[1]});
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
  }
  close(fds[1]);
  std::string output;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (n > 0) output.append(buffer, static_cast<size_t>(n));
    else if (errno != EINTR) break;
  }
  close(fds[0]);
  return pid > 0 && wait_process(pid) == 0 ? output : "";
}

}  // namespace tessera::bench
