"""The read-only web dashboard on the manager's HTTP listener: each miner's
strip of deadlines, a deadline's partitions, workers, misses and alerts,
and shadow mode's comparison with the chain's own PoSts.

``states`` (what a deadline shows, pure), ``auth`` (who may see it, pure),
``views`` (rows to what a page shows, pure), ``shadow`` (shadow rows to the
``/shadow`` page, pure), ``pages`` (the routes: read, build, render with
Jinja2), ``templates/`` (package data). The store side is
``prover.store.overview``, the dashboard's SELECTs, and
``prover.store.shadow``'s ``ShadowBook.rows``.
"""
