"""Pure glue between DINA-P, DINA-O and their drivers: the peers, `fognet infer` and the simulator.

state      a cluster file as the planner's ClusterState (links in emulated time when paced)
pricing    one model's prices: node work, stage bytes, the one slice rule (the halo walk)
subtasks   plan -> the game's subtasks (one per whole stage, one per slice), by that rule
instance   what peers tell a round (figures, game ids) -> the game's Instance (one builder)
joint      planning with the game: best response between DINA-P and DINA-O (DINA-P item 4)
refit      matching -> plan: stages on the peers they got, rows re-fitted, neighbours merged
policies   the placement policies by name: DINA-P and the baselines (local, best node,
           Neurosurgeon, MoDNN), and the matchers (the game, greedy = phase 1, random)
chains     chain plans priced as the period game's instance (throughput mode, several sources)
chain_joint  chain cuts planned with the period game: best responses against the others' load
period_file  chain instances as JSON (`fognet match`'s "objective": "period")
"""
