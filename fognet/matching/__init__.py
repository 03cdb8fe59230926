"""DINA-O, pure (no sockets, clocks or threads): the matching game between subtasks and workers.

instance  the instance format of DESIGN.md, parsed and validated
game      utilities, deferred acceptance, swaps/moves/displacements
check     independent exchange-stability checker (enumerates; shares no search code)
exact     exact optimum for small instances
"""
