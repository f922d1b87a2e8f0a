"""`make bench`: batchgen's makespan, overhead, scale-out, reads and creation, all in one run.

Everything runs on loopback and is thrown away afterwards: an OpenAI-compatible stub in its
own process, a private PostgreSQL and Redis, real `qcluster` processes. See `bench.run`.
"""
