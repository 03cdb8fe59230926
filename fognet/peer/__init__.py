"""The peer daemon: membership, executor, matching agent, requester.

config       device profiles and cluster files (TOML)
membership   HELLO/STATE heartbeats; dead after 3 missed
store        content-addressed model files under FOGNET_CACHE, sha256-verified
executor     onnxruntime sessions per (model, node range, slice), one worker thread, backlog
slicing      the two ends of a spatial stage (split with halo, crop, merge)
node         the Peer: transport, membership, discovery and handlers in one TaskGroup
requester    frames through a plan in a star, several in flight, results in order
placement    who runs which stage: greedy, single peer, or the DP planner
source       a source session: join, place, stream, verify (what `fognet infer` runs)
clusterfile  a profile or cluster file made into a peer config, pacer and planning links
launch       a cluster file's peers as local processes, stopped without orphans
"""
