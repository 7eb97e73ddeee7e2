"""The chaos harness: a roost cluster under injected faults, and a checker of its history.

``python3 dev.py chaos [--seconds S] [--seed N] [--nodes 3]`` (docs/chaos.md). Not part of
the installed package: it lives beside the code it tests, like bench/.

- :mod:`chaos.app`: the actors the clients drive (logs of operation ids, a ledger);
- :mod:`chaos.history`: the records of a run (JSON lines);
- :mod:`chaos.checker` (+ :mod:`chaos.checker_store`): the rules and the loss bound;
- :mod:`chaos.schedule`: the seeded fault schedule;
- :mod:`chaos.proxy`: the cuttable TCP proxies in front of PostgreSQL and the node links;
- :mod:`chaos.cluster`: the node processes and the faults applied to them;
- :mod:`chaos.workload`: the clients; :mod:`chaos.observer`: the store poller;
- :mod:`chaos.run`: one run from start to verdict; ``python3 -m chaos`` its command line.
"""
