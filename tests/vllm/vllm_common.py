"""Settings shared by the vLLM tests (this folder is on ``sys.path``: ``from vllm_common import ...``)."""

N_QUESTIONS = 20
PHRASING = "first"
#: tolerances of vLLM's float32 kernels against transformers'
MSP_TOL, LOGIT_TOL, LETTER_TOL, LOGLIK_TOL = 1e-4, 1e-3, 1e-4, 1e-3
