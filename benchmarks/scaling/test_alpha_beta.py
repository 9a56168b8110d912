#!/usr/bin/env python3
"""Unit check of alpha_beta.py's formulas against values worked out by hand (the math, never a timing)."""
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alpha_beta import (Link, buckets_of, fit_link, hierarchical_allreduce, ring_allreduce, step_time,  # noqa: E402
                        tree_allreduce)

MiB = 1 << 20


class AlphaBeta(unittest.TestCase):
    def test_ring(self):
        # 2*3*10us + 2*3/4 * 8 MB / 1 GB/s = 60 us + 12 ms
        self.assertAlmostEqual(ring_allreduce(8e6, 4, Link(1e-5, 1e9)), 0.01206, places=12)
        self.assertEqual(ring_allreduce(8e6, 1, Link(1e-5, 1e9)), 0.0)

    def test_tree(self):
        # ceil(log2 5) = 3 levels: 2*3*10us + 2 * 8 MB / 1 GB/s = 60 us + 16 ms
        self.assertAlmostEqual(tree_allreduce(8e6, 5, Link(1e-5, 1e9)), 0.01606, places=12)
        # p = 2: one level, and the tree carries twice what the ring does
        self.assertAlmostEqual(tree_allreduce(1e6, 2, Link(0, 1e9)), 2 * ring_allreduce(1e6, 2, Link(0, 1e9)))

    def test_hierarchical(self):
        intra, inter = Link(1e-6, 100e9), Link(5e-6, 10e9)
        # in node (8 GPUs, ring): 14 us + 2*7/8 * 8 MB / 100 GB/s = 14 us + 140 us = 154 us
        self.assertAlmostEqual(hierarchical_allreduce(8e6, 8, 8, intra, inter), 154e-6, places=12)
        # 16 GPUs = 2 nodes: + ring over 2 nodes of 8 MB / 8 = 1 MB: 2*5 us + 2*1/2 * 1 MB / 10 GB/s = 110 us
        self.assertAlmostEqual(hierarchical_allreduce(8e6, 16, 8, intra, inter), 264e-6, places=12)
        # tree across 4 nodes: 2*2*5 us + 2 * 1 MB / 10 GB/s = 220 us
        self.assertAlmostEqual(hierarchical_allreduce(8e6, 32, 8, intra, inter, "tree"), 154e-6 + 220e-6, places=12)
        with self.assertRaises(ValueError):
            hierarchical_allreduce(8e6, 12, 8, intra, inter)

    def test_fit_recovers_the_link(self):
        for formula in (ring_allreduce, tree_allreduce):
            link = Link(3e-6, 12e9)
            samples = [(n, formula(n, 4, link)) for n in (1e3, 1e4, 1e5, 1e6, 4e6)]
            fitted = fit_link(samples, 4, formula)
            self.assertAlmostEqual(fitted.alpha / link.alpha, 1, places=9)
            self.assertAlmostEqual(fitted.bandwidth / link.bandwidth, 1, places=9)

    def test_step_time(self):
        # compute 30 ms (forward + optimizer 10, backward 20); buckets cost 10, 20 and 30 ms: the first two (30 ms)
        # outlast backward, the last (30 ms) is exposed: 10 + max(20, 30) + 30 = 70 ms
        parts = step_time(0.03, [1, 2, 3], lambda n: 0.01 * n)
        self.assertAlmostEqual(parts["step"], 0.07)
        self.assertAlmostEqual(parts["communication"], 0.06)
        self.assertAlmostEqual(parts["exposed_communication"], 0.04)
        # communication hidden entirely but the last bucket: 10 + 20 + 1 ms
        self.assertAlmostEqual(step_time(0.03, [1, 1], lambda n: 0.001 * n)["step"], 0.031)

    def test_buckets(self):
        self.assertEqual(buckets_of(60 * MiB), [1 * MiB, 25 * MiB, 25 * MiB, 9 * MiB])
        self.assertEqual(buckets_of(0.5 * MiB), [0.5 * MiB])
        self.assertTrue(math.isclose(sum(buckets_of(123.4e6)), 123.4e6))


if __name__ == "__main__":
    unittest.main()
