"""A request's path through preLLM, one small module per stage (see ``path.py``).

admit    (admit.py)    conversation, sanitizer, trace, memory read, budget reservation
route    (route.py)    rules, strategy or pipeline, response schema
gather   (gather.py)   user, domain, rule, runtime and project context
analyse  (analyse.py)  the small model: a strategy's analysis or a pipeline, or a fallback
clarify  (clarify.py)  a rule's missing facts; the ``ask`` policy's early answer
compose  (compose.py)  split's parts, the composed prompt, the large messages, redaction
answer   (answer.py)   the large model, streamed or structured
finish   (finish.py)   the PreLLMResult; trace, memory, and the budget settled
"""

from .deps import EngineDeps
from .options import RunOptions, check_llm_kwargs
from .path import Event, run_request
from .state import RequestState

__all__ = ["EngineDeps", "Event", "RequestState", "RunOptions", "check_llm_kwargs", "run_request"]
