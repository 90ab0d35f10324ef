"""Keep a model in check in deployment: a guard proxy with policies, a journal that
loses nothing, human audit sampling, rate limits, a kill switch and a dashboard."""

from alignlab.monitor.audit import AuditConfig, audit_reason, drift_alerts
from alignlab.monitor.journal import Journal, JournalUnavailable, JournalWriter, hash_key
from alignlab.monitor.policy import Policy, Verdict, load_policy, policy_from_dict, run_stage
from alignlab.monitor.request import BadRequest, ChatRequest, parse_chat_request
from alignlab.monitor.server import ServeConfig, create_app, serve

__all__ = [
    "AuditConfig", "BadRequest", "ChatRequest", "Journal", "JournalUnavailable",
    "JournalWriter", "Policy", "ServeConfig", "Verdict", "audit_reason", "create_app",
    "drift_alerts", "hash_key", "load_policy", "parse_chat_request", "policy_from_dict",
    "run_stage", "serve",
]
