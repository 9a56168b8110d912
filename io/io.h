#pragma once
// Umbrella header of the io library: HDF5 datasets, the distributed sampler, the prefetching Loader, converters.
#include "io/batch.h"
#include "io/batch_reader.h"
#include "io/convert/fashion_mnist.h"
#include "io/distributed_sampler.h"
#include "io/hdf5/file.h"
#include "io/inspect.h"
#include "io/loader.h"
#include "io/loader_batch_source.h"
#include "io/sharded_dataset.h"
