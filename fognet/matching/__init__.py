"""DINA-O, pure (no sockets, clocks or threads): the matching game between subtasks and sites.

instance         the instance format of DESIGN.md (version 2), parsed and validated
cost             the stream cost model: piece waits, transfers, stage/task latency, J
steps            the game's rules shared by play and the agents (hold, candidates, votes)
bounds           a lower bound on a step's change of J, so play prices only hopeful steps
site_table       every worker's pieces as arrays: a subtask's wait there, the harm it does
stage_floors     what a step leaves of each subtask's stage: its latency now, its other pieces' floors
wait_floors      floors on the wait a subtask meets where a step lands it (the bounds' mixin)
relief           what the other pieces gain when a subtask leaves, capped by their stages (the bounds' mixin)
game             deferred acceptance, then the agents' Turn protocol played centrally
check            independent exchange-stability checker (enumerates; shares no search code)
exact            exact optimum of J for small instances (branch and bound)
random_instance  seeded random version-2 instances in realistic ranges
messages         the matching protocol's messages, one frozen value each
agent            the game as per-party sans-I/O state machines (messages in, messages out)
local_driver     runs agents over in-memory queues, deterministically
round_rules      the live round's rules as pure functions (who plays, when phase 1 ends, the Turn)
period           throughput mode: several sources' chains on shared sites, the bottleneck utilisation U
period_game      the game on U: deferred acceptance, then moves / swaps / displacements (lexicographic)
period_check     independent stability checker for the period game (enumerates every step)
period_exact     the exact least U for small instances (branch and bound)
period_baselines  solo (each source alone), greedy and random placements of the same chains
"""
