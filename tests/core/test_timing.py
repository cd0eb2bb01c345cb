import math

from pruneviz.core.timing import measure_latency
from pruneviz.io.models import load_model


def test_latency_is_a_positive_median_in_milliseconds():
    model = load_model("demo:cnn").module
    ms = measure_latency(model, (1, 8, 8), batch_size=4, repeats=5, warmup=1)
    assert ms > 0 and math.isfinite(ms) and ms < 10_000
