// Ctrl-C and checkpoints (issue 7 item 4): SIGINT sent to a real `tinyc train` child leaves the
// previous output file intact, and `--resume` from the checkpoint it left gives the same model
// bytes as a run that was never interrupted.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"

using tinyc_test::count_entries;
using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;
using tinyc_test::write_text;

namespace {

// Everything a checkpoint must carry: Adam moments, a cosine schedule, dropout (per-step seeds),
// batch_norm moving statistics, early-stopping bookkeeping, shuffling and history.
// 64-unit layers with batch 32 give enough work per step for the trainer to use 2 threads.
const char* kSpec = R"({"name": "ckpt", "input": [1], "task": "regression",
  "split": {"val": 0.2, "test": 0.2},
  "layers": [{"type": "dense", "units": 64}, {"type": "batch_norm", "activation": "relu"},
             {"type": "dropout", "rate": 0.1}, {"type": "dense", "units": 64, "activation": "tanh"},
             {"type": "dense", "units": 1}],
  "train": {"loss": "mse", "optimizer": "adam", "lr": 0.01, "batch": 32, "epochs": 40,
            "schedule": {"type": "cosine", "min_lr": 0.0001},
            "early_stopping": {"patience": 1000}}})";

// Starts `tinyc args...` as a child process (stdout/stderr to /dev/null).
pid_t spawn_tinyc(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(TINYC_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execv(TINYC_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> split_args(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string a; in >> a;) out.push_back(a);
  return out;
}

}  // namespace

TEST_CASE("SIGINT keeps the previous model, and --resume continues bit-identically",
          "[e2e][checkpoint]") {
  TempDir dir;
  const std::string data = dir.file("sine.csv"), spec = dir.file("ckpt.json");
  REQUIRE(run_tinyc("data sine -o " + data + " --samples 1500 --seed 5").exit_code == 0);
  write_text(spec, kSpec);
  for (const int threads : {1, 2}) {
    DYNAMIC_SECTION("threads " << threads) {
      const std::string common = "train " + spec + " --data " + data + " --seed 9 -q --threads " +
                                 std::to_string(threads);
      const std::string reference = dir.file("reference.tinyc");
      const auto ref = run_tinyc(common + " -o " + reference + " --json");
      REQUIRE(ref.exit_code == 0);
      REQUIRE(nlohmann::json::parse(ref.out)["threads"] == threads);

      const std::string out = dir.file("model.tinyc"), ckpt = dir.file("model.tinyc.ckpt");
      write_text(out, "the previous model");
      const pid_t child = spawn_tinyc(split_args(common + " -o " + out + " --checkpoint-every 2"));
      // Interrupt as soon as the first checkpoint exists.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (!std::filesystem::exists(ckpt) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      REQUIRE(std::filesystem::exists(ckpt));
      kill(child, SIGINT);
      REQUIRE(wait_exit(child) == 130);
      CHECK(read_text(out) == "the previous model");
      CHECK(count_entries(dir.path()) == 5);  // data, spec, reference, model, checkpoint

      const auto resumed = run_tinyc(common + " -o " + out + " --resume " + ckpt);
      INFO(resumed.err);
      REQUIRE(resumed.exit_code == 0);
      CHECK(read_text(out) == read_text(reference));

      // A checkpoint of another run is refused, naming it.
      const auto other = run_tinyc("train " + spec + " --data " + data + " --seed 10 -q --threads " +
                                   std::to_string(threads) + " -o " + dir.file("x") + " --resume " + ckpt);
      CHECK(other.exit_code == 2);
      CHECK(other.err.find(ckpt + ": this checkpoint belongs to another run") != std::string::npos);
      std::filesystem::remove(ckpt);
      std::filesystem::remove(out);
      std::filesystem::remove(reference);
    }
  }
}

TEST_CASE("checkpoint: every flipped byte and every truncation is refused with exit 2",
          "[e2e][checkpoint]") {
  TempDir dir;
  const std::string data = TINYC_SOURCE_DIR "/tests/corpus/ok/data.csv";
  const std::string spec = TINYC_SOURCE_DIR "/tests/corpus/ok/spec.json";
  const std::string common = "train " + spec + " --data " + data + " -q --threads 1 -o " + dir.file("m");
  REQUIRE(run_tinyc(common + " --checkpoint-every 1 --checkpoint " + dir.file("c")).exit_code == 0);
  const std::string good = read_text(dir.file("c"));
  REQUIRE(run_tinyc(common + " --resume " + dir.file("c")).exit_code == 0);  // resumes at the end
  int wrong = 0;
  // Every 7th byte and the last 8 keep this under a second of process starts.
  for (size_t i = 0; i < good.size(); i += (i + 8 < good.size() ? 7 : 1)) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    write_text(dir.file("bad"), bad);
    const auto r = run_tinyc(common + " --resume " + dir.file("bad"));
    if (r.exit_code != 2 || r.err.find(dir.file("bad")) == std::string::npos) {
      UNSCOPED_INFO("byte " << i << ": " << r.exit_code << " " << r.err);
      ++wrong;
    }
  }
  for (size_t keep : {size_t{0}, size_t{11}, good.size() / 2, good.size() - 1}) {
    write_text(dir.file("bad"), good.substr(0, keep));
    if (run_tinyc(common + " --resume " + dir.file("bad")).exit_code != 2) ++wrong;
  }
  CHECK(wrong == 0);
}
