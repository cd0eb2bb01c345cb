from pruneviz.core.errors import PrunevizError
from pruneviz.core.jobs import Cancelled, Job


def test_job_reports_progress_and_result():
    seen = []

    def work(progress):
        for i in range(3):
            progress(i / 3, f"step {i}")
            seen.append(i)
        return sum(seen)

    job = Job("sum", work)
    assert job.wait(10) and job.done
    assert job.result == 3 and job.error is None and job.fraction == 1.0


def test_job_errors_are_captured_not_raised():
    def fail(progress):
        raise PrunevizError("no such layer")

    job = Job("fail", fail)
    job.wait(10)
    assert job.error == "no such layer" and job.result is None


def test_job_can_be_cancelled_and_keeps_partial_results():
    import threading

    started = threading.Event()
    partial = []

    def work(progress):
        for i in range(10_000):
            partial.append(i)
            started.set()
            progress(i / 10_000, f"step {i}")
            threading.Event().wait(0.001)
        return "finished"

    job = Job("long", work, partial)
    started.wait(5)
    job.cancel()
    assert job.wait(10) and job.cancelled and job.result is None and job.error is None
    assert 0 < len(job.partial) < 10_000


def test_stopped_work_can_return_what_it_has_so_far():
    import threading

    started = threading.Event()

    def work(progress):
        done = 0
        try:
            while True:
                done += 1
                started.set()
                progress(0.5, f"round {done}")
                threading.Event().wait(0.001)
        except Cancelled:
            return f"{done} rounds"

    job = Job("stoppable", work)
    started.wait(5)
    job.cancel()
    assert job.wait(10) and job.cancelled and job.error is None and job.message == "stopped"
    assert job.result.endswith("rounds")


def test_a_job_that_finished_before_the_stop_is_not_cancelled():
    job = Job("quick", lambda progress: 42)
    job.wait(10)
    job.cancel()
    assert not job.cancelled and job.result == 42
