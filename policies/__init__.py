"""The policy engine: policy files (YAML, conditions in CEL) + signals + context -> an explained decision.

Imports nothing else of Greenroom's.
"""
