"""DINA-P, pure (no sockets, clocks or threads).

extract   sub-models for a node range, with the crossing set computed
vertical  K-way splits at cut positions, the manifest
spatial   slicing a run of spatially local ops along H, with halos
cost      the latency formulas of DESIGN.md
plan      the dynamic program over cuts and spatial splits
"""
