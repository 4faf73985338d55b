"""The gate: media intake, running detectors, asking the policy engine, recording decisions, queues, jobs.

May import detectors, policies, generator and store.
"""
