"""The containers service of berthd: its store, the specs it makes for the runtime,
the start and the exit, and what Docker's container API asks of it."""
