"""Answers: the LLM tier (engine, prompts, constrained routing) and the answer composer."""
