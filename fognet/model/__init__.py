"""ONNX models in.

zoo       built-in models by name (onnx's shipped graphs with seeded weights, and models built
          in code under nets/), cached on disk by name, seed and variant
nets      the builders: seeded initialisers, a small graph builder, one module per family
load      resolve a zoo name or a path to one checked, normalised model
graph     compute nodes, topological order, cut positions and their crossing sets
flops     FLOPs per node under one documented convention
profile   measured per-node time (onnxruntime profiler), the cost profile the planner uses
runtime   onnxruntime sessions built the same way everywhere (optimisation off by default)
"""
