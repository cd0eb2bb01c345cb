"""Small Streamlit widgets shared by several pages."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException

from pruneviz.core.granularity import UNSTRUCTURED, Granularity
from pruneviz.core.humanize import count, percent, size
from pruneviz.core.jobs import Job
from pruneviz.tasks import Metric, Task
from pruneviz.ui.keys import STRUCTURED, PageKeys
from pruneviz.ui.state import Workspace, errors_shown, held_caption
from pruneviz.workflows.apply import as_applied
from pruneviz.workflows.session import PruneSession, Report
from pruneviz.workflows.structured import Removal

Note = tuple[str, str]  # (streamlit alert: "info" | "warning" | "error" | "success", text)


def require_prunable_layers(session: PruneSession) -> None:
    """Stop the page with a message when the model has nothing to prune."""
    if not session.layer_names:
        st.info("This model has no prunable layers (Conv or Linear); pick another on the Model & data page.")
        st.stop()


def ensure_scores(session: PruneSession, criterion: str, kind: Granularity = UNSTRUCTURED) -> bool:
    """Compute (once) the scores of ``criterion``, with a progress bar; False if it failed (shown)."""
    if session.has_scores(criterion, kind):
        return True
    bar = st.progress(0.0, text=f"Computing {criterion} importance…")
    with errors_shown():
        session.scores(criterion, kind, progress=lambda f, m: bar.progress(f, text=m))
        bar.empty()
        return True
    bar.empty()
    return False


def info_metric(col, label: str, value: str, note: str) -> None:
    """A metric whose second line is context ("12% of 38 k"), not a change: no arrow, no colour."""
    col.metric(label, value, note, delta_color="off", delta_arrow="off")


def change_metric(col, label: str, value: str, change: str, higher_is_better: bool) -> None:
    """A metric with its signed ``change``, coloured by which way is better; a change that shows as
    zero (``+0.0 pt``, ``+0.000``) gets no arrow and no colour."""
    if not any(c in "123456789" for c in change):
        col.metric(label, value, change, delta_color="off", delta_arrow="off")
    else:
        col.metric(label, value, change, delta_color="normal" if higher_is_better else "inverse")


def task_metric(col, metric: Metric, now: float, base: float, label: str | None = None) -> None:
    """The task's metric with its change from ``base``, coloured by which way is better."""
    change_metric(
        col, label or metric.label, metric.format(now), metric.change(now, base), metric.higher_is_better
    )


REMOVALS_KEPT = 8  # recent plans kept per session: moving a slider back is instant, memory stays bounded


def preview_plan(ws: Workspace, plan: object, finding: str, find: Callable[[], Removal]) -> Removal | None:
    """Make ``plan``'s removal the session's structured preview: found by ``find`` (``finding`` on the
    spinner) the first time, from the session's recent plans after. A removal of nothing previews
    nothing: the session keeps (or gets back) the masks a preview would set aside. Returns the removal,
    or None when finding it failed (the error is shown and the session stays as it was)."""
    with errors_shown():
        removals, key = ws.cache("removals"), repr(plan)
        if key not in removals:
            with st.spinner(finding):
                removals[key] = find()
            while len(removals) > REMOVALS_KEPT:  # each holds a mask per parameter
                removals.pop(next(iter(removals)))
        removal = removals[key]
        if removal.empty:
            ws.session.end_preview()
        elif ws.session.removal is not removal:  # the preview is what the page shows, from the first render
            ws.session.preview_removal(removal)
        return removal
    return None


def end_structured_preview(ws: Workspace) -> None:
    """Back from the Structured page's preview to the masks it set aside; the Structured page's controls
    go back to removing nothing, so opening it again does not bring the preview back unasked."""
    for key in [k for k in st.session_state if STRUCTURED.owns(k)]:
        del st.session_state[key]
    ws.dropped_heads = {}
    ws.session.end_preview()


def back_to_masks_button(ws: Workspace, key: str) -> None:
    """While a structured preview is the session's model: say what it set aside, with the way back."""
    aside = ws.session.set_aside
    if ws.session.removal is None or aside is None:
        return
    if aside.dense:
        what, back = "the dense model (nothing was masked)", "Back to the dense model"
    else:
        what = f"the Prune page's masks on {len(aside.masks)} layer(s)"
        back = "Back to the Prune page's masks"
    st.info(
        f"The Structured page's preview is the session's model now: every page (Export included) shows "
        f"and exports it. It set aside {what}: this button, or a slider moved on the Prune page, brings "
        "that back.",
        icon=":material/info:",
    )
    st.button(
        back,
        key=key,
        on_click=end_structured_preview,
        args=(ws,),
        icon=":material/undo:",
    )


def removal_metrics(ws: Workspace) -> None:
    """The Structured preview's row: the task's metric now, and the parameters and MACs the smaller
    model will have (predicted from the preview). With nothing chosen to remove, the row is the
    session's model as it stands (the Prune page's masks, or dense), so every figure describes one
    model."""
    session = ws.session
    metric = session.task.metric
    held_caption(ws)
    cols = st.columns(3)
    if session.removal is None:
        now = session.report()
        source = "Prune page's masks" if session.masks else "dense"
        task_metric(cols[0], metric, now.score, ws.baseline.score, f"{metric.label} ({source})")
        info_metric(cols[1], "Non-zero params", count(now.params_nonzero), "nothing removed here yet")
        info_metric(cols[2], "Effective MACs", count(now.macs_effective), "nothing removed here yet")
        return
    params, macs = session.predicted_counts()
    task_metric(cols[0], metric, session.report().score, ws.baseline.score, f"{metric.label} (preview)")
    info_metric(
        cols[1],
        "Parameters after removal",
        count(params),
        f"{percent(params / ws.baseline.params_total)} of dense",
    )
    info_metric(
        cols[2], "MACs after removal", count(macs), f"{percent(macs / ws.baseline.macs_dense)} of dense"
    )
    back_to_masks_button(ws, STRUCTURED("back_to_masks"))


def build_button(ws: Workspace, key: str, units: str) -> None:
    """ "Build the smaller model": the session's structured preview becomes a model of its own (kept on
    ``ws`` with undo); ``units`` names what the user chooses to remove, for the message when nothing is."""
    if st.button("Build the smaller model", type="primary", key=key):
        if ws.session.removal is None or ws.session.removal.empty:
            st.warning(f"Nothing to remove yet: choose {units} above.")
        else:
            with errors_shown(), st.spinner("Building the smaller model…"):
                ws.built(as_applied(ws.session, ws.baseline))


def _share(part: float, whole: float) -> str:
    """'12.0% of 38.3 k' (a model without weights or MACs has no share to show)."""
    return f"{percent(part / whole)} of {count(whole)}" if whole else "none in this model"


def metrics_row(now: Report, base: Report, task: Task) -> None:
    """The task's metric (with change vs baseline), loss, parameters, MACs, size and the task's other
    figures side by side; an estimate says how many samples it rests on and its 95% interval."""
    metric = task.metric
    top, bottom = st.columns(3), st.columns(3)
    e = now.estimate
    if now.complete:
        task_metric(top[0], metric, now.score, base.score)
    elif not e.bounded:  # one window has no spread yet: nothing worth a number
        top[0].metric(metric.label, "measuring…")
        top[0].caption(f"{e.samples} of {e.total} {e.unit} so far: the estimate needs a second.")
    else:  # an estimate is compared with the dense model on the very same samples, never on all of them
        task_metric(top[0], metric, now.score, base.score if e.reference is None else e.reference)
        top[0].caption(
            f"Estimate from {e.samples} of {e.total} {e.unit} (change against the dense model on the same "
            f"{e.unit}), 95% interval {metric.format(e.low)}–{metric.format(e.high)}: refining…"
        )
    if now.complete:
        change_metric(
            top[1], "Loss", f"{now.loss:.3f}", f"{now.loss - base.loss:+.3f}", higher_is_better=False
        )
    else:
        info_metric(top[1], "Loss", f"{now.loss:.3f}", f"estimate from {e.samples} {e.unit}")
    info_metric(
        top[2], "Non-zero params", count(now.params_nonzero), _share(now.params_nonzero, now.params_total)
    )
    info_metric(
        bottom[0], "Effective MACs", count(now.macs_effective), _share(now.macs_effective, now.macs_dense)
    )
    label = f"Sparse + {now.quantize} size" if now.quantize else "Sparse size"
    info_metric(bottom[1], label, size(now.size_bytes_sparse), f"dense {size(now.size_bytes_dense)} fp32")
    for col, (key, label) in zip(bottom[2:], task.extra_figures.items()):  # room for one more figure
        value = now.figures.get(key)
        col.metric(label, "–" if value is None else percent(value))


def pinned_column(key: str):
    """A container whose column stays in view while the page scrolls (the Prune page's figures beside a
    long column of sliders): returns the container to draw into."""
    st.html(
        f"<style>[data-testid='stColumn']:has(.st-key-{key}) "
        "{position: sticky; top: 3.75rem; align-self: flex-start; z-index: 2}</style>"
    )
    return st.container(key=key)


def rerun_fragment() -> None:
    """Run the current fragment again (the whole page when it runs as part of one)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def follow_job(
    ws: Workspace,
    name: str,
    what: str,
    page: PageKeys,
    adopt: Callable[[Job], Note | None],
    draw=None,
    stop_label: str = "Cancel",
    cancelled: str = "Cancelled.",
    keep_stopped: bool = False,
) -> None:
    """Show background job ``name`` while it runs (progress, a stop button and ``draw(job)`` for partial
    results, refreshed twice a second). Once it has finished, hand it to ``adopt`` — if it succeeded (or
    was stopped and ``keep_stopped``) and its result still describes the session (``job.current()``) —
    then forget the job and run the page again, so that every part of it (the caption naming the model
    held, above all) shows what the job changed; that run says what happened. ``adopt`` takes the result
    over without drawing (a rerun can interrupt drawing, never that) and returns what to tell the user,
    as (level, text), if anything."""
    said = ws.job_notes.pop(name, None)
    if said is not None:
        level, text = said
        getattr(st, level)(text, icon="⚠️" if level == "error" else None)
    job = ws.jobs.get(name)
    if job is None:
        return
    if not job.done:

        @st.fragment(run_every=0.5)
        def live() -> None:
            if job.done:
                st.rerun()
            st.progress(job.fraction, text=job.message)
            st.button(stop_label, key=page(f"{name}_stop"), on_click=job.cancel)
            if draw is not None:
                draw(job)

        live()
        return
    if job.error:
        note: Note | None = ("error", f"{what} failed: {job.error}")
    elif job.cancelled and not keep_stopped:
        note = ("warning", cancelled)
    elif not job.current():
        note = ("warning", f"{what} finished, but for a model you have changed since it started: its result "
                "is not used (run it again on the model as it is now).")  # fmt: skip
    else:
        note = adopt(job)
    if note is not None:
        ws.job_notes[name] = note
    del ws.jobs[name]  # only now: a rerun before this line finds the job again and adopts it then
    st.rerun()
