"""Behavioral evals: sycophancy, harmful requests, over-refusal, prompt injection.

Each module offers `evaluate(lm, items=None, out=None, ...) -> metrics`, for example::

    from alignlab.evals import sycophancy
    from alignlab.redteam.suites import sycophancy_items
    metrics = sycophancy.evaluate(lm, sycophancy_items("heldout"))
"""
