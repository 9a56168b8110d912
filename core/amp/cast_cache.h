#pragma once
// Autocast's cast cache: each parameter's bf16/f16 copy, kept from step to step and rewritten by the optimizer's
// fused step as it updates the parameter, so that a mixed-precision training step converts no parameter.
// PyTorch's autocast converts every weight in every forward (its cache lives for one autocast region); llm.c and
// Apex keep a low-precision copy beside the f32 master weights instead. On a GPU this saves a conversion kernel per
// parameter per step (8 of the Fashion-MNIST CNN's bf16 step), at the cost of the copies' memory between steps
// (2 bytes per parameter element).
// Invariants:
//  - an entry belongs to a parameter: a leaf f32 tensor that requires grad and is contiguous. It holds the copy
//    and the parameter's version when the copy was last its exact conversion;
//  - a copy is used only while the parameter's storage is the one it was made from and its version still equals
//    that one. Any other in-place write (a checkpoint load, DDP's broadcast, p.mul_()) bumps the version, and the
//    next cast rewrites the copy in place;
//  - a graph capture that uses a copy keeps it alive and, before each replay, makes it the parameter's copy again,
//    refreshed if the parameter was written since; a replay's optimizer step bumps versions and marks its copies
//    current as an eager step does (DeviceGraph's after-replay hooks), so copies the graph does not hold go stale;
//  - the optimizer's step rewrites the copies that are current (OptimizerSlot::low_precision, rounded as a
//    conversion rounds) and then marks them current at the parameter's new version. The copy's own version is
//    bumped then too, so a tensor autograd saved from the old copy fails its version check instead of being read
//    with new values;
//  - no entry is made or refreshed while a graph is being captured (its memory would be the graph's);
//  - an entry lives in the parameter's AutogradMeta (core/tensor.h): it goes, freeing its copy, with the parameter.
// Results are bitwise those of converting each time: the cache changes which kernel writes the copy, not its bits.
// One departure: a forward's saved copy that is rewritten before its backward (an optimizer step, or an in-place
// write and another forward, in between) fails autograd's version check, where fresh conversions would not.
#include <cstddef>
#include <memory>

#include "core/tensor.h"

namespace tessera::amp {

// `t` converted to `dtype` (bf16 or f16) and recorded for autograd as t.to(dtype) is. For a parameter, the cached
// copy (made, or remade when stale, here); anything else is converted as t.to(dtype) would.
Tensor cached_cast(const Tensor& t, DType dtype);

// For the optimizer's step: the copy of `param` to rewrite with its update (current ones only), or undefined.
Tensor current_copy(const Tensor& param);
// After the step rewrote current_copy(param) and bumped param's version: the copy is current again.
void mark_current(const Tensor& param);

// The cached copy and the version of the parameter it was made from (AutogradMeta::cast_copy).
struct CastCopy {
  Tensor copy;
  std::weak_ptr<Storage> storage;  // the parameter's storage it was made from (Module::to swaps storage, and a new
                                   // storage's version starts again at 0)
  uint32_t version = 0;
  uint64_t graph_capture = 0;  // DeviceGraph::capture_id of the last capture that used it
};

// Drops every cached copy, freeing them (torch.clear_autocast_cache).
void clear_cast_cache();
size_t cast_cache_size();  // live entries

}  // namespace tessera::amp
