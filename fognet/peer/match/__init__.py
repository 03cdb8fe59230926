"""The live DINA-O: the I/O shell that plays fognet.matching's agents between peers over the wire.

matchmaker    the rounds one peer takes part in, hosted by the node
live_round    one round's course as this peer plays it (LiveRound); phase1 and phase2 are its methods
phase1        deferred acceptance live: PROPOSE / ACCEPT / REJECT, PROPOSALS_DONE, HOSTED
phase2        approved steps live: the Turn, STEP_ASK / STEP_VOTE / STEP_COMMIT, hopeless steps unasked
opening       who plays a round, agreed through its leader: ROUND_OPEN knowledge, frozen roster
courier       a round's clock, sending by peer name, and the small checks on what arrives
round_values  what a round ended with (its figures, game ids and instance: placement/instance)
wire_bodies   agent messages <-> wire bodies, and the checks the codec cannot make
"""
