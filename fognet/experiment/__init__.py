"""Experiments on top of the simulator and the live cluster: runners, plots, the report.

    machine   what ran it: platform, cores, Python and onnxruntime versions
    parallel  run_points: a function over points, serial or on any concurrent.futures
              executor (worker processes for --jobs N, a Dask client's executor)
    points    SimPoint / PointResult: one scenario x seed through every approach
    config    the driving experiment's TOML (experiments/driving.toml)
    driving   `fognet experiment driving`: the points, the seeds' figures, results on disk
    partnner  one car and a far cloud, bandwidth and load changing: edge / cloud / fognet
    region    Feltin et al.'s acceleration region, predicted by the planner
    headline  the seeds' headline figures re-measured, each beside the paper's
    live      one `fognet infer` run as a subprocess, its per-frame figures
    fleet_frames  the live game on frames: 3 cars, 5 fog nodes, joint / alone / greedy
    bench     `fognet bench`: the suite, its JSON, and --compare
    outputs   a run's files: results.json (what plots and report read) and CSVs
    plots     the figures (matplotlib, Agg)
    report    experiments/report.md from a results directory
"""
