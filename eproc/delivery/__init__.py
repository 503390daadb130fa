"""The webhook worker's outbound HTTP: Standard Webhooks signing, address checks, one bounded POST.

Knows nothing of the store or the use cases: it is given a URL, a secret, an id and a body, and
says what happened.
"""
