// Running a batch one image at a time.
//
// Most vision models compute every image of a batch on its own: each of their
// values has the batch on axis 0 and no op mixes two images. Such a graph
// gives for a batch of N the same images as N runs of one image, and the
// single-image runs are faster here: the activations of one image stay in
// the cache from one layer to the next (those of 8 images do not), and the
// session's threads can each run whole images, with no synchronisation
// inside a layer. The session does that when the analysis below proves the
// graph per-image (SessionOptions::split_batch).
//
// The analysis is conservative: it follows the batch axis through a list of
// ops whose per-image behaviour is known from their attributes and constant
// inputs, and refuses everything else, naming the first node it refused.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::runtime {

struct BatchSplit {
  bool per_image = false;
  std::string reason;  // why not, when per_image is false
};

// Whether every graph input and output has the batch on axis 0 with a free
// size, and every node computes each index of that axis from the same index
// of its inputs alone (following shape arithmetic read off the batch, as in
// a channel shuffle's Shape → Gather → Concat → Reshape), and whether a split
// run pays on `threads` threads. Call on the optimized, shape-inferred graph.
BatchSplit analyze_batch_split(const ir::Graph& graph, int threads);

}  // namespace kiln::runtime
