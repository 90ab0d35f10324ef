"""Records (Sample, Conversation, PreferencePair, StepTrace) and their validated I/O."""

from alignlab.data.jsonl import (
    DataError,
    from_hf_dataset,
    read_jsonl,
    read_jsonl_dicts,
    record_to_dict,
    to_hf_dataset,
    write_jsonl,
)
from alignlab.data.records import (
    RECORD_TYPES,
    Conversation,
    Message,
    PreferencePair,
    RecordError,
    Sample,
    StepTrace,
)

__all__ = [
    "RECORD_TYPES", "Conversation", "DataError", "Message", "PreferencePair", "RecordError",
    "Sample", "StepTrace", "from_hf_dataset", "read_jsonl", "read_jsonl_dicts", "record_to_dict",
    "to_hf_dataset", "write_jsonl",
]
