"""Guardrails: what a generated answer may state (grounding, the promise rule) and privacy masking."""
