"""Draft backends for scoring models at scale: vLLM's offline engine and OpenAI-compatible servers.

Same method as ``helpers.scoring`` (METHODS §3-§6): the paper's prompt as one chat turn, greedy
decoding up to 100 tokens, the answer parsed from the response, and at the token carrying the
answer letter MSP (full-vocabulary softmax probability, float32) and Max Logit (raw logit).

- :mod:`.folder` - a model folder vLLM loads as plain weights (drops ``quantization_config``);
- :mod:`.answers` - answer token from the generated tokens' texts, the :class:`~.answers.Answer` record;
- :mod:`.likelihood` - lm-evaluation-harness style option log-likelihoods (context/continuation split);
- :mod:`.offline` - :class:`~.offline.OfflineEngine`: ``vllm.LLM`` in-process, MSP + Max Logit +
  letter probabilities in one pass (a logits processor), option log-likelihoods from prompt logprobs;
- :mod:`.server` - :class:`~.server.VllmServer`: the OpenAI-compatible server as a subprocess;
- :mod:`.client` - :class:`~.client.ChatClient`: concurrent chat-completion client with retries;
  MSP from a log-probability server, Max Logit from a raw-logit one;
- :mod:`.bench` - throughput and peak memory of the transformers, offline and server routes.

These modules need the vLLM environment (``make vllm-env``) except :mod:`.folder`,
:mod:`.answers`, :mod:`.likelihood` and :mod:`.client`, which need only the standard library,
numpy and the book's own modules.
"""
