"""Scalable oversight, each protocol measured against a known answer.

- `debate`: debate on 8x8 digits with a sparse pixel judge (Irving et al. 2018);
- `debate_lm`: debate, consultancy and naive judging for any LM over hidden fact tables;
- `prm`: outcome vs process reward models, best-of-N, Monte-Carlo step labels;
- `rrm`: recursive reward modeling on a decomposable task;
- `judge_audit`: an AI judge's agreement with humans and audit-sampled error estimates;
- `stats`: intervals and Cohen's kappa shared by them.
"""
