"""Run records, plots and the HTML report."""

from alignlab.report.compute import THRESHOLDS, compute_record, train_flops
from alignlab.report.html import Section, paragraphs, write_report
from alignlab.report.run import (
    BUDGETS,
    Run,
    atomic_write_text,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
    seed_everything,
)

__all__ = [
    "BUDGETS", "THRESHOLDS", "Run", "Section", "atomic_write_text", "compute_record",
    "load_checkpoint", "paragraphs", "read_metrics", "save_checkpoint", "seed_everything",
    "train_flops", "write_report",
]
