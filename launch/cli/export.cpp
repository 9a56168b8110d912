// `tessera export CONFIG.json --checkpoint FILE --out MODEL.onnx [--data FILE] [--set ...]`: the checkpoint's model
// as ONNX (launch/cli/onnx_export.h), for onnxruntime and other servers. The input's sample shape comes from the
// data (--data, or the config's data.test) as the model sees it, or with --with-preprocessing as the files store it
// (the graph then applies data.layout's transpose and data.scale/mean/std, as the loader does).
#include <cstdio>

#include "core/check.h"
#include "io/row_converter.h"
#include "io/training/checkpoint.h"
#include "launch/cli/checkpoint_job_flags.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"
#include "launch/cli/init_from.h"
#include "launch/cli/onnx_export.h"
#include "launch/cli/training_job.h"

namespace tessera::cli {

int run_export(const std::vector<std::string>& args) {
  const auto flags = parse_checkpoint_job_flags(
      "export", "usage: tessera export CONFIG.json --checkpoint FILE --out MODEL.onnx [--data FILE] [options]",
      "ONNX file to write", args, /*preprocessing_flag=*/true);
  if (!flags) return 0;
  TESSERA_CHECK(flags->out.ends_with(".onnx"), "export: --out names the format by its extension: only .onnx is "
                "written, got '", flags->out, "'");
  TESSERA_CHECK(onnx_export_available(), "export: this build has no ONNX (install libonnx-dev and libprotobuf-dev, "
                "as launch/setup.sh does, and build again)");
  TrainingJob job = prepare_job(flags->config, flags->overrides, JobKind::export_model);
  TESSERA_CHECK(job.test, "export: the input's shape comes from the data: give --data FILE (or the config's "
                "data.test)");
  load_model_weights(*job.model, flags->checkpoint, job.test->sample_shape());
  if (!job.is_main) return 0;
  check_output_file("export", "--out", flags->out);
  const Shape sample = job.test->sample_shape();
  std::optional<OnnxPreprocessing> preprocessing;
  if (flags->with_preprocessing) {
    const io::ShardedDataset& dataset = job.test->loader().dataset();
    const size_t x = job.test->x_array();
    const io::RowConverter converter(dataset.arrays()[x], dataset.stored_sample_shape(x), dataset.layout(x));
    preprocessing = OnnxPreprocessing{.stored_sample = dataset.stored_sample_shape(x),
                                      .channels_last = converter.channels_last(),
                                      .multipliers = converter.multipliers(),
                                      .offsets = converter.offsets()};
  }
  export_onnx(job.model->module(), sample, flags->out, "from " + flags->checkpoint, preprocessing);
  const std::string input = shape_str(preprocessing ? preprocessing->stored_sample : sample);  // "[C, H, W]"
  std::printf("exported %s (input x: [N, %s], float32%s) to %s\n", flags->checkpoint.c_str(),
              input.substr(1, input.size() - 2).c_str(), preprocessing ? ", as the data files store it" : "",
              flags->out.c_str());
  return 0;
}

}  // namespace tessera::cli
