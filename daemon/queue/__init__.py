"""The queue: Redis and RQ. Jobs and their meta, the read model (views) and the
commands (submit, cancel), fan-out over many workers, the worker itself, and the
embedded Redis for a machine with none configured."""
