"""Dialogue policy, its flows (clarification, repair, appointment check-in) and its phrases."""
