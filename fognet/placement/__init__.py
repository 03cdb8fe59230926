"""Pure glue between DINA-P, DINA-O and their drivers: the peers, `fognet infer` and the simulator.

state      a cluster file as the planner's ClusterState (links in emulated time when paced)
"""
