"""ONNX models in.

zoo       built-in models (onnx's shipped graphs with seeded weights, and models built in code)
load      resolve a zoo name or a path to a checked, normalised model
graph     compute nodes, topological order, cut positions and their crossing sets
profile   FLOPs and measured per-node time, the cost profile the planner uses
"""
