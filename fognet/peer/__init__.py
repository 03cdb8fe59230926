"""The peer daemon: what every device runs, whether it is a source, a worker or both.

config       device profiles and cluster files (TOML)
clusterfile  a profile or cluster file made into a peer config, pacer and planning links
membership   HELLO/STATE heartbeats; dead after 3 missed; one live peer per name
store        content-addressed model files under FOGNET_CACHE, sha256-verified
executor     onnxruntime sessions per (model, node range, slice), one worker thread, backlog
slicing      the two ends of a spatial stage (split with halo, crop, merge)
trust        a closed peer's checks at start, its open-mode warning, whom beacons may introduce
node         the Peer: transport, membership, discovery, matchmaker and handlers in one TaskGroup
match/       the live matching game (DINA-O over ZeroMQ; the pure agents are in fognet.matching)
"""
