"""LLM serving on multi-chip systems: a per-step cost model and a discrete-event serving simulator."""
