"""``hub import customers FILE``: customers another CRM exported (CSV or JSONL) become the hub's own.

The work is split so each step has one job: :mod:`~hub.importing.spec` says which column holds what,
:mod:`~hub.importing.reading` turns a file into numbered records, :mod:`~hub.importing.mapping` turns a
record into normalised identities and attribute values (or a reason it is bad), :mod:`~hub.importing.plan`
decides, with the timeline writer's own identity resolution, what each row appends, and
:mod:`~hub.importing.append` reads and writes the store a batch per transaction. Only the last does I/O.
"""
