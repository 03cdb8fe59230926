"""DINA-O, pure (no sockets, clocks or threads): the matching game between subtasks and workers.

instance         the instance format of DESIGN.md, parsed and validated (frozen values, ids)
cost             the latency formula (shortest-work-first externality), shared by all below
game             deferred acceptance, then moves/swaps/displacements under the approval rule
check            independent exchange-stability checker (enumerates; shares no search code)
exact            exact optimum for small instances (branch and bound)
random_instance  seeded random instances in realistic ranges
messages         the matching protocol's messages, one frozen value each
agent            the game as per-party sans-I/O state machines (messages in, messages out)
local_driver     runs agents over in-memory queues, deterministically
"""
