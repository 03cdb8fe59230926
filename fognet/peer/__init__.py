"""The peer daemon: membership, executor, matching agent, requester.

config       device profiles and cluster files (TOML)
membership   HELLO/STATE heartbeats; dead after 3 missed; one live peer per name
store        content-addressed model files under FOGNET_CACHE, sha256-verified
executor     onnxruntime sessions per (model, node range, slice), one worker thread, backlog
slicing      the two ends of a spatial stage (split with halo, crop, merge)
node         the Peer: transport, membership, discovery, matchmaker and handlers in one TaskGroup
requester    frames through a plan in a star, several in flight, results in order
placement    who runs which stage: greedy, single peer, or the DP planner (baselines)
matched      the default placement: the DP's plan, its peers chosen by a round of the game
calibration  the source's measured view of peer speeds and its links
source       a source session: join, place, stream, verify (what `fognet infer` runs)
clusterfile  a profile or cluster file made into a peer config, pacer and planning links
launch       a cluster file's peers as local processes, stopped without orphans

The live matching game (DINA-O over ZeroMQ; the pure agents are in fognet.matching):
matchmaker   the rounds one peer takes part in, hosted by the node
rounds       a round's values: figures, results, game ids, plan -> subtasks
round        one round's course; proposals (phase 1) and steps (phase 2) are its methods
roundkit     timing, sending by peer name, checks
matchwire    agent messages <-> wire bodies
matchplay    in-process live peers for tests and the benchmark
"""
