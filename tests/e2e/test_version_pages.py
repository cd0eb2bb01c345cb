"""The version rule through the pages (AppTest): results follow the weights they came from, jobs hand
over only to the model they started on, and nothing is lost or applied half-way."""

from streamlit.testing.v1 import AppTest

from tests.e2e.test_pages import WORKSPACE, _run_sweep, open_page


def test_an_allocation_goes_with_the_sweep_it_came_from_and_sends_that_sweeps_criterion():
    """Regression: the allocation survived a new sweep, and 'send to Prune' paired its sparsities with
    the new sweep's criterion and granularity."""
    at = open_page("app.py")
    at.switch_page("pages/5_Sensitivity.py").run()
    _run_sweep(at)
    at.button(key="sens_auto").click().run()
    ws = at.session_state[WORKSPACE]
    auto = ws.allocation
    assert auto is not None and (auto.criterion, auto.granularity.name) == ("magnitude", "unstructured")
    at.selectbox(key="sens_granularity").set_value("filter")
    _run_sweep(at)  # another sweep: filters by l1
    assert ws.sensitivity.spec.granularity.name == "filter"
    assert ws.allocation is None and not any(b.key == "sens_auto_send" for b in at.button)
    at.button(key="sens_auto").click().run()
    sent = ws.allocation
    at.button(key="sens_auto_send").click().run()  # opens the Prune page, which shows what was sent
    assert not at.exception and ws.prune_request is None
    assert (at.session_state["prune_granularity"], at.session_state["prune_criterion"]) == ("filter", "l1")
    sliders = {n: at.slider(key=f"prune_layer_{n}").value for n in sent.sparsity}
    assert (
        sliders == {n: min(99, round(100 * f)) for n, f in sent.sparsity.items()} != dict.fromkeys(sliders, 0)
    )
    assert ws.session.plans[next(iter(sent.sparsity))].granularity.name == "filter"


def test_a_recovery_replaces_only_the_model_it_started_from():
    """Regression: a finished Recover job replaced whatever smaller model was current, even one built
    after it started."""
    at = open_page("pages/4_Structured.py")
    at.slider(key="st_layer_conv2").set_value(50).run()
    at.button(key="st_apply").click().run()
    ws = at.session_state[WORKSPACE]
    at.number_input(key="st_recover_steps").set_value(30)
    at.button(key="st_recover_start").click().run()
    job = ws.jobs["recover"]
    at.slider(key="st_layer_conv2").set_value(25).run()
    at.button(key="st_apply").click().run()  # another smaller model, built while the first one trains
    second = ws.shrunk
    assert job.wait(120) and job.error is None
    at.run()
    assert ws.shrunk is second and ws.shrunk_curve is None and "recover" not in ws.jobs
    assert any("for a model you have changed since it started" in w.value for w in at.warning)


def test_a_finished_job_survives_a_rerun_in_the_middle_of_its_handover():
    """Regression: finished jobs were popped before the page took their result; a rerun in between lost it."""

    def page() -> None:
        import streamlit as st

        from pruneviz.core.jobs import Job
        from pruneviz.ui.keys import PRUNE
        from pruneviz.ui.state import workspace
        from pruneviz.ui.widgets import follow_job

        ws = workspace()
        if "started" not in st.session_state:
            st.session_state["started"] = True
            ws.jobs["answer"] = Job("answer", lambda progress: 42)
            ws.jobs["answer"].wait()

        def adopt(job):
            if not st.session_state.get("interrupted"):
                st.session_state["interrupted"] = True
                st.rerun()  # as if the user clicked something right now
            st.session_state["adopted"] = job.result

        follow_job(ws, "answer", "The answer", PRUNE, adopt)

    at = AppTest.from_function(page, default_timeout=120).run()
    assert at.session_state["adopted"] == 42 and "answer" not in at.session_state[WORKSPACE].jobs
