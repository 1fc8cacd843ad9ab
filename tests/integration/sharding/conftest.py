"""The scripts here run in fresh interpreters (fake devices must be set before JAX is
imported); only ``test_sharding.py`` is collected, even with ``--doctest-modules``."""

collect_ignore = ["distributed_worker.py", "no_gather.py", "sharded_operators.py"]
