"""DINA-P, pure (no sockets, clocks or threads).

stages             a plan as frozen values: stages, who runs each, slice rows (JSON round trip)
extract            sub-models for a node range, with the crossing set computed
vertical           K-way splits at cut positions, the manifest
row_geometry       row arithmetic of each op kind along H: which input rows output row r reads
halo               the halo plan of one slice: input rows walked back, valid rows checked forward
spatial_ops        the per-op rules: which ONNX nodes are local along H, their geometry and rewrites
spatial_runs       runs of spatially local nodes: the stages that can be split along H
spatial_slices     slice specs (rows in, rows kept) and the split / crop / merge of tensors
spatial_rewrite    the ONNX sub-model a slice runs, and the reference split-run-merge flow
stagebytes         bytes in and out of every candidate stage, computed once per model
encoding           bytes on the wire: uint8 frames, raw / float16 / LZ4 activations (Encoding)
cost               the latency formulas of DESIGN.md
plan               the dynamic program over cuts and spatial splits
memory             a partition's memory: its weights plus its peak live activations
throughput         chain plans scored by their period (Feltin et al.; ITNAC's placement)
throughput_dp      the bottleneck DP over (stages, position, last peer) that chain planners share
throughput_exact   the exact minimum period of a chain plan (branch and bound)
throughput_region  the acceleration region as a verdict: does partitioning pay, and why
replan             when to re-plan and when to switch (thresholds, hysteresis)
calibrate          online re-estimation of peer speeds and link bandwidths, robust to outliers
"""
