"""Discrete-event simulator and baselines, built on the same planner and game as the peers.

scenario     scenario and sweep TOML files, read through fognet.config (ConfigError, one line)
cluster      the simulated peers and links of a scenario (fixed facts)
costs        a model's graph, per-node reference times, stage bytes and slice pricing
engine       the event loop: a heap of (time, seq, callback), nothing else
resources    shared links and NICs (processor sharing) and FIFO / shortest-first queues
planning     each source's state at a round's start; plans cached by state signature
approaches   fognet and the baselines: who runs what, per round
runner       rounds and frames through the resources; one record per frame
records      frame records, summaries, CSV and JSON
experiment   every approach on a scenario or sweep, on the same frames and costs
"""
