"""Retrying source extracts: only transient source errors earn another attempt.

`SOURCE_RETRY_POLICY` goes on the raw assets; the asset body re-raises what the source raised
through `fail_without_retry_unless_transient`, so a wrong key or a bad request fails at once
instead of four times over ten minutes.
"""

from __future__ import annotations

from dagster import Backoff, Failure, Jitter, RetryPolicy

from eth_assets.chain.source_columns import TransientSourceError

# Three more attempts, after 30 s, 90 s and 210 s (Dagster's exponential backoff: (2^n - 1) × 30 s),
# each ± up to 30 s so that runs which failed together do not come back together.
SOURCE_RETRY_POLICY = RetryPolicy(
    max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def fail_without_retry_unless_transient(error: BaseException) -> BaseException:
    """The error to raise for `error` under SOURCE_RETRY_POLICY: a TransientSourceError as it
    is (retried), anything else as a Failure that no retry policy repeats.

    Use as `except Exception as error: raise fail_without_retry_unless_transient(error) from
    error`, so the original traceback stays attached.
    """
    if isinstance(error, TransientSourceError):
        return error
    return Failure(description=str(error), allow_retries=False)
