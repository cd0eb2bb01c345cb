"""Per-browser-session state for the dashboard, over one shared read-only baseline per model.

Workshop rule: many sessions share one cached :class:`LoadedModel` and :class:`DataSet` (read-only);
each browser session owns one :class:`Workspace`: its own :class:`PruneSession` (working copy, masks,
evaluator) and every result its pages keep, as typed fields. Nothing lives in loose
``st.session_state`` entries besides widget values (keys from :mod:`pruneviz.ui.keys`), and switching
models builds a fresh workspace, so nothing of the old model survives by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields

import streamlit as st
from streamlit import config
from streamlit.errors import StreamlitPageNotFoundError

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import Granularity
from pruneviz.core.history import History
from pruneviz.core.humanize import percent
from pruneviz.core.jobs import Job
from pruneviz.io.data import DataOptions, DataSet
from pruneviz.io.gate import Gate, spec_path
from pruneviz.io.models import LoadedModel, ModelOptions, UntrustedPickle
from pruneviz.io.room import RoomStore
from pruneviz.ui import keys
from pruneviz.ui.serving import ServerPolicy
from pruneviz.ui.uploads import Uploads, server_root
from pruneviz.workflows.allocate import AutoResult
from pruneviz.workflows.apply import Applied, LatencyComparison, Verification, as_applied
from pruneviz.workflows.compare import CriteriaComparison
from pruneviz.workflows.generate import Continuations
from pruneviz.workflows.hardware import HardwareReport
from pruneviz.workflows.lottery import LotteryRun
from pruneviz.workflows.recipe import Recipe, recipe_problem, recipe_text, resolve, session_document
from pruneviz.workflows.recovery import Point
from pruneviz.workflows.room import TokenGuard
from pruneviz.workflows.sensitivity import LiveSweep, Sensitivity
from pruneviz.workflows.session import (
    GlobalPlan,
    LayerPlan,
    PruneSession,
    Report,
    Snapshot,
    Stamp,
    load_pair,
    resolve_device,
)
from pruneviz.workflows.structured import Removal, StructuredPlan
from pruneviz.workflows.transformer import SpeedUp, TransformerPlan, UnitScores

DEFAULT_MODEL = "demo:cnn"
KEY = "pruneviz_workspace"


@dataclass(frozen=True)
class Page:
    """One entry of the sidebar's navigation: its file, its label, its icon, and what it is for (the
    Overview lists the pages in the sidebar's order with these lines)."""

    path: str
    label: str
    icon: str
    what: str


# Sidebar navigation; page files keep numbers with gaps for pages still to come.
NAVIGATION = [
    Page("app.py", "Overview", ":material/home:", "this page: where you are, and what this server allows."),
    Page("pages/1_Model_and_data.py", "Model & data", ":material/inventory_2:",
         "load a demo, torchvision, Hugging Face or your own model and a validation set."),
    Page("pages/2_Importance.py", "Importance", ":material/local_fire_department:",
         "heatmaps of weight and gradient importance, per-filter scores, weight histograms."),
    Page("pages/3_Prune.py", "Prune", ":material/content_cut:",
         "per-layer sparsity sliders and presets; the metric, parameters, MACs and size update live."),
    Page("pages/10_Generate.py", "Generate", ":material/edit_note:",
         "a language model's prompt continued by the dense and the pruned model side by side."),
    Page("pages/4_Structured.py", "Structured", ":material/view_column:",
         "remove whole filters (a transformer's heads, MLP channels, blocks) for real, see what shrinks "
         "with them, measure the speed-up, recover."),
    Page("pages/5_Sensitivity.py", "Sensitivity", ":material/show_chart:",
         "each layer pruned alone, level by level; automatic per-layer allocation from it."),
    Page("pages/6_Recovery.py", "Recovery", ":material/healing:",
         "fine-tune the Prune page's masks, held at zero, and watch the metric come back."),
    Page("pages/7_Lottery_ticket.py", "Lottery ticket", ":material/confirmation_number:",
         "prune, rewind, retrain: find a winning ticket."),
    Page("pages/8_Export.py", "Export", ":material/download:",
         "the model every page shows, written and verified, its hardware report, snippet and report."),
    Page("pages/9_Learn.py", "Learn", ":material/school:",
         "the techniques in a few sentences each, with live examples and exercises."),
    Page("pages/11_Room.py", "Room", ":material/groups:",
         "a workshop's shared configurations side by side, live; the instructor runs the room."),
]  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """What the user picked on the Model & data page (hashable: it keys the shared model cache)."""

    model: str = DEFAULT_MODEL
    data: str | None = None
    limit: int | None = None
    context: int | None = None  # language models: tokens per window
    calibration: int | None = None  # language models: calibration windows
    weights: str | None = None
    arch: str | None = None
    trust_pickle: bool = False


FLOAT = "float"  # the Prune page's weight format when nothing is quantised


@dataclass(frozen=True)
class SliderRequest:
    """Slider positions another page (Sensitivity, an uploaded recipe) asks the Prune page to show:
    one granularity and criterion, per-layer sparsity (fractions) and, from a recipe, the weight format
    (None: the Weights control stays as it is)."""

    granularity: Granularity
    criterion: str
    sparsity: dict[str, float]
    weights: str | None = None

    @classmethod
    def of_recipe(cls, recipe: Recipe, session: PruneSession) -> SliderRequest:
        """The sliders that show ``recipe`` on the Prune page, which has one criterion and granularity for
        all layers (a recipe mixing them is refused); a global recipe becomes the per-layer fractions its
        ranking gives (measured on a fork: the session keeps its masks). Ask before applying it."""
        plan = resolve(recipe, session.layers)
        weights = recipe.quantize or FLOAT
        if isinstance(plan, GlobalPlan):
            scratch = session.fork()
            scratch.apply_global(plan)
            return cls(plan.granularity, plan.criterion, scratch.layer_sparsity(), weights)
        active = {(p.granularity, p.criterion) for p in plan.values() if not p.dense}
        if len(active) > 1:
            raise PrunevizError(
                "this recipe mixes criteria or granularities across layers; the Prune page uses one for all "
                f"(found {', '.join(sorted(f'{g}/{c}' for g, c in active))})"
            )
        dense = LayerPlan(0.0)
        kind, criterion = active.pop() if active else (dense.granularity, dense.criterion)
        return cls(kind, criterion, {n: p.sparsity for n, p in plan.items()}, weights)


@dataclass
class Exported:
    """A file the Export page wrote and verified, ready to download."""

    name: str
    data: bytes
    check: Verification


@dataclass(frozen=True)
class Derived:
    """What a Workspace field computed from the session's weights declares about itself: what it is
    (named when it is dropped), whether the masks matter too (else the dense weights alone), and the
    fields derived from it in turn, which go when it takes a new value."""

    label: str
    masks: bool = False
    followers: tuple[str, ...] = ()


def derived(label: str, masks: bool = False, followers: tuple[str, ...] = (), factory=None):
    """A Workspace field holding a result derived from the session's weights (``factory``: its empty
    value, else None). Declared here and only here, it is stamped by :meth:`Workspace.keep`, dropped by
    :meth:`Workspace.forget_stale` once the session moves past it, and takes its followers with it."""
    meta = {"derived": Derived(label, masks, followers)}
    return field(default_factory=factory, metadata=meta) if factory else field(default=None, metadata=meta)


@dataclass
class Workspace:
    """Everything one browser session owns, for one loaded model (``uploads`` and ``token_guard`` belong
    to the browser session and move on to the next model's workspace).

    Results derived from the session's weights (fields declared with :func:`derived`) are kept with
    :meth:`keep` or :meth:`cache`, which stamp them with the versions they come from;
    :meth:`forget_stale` (run at every page start) drops those the session has moved past, and says
    which."""

    choice: Choice
    session: PruneSession
    baseline: Report
    history: History
    uploads: Uploads
    token_guard: TokenGuard = field(default_factory=TokenGuard)
    jobs: dict[str, Job] = field(default_factory=dict)
    # what a finished job's hand-over has to tell, by job name: said on the run after it (see follow_job)
    job_notes: dict[str, tuple[str, str]] = field(default_factory=dict)
    prune_request: SliderRequest | None = None  # sliders for the Prune page to show on its next run
    # what the Structured page's widgets are to show on its next run (a loaded structure recipe)
    structure_request: StructuredPlan | TransformerPlan | None = None
    recipe_error: str | None = None  # why the last recipe uploaded on the Prune page was refused
    importance_layer: str | None = None  # the layer for the Importance page to show on its next run
    # Structured page
    removals: dict[str, Removal] = derived("structured plans", factory=dict)  # computed, most recent last
    shrunk: Applied | None = derived(  # the last smaller model built, with what it measures
        "the smaller model built",
        followers=("latency", "structured_files", "token_speedups", "shrunk_curve", "shrunk_undo"),
    )
    latency: LatencyComparison | None = derived("its latency")  # against dense and unstructured
    groups: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # coupled layers per layer
    structured_files: dict[str, bytes] = derived("its downloads", factory=dict)  # of the shrunk model
    dropped_heads: dict[int, tuple[int, ...]] = field(default_factory=dict)  # head groups clicked, per block
    unit_scores: dict[str, UnitScores] = derived("head and channel scores", factory=dict)  # per criterion
    influence: list[float] | None = derived("Block Influence")  # of every block
    structure: TransformerPlan | None = None  # the transformer plan previewed
    token_speedups: dict[str, SpeedUp] | None = derived("its speed-ups")  # its parts' prefill and decode
    shrunk_curve: list[Point] | None = derived("its fine-tune")  # the smaller model's fine-tune
    shrunk_undo: Applied | None = derived("its fine-tune's undo")  # the smaller model before that fine-tune
    # Importance page
    comparison: CriteriaComparison | None = derived("the criteria comparison")  # the latest one
    # Sensitivity page
    sensitivity: Sensitivity | None = derived(  # the latest finished sweep (feeds the Prune page preset)
        "the sensitivity sweep", followers=("estimate", "allocation")
    )
    estimate: dict | None = derived("the sweep's Taylor estimate")  # its instant Taylor estimate
    live: LiveSweep | None = None  # the sweep running in the background, if any
    allocation: AutoResult | None = derived("the automatic allocation")  # the latest one
    # Recovery page
    curve: list[Point] | None = derived("the fine-tune's curve")  # the latest fine-tune's training curve
    undo: Snapshot | None = derived("the fine-tune's undo")  # the session before that fine-tune
    # Lottery ticket page
    lottery: LotteryRun | None = None
    # Generate page
    generated: Continuations | None = derived("the generated text", masks=True)
    # Export page
    exported: Exported | None = derived("the exported file", masks=True)
    report_html: str | None = derived("the HTML report", masks=True)
    # the masks' layers timed on this device's kernels
    hardware: HardwareReport | None = derived("the hardware report", masks=True)
    # Learn page and the room
    passed: dict[str, float] = field(default_factory=dict)  # exercises passed: title -> when (unix time)
    instructor: bool = False  # this session entered the instructor token
    room_loaded: str | None = None  # what loading someone's share from the Room page did
    stamps: dict[str, Stamp] = field(default_factory=dict)  # derived field -> the versions it comes from

    def keep(self, **values: object) -> None:
        """Set derived fields (:func:`derived`), stamped with the session's versions now; what was
        derived from their old values (their followers) goes."""
        for name, value in values.items():
            declared = DERIVED[name]
            self.drop(*declared.followers)
            setattr(self, name, value)
            self.stamps[name] = self.session.stamp(masks=declared.masks)

    def cache(self, name: str) -> dict:
        """A derived dict (``removals``, ``unit_scores``, ``structured_files``) to add entries to, stamped
        with the session's versions now when it starts empty."""
        if name not in self.stamps:
            self.keep(**{name: {}})
        return getattr(self, name)

    def forget_stale(self) -> list[str]:
        """Drop every derived result the session's weights (or masks) have moved past; returns what went,
        for people."""
        stale = [name for name, stamp in self.stamps.items() if not self.session.holds(stamp)]
        self.drop(*stale)
        return [DERIVED[name].label for name in stale]

    def drop(self, *names: str) -> None:
        """Forget derived fields (back to their defaults)."""
        defaults = {f.name: f for f in fields(self)}
        for name in names:
            default = defaults[name]
            setattr(self, name, default.default_factory() if default.default_factory is not MISSING else None)
            self.stamps.pop(name, None)

    def built(self, applied: Applied) -> None:
        """Take ``applied`` as the smaller model, forgetting what was measured or made of the last one."""
        self.keep(shrunk=applied)

    def built_for_preview(self) -> Applied | None:
        """The smaller model the Structured page built from the preview showing now (fine-tuned there,
        if it was), else None."""
        removal = self.session.removal
        if self.shrunk is None or removal is None or self.shrunk.built_from is not removal:
            return None
        return self.shrunk

    def holding(self) -> str:
        """The model this session holds, named by the page that made it: what every page shows and what
        the Export page writes (see docs/architecture.md, *Which page owns which model*)."""
        session = self.session
        if session.removal is not None and not session.removal.empty:
            built = self.built_for_preview()
            if built is None:
                what = "the Structured page's preview (its smaller model is built on export)"
            else:
                tuned = ", fine-tuned under Recover" if self.shrunk_undo is not None else ""
                what = f"the smaller model built on the Structured page{tuned}"
        elif session.masks:
            what = f"the Prune page's masks ({percent(session.prunable_sparsity())} of prunable weights zero)"
        else:
            what = "the dense model"
        if session.origin is not None:
            what += ", on trained weights (Recovery, Lottery ticket or a recipe's fine-tune)"
        return what

    def export_target(self) -> Applied:
        """What the Export page writes: the smaller model built from the preview showing (with its
        fine-tune), else the session's model as it stands (the preview built now, or the masks)."""
        return self.built_for_preview() or as_applied(self.session, self.baseline)

    def recipe_document(self) -> dict:
        """The session as the recipe that rebuilds it (see :func:`session_document`)."""
        return session_document(self.session)

    def recipe(self) -> str:
        """:meth:`recipe_document` as YAML text (the sidebar's download)."""
        return recipe_text(self.recipe_document())


# Every derived field of the Workspace, by name: read from the declarations, never listed twice.
DERIVED: dict[str, Derived] = {
    f.name: f.metadata["derived"] for f in fields(Workspace) if "derived" in f.metadata
}


@st.cache_resource(max_entries=16, show_spinner="Loading model and data…")
def shared_baseline(choice: Choice, gate: Gate | None = None) -> tuple[LoadedModel, DataSet]:
    """Load once per distinct choice (and the rules it was loaded under) for the whole server; callers
    must treat it as read-only. Every spec, typed or named inside a file, passes ``gate`` (default: this
    server's, without uploads)."""
    gate = gate or policy().gate()
    options = ModelOptions(choice.weights, choice.arch, choice.trust_pickle, gate=gate)
    data = DataOptions(choice.limit, choice.context, choice.calibration, gate=gate)
    return load_pair(choice.model, choice.data, options, data, resolve_device(None))


def policy() -> ServerPolicy:
    """What this server lets browsers do: set by where it listens and by environment variables when
    it was started."""
    return ServerPolicy.from_env(address=config.get_option("server.address"))


def open_workspace(choice: Choice, previous: Workspace | None = None) -> Workspace:
    """A fresh workspace for ``choice``: its own working copy over the shared baseline (and the browser
    session's uploads and token tries, from ``previous`` when there is one)."""
    rules = policy()
    rules.check_trust(choice.trust_pickle)
    own = previous.uploads if previous is not None else Uploads(server_root(), rules.upload_ttl_s)
    paths = [*(spec_path(s) for s in (choice.model, choice.data, choice.arch) if s), choice.weights]
    # The session's own upload folder is readable only to a choice that reads it: every other choice
    # is loaded under the same rules for everyone, so the server loads it once for all.
    gate = rules.gate(own.folder if any(own.holds(p) for p in paths) else None)
    try:
        model, data = shared_baseline(choice, gate)
    except UntrustedPickle as err:
        if rules.allow_pickle:
            raise
        raise PrunevizError(f"{err.path} contains pickled Python objects; {rules.no_pickles()}") from None
    session = PruneSession(model, data, data.x.device, memory_budget=rules.session_memory_bytes)
    history = History(session.task.metric.higher_is_better)
    guard = previous.token_guard if previous is not None else TokenGuard()
    return Workspace(choice, session, session.baseline(), history, own, guard)


def room_choice() -> Choice:
    """What a new session opens: the room's model and data when its instructor set them, else the
    default demo (also when the room's store cannot be read: pruning goes on without the room)."""
    path = policy().room_db
    if not path.exists():
        return Choice()
    try:
        store = RoomStore(path)
        model = store.setting("model")
        return Choice(model, store.setting("data")) if model else Choice()
    except PrunevizError:
        return Choice()


def workspace() -> Workspace:
    """This browser session's workspace; a page opened directly starts on the room's model (by
    default the demo model)."""
    if KEY not in st.session_state:
        with errors_shown():
            st.session_state[KEY] = open_workspace(room_choice())
        if KEY not in st.session_state:
            st.stop()
    return st.session_state[KEY]


def replace_workspace(choice: Choice) -> bool:
    """Switch to ``choice``; on failure show the error and keep the current workspace intact."""
    with errors_shown():
        old = st.session_state.get(KEY)
        fresh = open_workspace(choice, old)
        for job in old.jobs.values() if old is not None else ():
            job.cancel()  # its results belong to the old model
        st.session_state[KEY] = fresh
        for key in keys.model_keys(list(st.session_state)):
            del st.session_state[key]  # widgets of the old model must not leak into the new one
        return True
    return False


@contextmanager
def errors_shown() -> Iterator[None]:
    """Show a :class:`PrunevizError` as a readable message instead of crashing the page."""
    try:
        yield
    except PrunevizError as err:
        st.error(str(err), icon="⚠️")


def save_upload(uploaded) -> str:
    """Store an uploaded file in this browser session's upload folder; returns its path."""
    return str(workspace().uploads.save(uploaded.name, uploaded.getvalue()))


def held_caption(ws: Workspace, more: str = "") -> None:
    """Name the model the session holds, then ``more`` (a page that changes the model inside a fragment
    calls this there)."""
    st.caption(f":material/memory: Holds `{ws.session.model.spec}`: {ws.holding()}{more}.")


def page_header(title: str, caption: str, held: bool = True) -> Workspace:
    """Common page start: config, title, the current model in the sidebar and, with ``held``, which
    model the session holds (pages that change it as you move their controls name it where they do)."""
    st.set_page_config(page_title=f"pruneviz · {title}", page_icon="✂️", layout="wide")
    st.title(title)
    st.caption(caption)
    with st.sidebar:
        try:
            for page in NAVIGATION:
                st.page_link(page.path, label=page.label, icon=page.icon)
        except StreamlitPageNotFoundError:
            pass  # a page run on its own (AppTest.from_file on the page) has no other pages to link
        st.divider()
    ws = workspace()
    metric = ws.session.task.metric
    with st.sidebar:
        st.markdown(
            f"**Model** `{ws.session.model.spec}`  \n**Data** `{ws.session.data.spec}` "
            f"({ws.session.task.size_of(ws.session.data)})"
        )
        st.markdown(f"Baseline {metric.label.lower()} **{metric.format(ws.baseline.score)}**")
        problem = recipe_problem(ws.session)
        st.download_button(
            "Save session as recipe",
            ws.recipe,  # built on click, from the masks as they are then
            "recipe.yaml",
            "application/yaml",
            key=keys.SIDEBAR("recipe"),
            icon=":material/save:",
            on_click="ignore",
            disabled=problem is not None,
            help=problem
            or "What the session shows, as a recipe: every layer's plan (or the structure removed) and the "
            "fine-tune behind the weights. Reload it on the Prune page or apply it with `pruneviz apply`.",
        )
    dropped = ws.forget_stale()
    if dropped:
        st.info(f"Your model changed since these were computed, so they were dropped: {', '.join(dropped)}.")
    if held:
        held_caption(ws)
    return ws


@st.cache_resource
def sweep_cache() -> dict:
    """Finished sweeps for the whole server, keyed by (model choice, sweep spec): computed once."""
    return {}
