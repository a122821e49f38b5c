"""Intent understanding, dialogue policy, guardrails, answers and the knowledge hub."""
