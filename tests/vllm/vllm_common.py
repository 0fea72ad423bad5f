"""Settings shared by the vLLM tests (this folder is on ``sys.path``: ``from vllm_common import ...``)."""

N_QUESTIONS = 20
PHRASING = "first"
#: tolerances of vLLM's float32 kernels against transformers'
MSP_TOL, LOGIT_TOL, LETTER_TOL, LOGLIK_TOL = 1e-4, 1e-3, 1e-4, 1e-3


def assert_agrees_with_hf(records, reference, questions, label: str) -> dict[str, float]:
    """Every question of ``records`` (a vLLM run) has the parse, grade and answer token of
    ``reference`` (the hf backend's), a response that extends it, and MSP, Max Logit, letter
    probabilities and option log-likelihoods within the tolerances; returns the worst differences."""
    import numpy as np

    worst = dict.fromkeys(["msp", "max_logit", "letters", "logliks"], 0.0)
    for q, v, h in zip(questions, records, reference, strict=True):
        assert (v["parsed"], v["grade"], v["answer_token"]) == (h["parsed"], h["grade"], h["answer_token"]), q.question_id
        assert v["response"].startswith(h["response"])  # hf fast mode stops once the answer is settled
        worst["msp"] = max(worst["msp"], abs(float(v["msp"]) - float(h["msp"])))
        worst["max_logit"] = max(worst["max_logit"], abs(float(v["max_logit"]) - float(h["max_logit"])))
        worst["letters"] = max(worst["letters"], float(np.max(np.abs(np.subtract(v["letter_probs"], h["letter_probs"])))))
        worst["logliks"] = max(worst["logliks"], float(np.max(np.abs(np.subtract(v["option_logliks"], h["option_logliks"])))))
    print(f"{label}, max abs differences:", worst)
    assert worst["msp"] <= MSP_TOL and worst["max_logit"] <= LOGIT_TOL
    assert worst["letters"] <= LETTER_TOL and worst["logliks"] <= LOGLIK_TOL
    return worst
