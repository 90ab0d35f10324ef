"""Behavioral evals: sycophancy, harmful requests, over-refusal, prompt injection.

Each module offers `evaluate(lm, items=None, out=None, ...) -> metrics`, for example::

    from alignlab.evals import sycophancy
    from alignlab.redteam.suites import sycophancy_items
    metrics = sycophancy.evaluate(lm, sycophancy_items("heldout"))

`audit` is the before/after check of the alignment studies (`sycophancy-dpo`, `cai`):
all three behaviours at once on held-out items, with generations cached by model.
"""
