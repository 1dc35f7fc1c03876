// tinyc data NAME -o FILE.csv: the course's hello-world data sets.
#include "cli/commands.h"

namespace tinyc::cli {

void register_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Generate a synthetic data set as CSV (sine, linear, kws)");
  struct Args {
    std::string name, out;
    GenerateOptions gen;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("name", args->name, "Generator: sine (y = sin x + noise, x in [0, 2pi)), "
                  "linear (y = 2x - 1 at x = -1, 0, 1, ...) or kws (49x10x1 keyword-spotting-like "
                  "spectrograms, 4 classes: silence, rise, fall, double)")->required();
  cmd->add_option("-o,--output", args->out, "Output CSV file")->required();
  cmd->add_option("--samples", args->gen.samples, "Number of rows (default: sine 1000, linear 6, kws 2000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--noise", args->gen.noise, "Standard deviation of the Gaussian noise on y "
                  "(kws: on every feature) (default: sine 0.1, linear 0, kws 1.0)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", args->gen.seed, "Random seed (default 0)");
  cmd->callback([args] {
    const Dataset d = generate_data(args->name, args->gen);
    write_csv(d, args->out);
    std::fprintf(stderr, "wrote %lld rows to %s\n", static_cast<long long>(d.rows), args->out.c_str());
  });
}

}  // namespace tinyc::cli
