"""fognet: DNN inference across edge/fog peers on one LAN (DINA, INFOCOM 2020).

config/     files people write: TOML readers, device profiles, cluster files, emulation
model/      ONNX in: zoo, graph analysis, cost profile
partition/  DINA-P: cuts, spatial slicing, sub-model extraction, cost model, planner
matching/   DINA-O: the pure matching game, its checker and exact optimum
placement/  pure glue for peers and simulator: a cluster file as planning state
net/        ZeroMQ transport, wire codec, discovery, link emulation
peer/       the peer daemon: membership, executor, matching agent, requester
sim/        discrete-event simulator and baselines
data/       frame sources: generated driving stream, image folders
cli/        the `fognet` command
"""

__version__ = "0.1.0"
