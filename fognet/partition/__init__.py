"""DINA-P, pure (no sockets, clocks or threads).

stages        a plan as frozen values: stages, who runs each, slice rows (JSON round trip)
extract       sub-models for a node range, with the crossing set computed
vertical      K-way splits at cut positions, the manifest
halo          row arithmetic of spatially local ops along H, the halo plan of one slice
spatial       slicing a run of spatially local ops along H, with halos
stagebytes    bytes in and out of every candidate stage, computed once per model
cost          the latency formulas of DESIGN.md
plan          the dynamic program over cuts and spatial splits
replan        when to re-plan and when to switch (thresholds, hysteresis)
calibrate     online re-estimation of peer speeds and link bandwidths, robust to outliers
"""
