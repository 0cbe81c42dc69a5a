// Test support: start a server binary as a child process and wait for its "listening on" line.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace qwen3tts::testing {

// A child process whose stdout is scanned for "listening on HOST:PORT"; SIGTERM on destruction.
class ServerProcess {
 public:
  // Returns once the server printed `ready_marker` followed by its address ("loading on " to
  // catch a server while it still loads its models).
  ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::string& ready_marker = "listening on ") {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      // Every test server gets its own free metrics port unless the test chose one.
      setenv("QWEN3TTS_METRICS_LISTEN", "127.0.0.1:0", 0);
      std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[512];
    // The server prints its bound address once it is ready (or exits on failure).
    while (f != nullptr && fgets(line, sizeof(line), f) != nullptr) {
      std::string s(line);
      startup_output_ += s;
      auto metrics = s.find(" metrics on ");
      if (metrics != std::string::npos) {
        metrics_address_ = s.substr(metrics + 12);
        metrics_address_ = metrics_address_.substr(0, metrics_address_.find_first_of(" \r\n"));
      }
      auto at = s.find(ready_marker);
      if (at != std::string::npos) {
        address_ = s.substr(at + ready_marker.size());
        address_ = address_.substr(0, address_.find_first_of(" \r\n"));
        break;
      }
    }
    stdout_ = f;
  }
  ~ServerProcess() { Stop(); }
  pid_t pid() const { return pid_; }
  void Signal(int signal) const {
    if (pid_ > 0) kill(pid_, signal);
  }
  // Waits for the process to exit; its exit code, 128 + signal when killed, -1 if not running.
  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // The next line the server prints after start-up ("" at end of output).
  std::string ReadLine() {
    char line[512];
    if (stdout_ == nullptr || fgets(line, sizeof(line), stdout_) == nullptr) return "";
    return line;
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (stdout_ != nullptr) {
      fclose(stdout_);
      stdout_ = nullptr;
    }
  }
  const std::string& address() const { return address_; }
  // HOST:PORT of its /metrics endpoint ("" if it has none).
  const std::string& metrics_address() const { return metrics_address_; }
  // Everything the server printed up to its "listening on" line.
  const std::string& startup_output() const { return startup_output_; }

 private:
  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
  std::string address_;
  std::string metrics_address_;
  std::string startup_output_;
};


}  // namespace qwen3tts::testing
