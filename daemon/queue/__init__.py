"""The queue: Redis and RQ. Jobs and their meta, their signatures and the table of
functions a worker may run, the read model (views, the list index, farm status) and
the commands (submit, cancel), fan-out over many workers, the worker itself, metrics
counters and webhooks, and the embedded Redis for a machine with none configured."""
