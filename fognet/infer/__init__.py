"""What `fognet infer` runs: a source session that joins a cluster, places its model and streams frames.

session      join as a source peer, place, stream, verify
joining      joining as a source: its requester identity, waiting for workers, the model shared by hash
replanning   the current plan, re-planned when the state moves, switched only for a gain
requester    frames through a plan in a star, several in flight, results in order
replay       surviving faults and overload: bans, adaptive deadlines, retries, the window
chain        the chain data flow, source side: frames pipelined through a chain of peers
pipeline     `fognet infer --flow chain`: the chain plan live, against the best single device
wirebytes    frames that travel as uint8 pixels: what the requester sends and checks
fidelity     how far a run's outputs are from the whole model run here (lossy encodings)
placement    who runs which stage: greedy, single peer, the DP planner, the reference policies
matched      the default placement: the DP's plan, its peers chosen by a round of the game
calibration  the source's measured view of peer speeds and its links
launch       a cluster file's peers as local processes, stopped without orphans
"""
