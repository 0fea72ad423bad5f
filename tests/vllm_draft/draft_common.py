"""Settings shared by the vLLM backend tests."""

N_QUESTIONS = 20
PHRASING = "first"
SERVED_NAME = "smollm2-test"
