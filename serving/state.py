"""The serving state: the loaded bundle behind an atomic swap, and fresh purchases."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from recsys.audience import Profile
from recsys.bundle import Bundle
from recsys.errors import ConfigError, ModelError, RecsysError
from recsys.feedback import Experiments, load_experiments
from recsys.privacy import client_hash
from recsys.ranking import BlendConfig, HybridRecommender
from recsys.ranking.options import Today
from recsys.rules.cross_sell import CrossSellRules, load_cross_sell, save_cross_sell
from serving.profiles import Profiles, tolerant
from serving.registry import registry_bundle
from serving.settings import ServingSettings, day_clock

__all__ = ["Loaded", "ServiceState", "resolve_bundle"]

log = logging.getLogger("recsys.serving")


def resolve_bundle(path: Path) -> Path:
    """A bundle dir as is; a dir of bundles → the one in ``CURRENT``, else the newest."""
    if (path / "manifest.json").exists():
        return path
    pointer = path / "CURRENT"
    if pointer.exists():
        return path / pointer.read_text().strip()
    candidates = sorted(p for p in path.glob("*/manifest.json")) if path.is_dir() else []
    if not candidates:
        raise ModelError(f"{path}: no bundle found")
    return candidates[-1].parent


@dataclass(frozen=True)
class Loaded:
    """One bundle with its recommender; replaced as a whole, never mutated."""

    bundle: Bundle
    recommender: HybridRecommender
    source: Path
    origin: str = "local bundle pointer"
    """How the bundle was chosen (shown by ``/readyz``)."""
    experiments: Experiments = field(default_factory=Experiments)
    """The experiments file in force."""
    arms: dict[tuple[str, str], HybridRecommender] = field(default_factory=dict)
    """The recommender of each (experiment, arm) with its own blend."""
    experiments_digest: str = ""
    """SHA-1 of the experiments file read (empty without one): a change is reread."""
    profiles: dict[str, Profile] = field(default_factory=dict)
    """Each client's segment and country (:mod:`serving.profiles`: the features file,
    else the Redis feature store), read when the bundle loaded."""

    def arm_of(self, client_id: str | None) -> tuple[str, str] | None:
        """(experiment, arm) of a client while an experiment runs, else ``None``."""
        if client_id is None or not self.experiments.experiments:
            return None
        running = self.experiments.running(self.recommender.today())  # the service's day
        return None if running is None else (running.name, running.arm_of(client_id).name)

    def recommender_for(self, arm: tuple[str, str] | None) -> HybridRecommender:
        """The recommender an arm serves (the default one outside experiments)."""
        return self.arms.get(arm, self.recommender) if arm is not None else self.recommender

    @property
    def version(self) -> str:
        """The bundle version (shown as ``model_version``)."""
        return self.bundle.version

    @cached_property  # read on every request: hashed once per Loaded
    def cache_version(self) -> str:
        """What cached lists are keyed by: the bundle and the analyst rules in force,
        so neither a new model nor new rules takes an earlier list for its own."""
        rules = self.recommender.cross_sell
        if rules is None:
            return self.bundle.version
        digest = hashlib.sha1(rules.model_dump_json().encode()).hexdigest()[:10]
        return f"{self.bundle.version}.{digest}"

    def cores(self) -> tuple[HybridRecommender, ...]:
        """The ranking cores served: the recommender and each experiment arm's."""
        return (self.recommender, *self.arms.values())

    @cached_property
    def fallback(self) -> HybridRecommender:
        """Popularity alone (the client's segment's, same filters): what a list too
        slow to compute is answered with (:mod:`serving.misses`)."""
        old = self.recommender
        only = BlendConfig(weights={"popular": 1.0})
        found = HybridRecommender(self.bundle, None, None, only, old.today)
        found.share_segments(old)
        return found

    @cached_property
    def fallback_heads(self) -> dict[Any, Any]:
        """The fallback's cold-start lists, by filters (:mod:`serving.fallback`)."""
        return {}

    def with_experiments(self, experiments: Experiments, digest: str) -> Loaded:
        """The same bundle and rules under another experiments file."""
        arms = _arm_recommenders(self.recommender, experiments)
        return replace(self, experiments=experiments, arms=arms, experiments_digest=digest)

    def with_cross_sell(self, rules: CrossSellRules) -> Loaded:
        """The same bundle under other analyst rules (segments carried over)."""
        fresh = _sibling(self.recommender, rules, self.recommender.config)
        arms = _arm_recommenders(fresh, self.experiments)
        return replace(self, recommender=fresh, arms=arms)


def locate(settings: ServingSettings) -> tuple[Path, str]:
    """The bundle to serve and how it was chosen: the MLflow alias when configured
    and answering, else the local pointer (saying why)."""
    if settings.mlflow_tracking_uri is None:
        return resolve_bundle(settings.bundle_path), "local bundle pointer"
    try:
        found = registry_bundle(settings)
    except ModelError as error:
        log.warning("MLflow registry not used, serving the local bundle pointer: %s", error)
        return resolve_bundle(settings.bundle_path), f"local bundle pointer ({error})"
    return found, f"MLflow {settings.registered_model}@{settings.serving_alias}"


def load(
    settings: ServingSettings, today: Today | None = None, profiles: Profiles | None = None
) -> Loaded:
    """Load and validate the bundle and the cross-sell rules the settings name;
    ``today``: the service's clock of days (default: the settings'); ``profiles``: how
    its clients' segments and countries are read (default: :func:`tolerant`, none kept)."""
    source, origin = locate(settings)
    bundle = Bundle.load(source)
    rules: CrossSellRules | None = None
    if settings.cross_sell_path is not None:
        rules = load_cross_sell(settings.cross_sell_path)
    blend = BlendConfig(weights=settings.blend_weights) if settings.blend_weights else None
    recommender = HybridRecommender(
        bundle,
        bundle.rules,
        rules,
        blend,
        today or day_clock(settings),
        settings.candidate_cache_size,
    )
    found = (profiles or tolerant(settings, {}))(bundle.data.clients.ids)
    if found:
        recommender.set_segments({c: str(s) for c, (s, _) in found.items() if s is not None})
    experiments, digest = read_experiments(settings)
    arms = _arm_recommenders(recommender, experiments)
    return Loaded(bundle, recommender, source, origin, experiments, arms, digest, found)


def read_experiments(settings: ServingSettings) -> tuple[Experiments, str]:
    """The experiments file the settings name, with the SHA-1 of its bytes: the same
    before and after it was parsed (a file being rewritten is read again next time)."""
    path = settings.experiments_path
    if path is None:
        return Experiments(), ""
    before = _digest(path)
    found = load_experiments(path)
    if _digest(path) != before:
        raise ConfigError(f"{path}: changed while it was read; read again next time")
    return found, before


def _digest(path: Path) -> str:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read experiments ({error})") from None


def _arm_recommenders(
    base: HybridRecommender, experiments: Experiments
) -> dict[tuple[str, str], HybridRecommender]:
    """A recommender per arm with its own blend (the bundle, rules and segments of
    ``base``)."""
    out = {}
    for experiment in experiments.experiments:
        for arm in (a for a in experiment.arms if a.blend is not None):
            blend = BlendConfig(weights=arm.blend or {})
            out[(experiment.name, arm.name)] = _sibling(base, base.cross_sell, blend)
    return out


def _sibling(
    base: HybridRecommender, cross_sell: CrossSellRules | None, blend: BlendConfig
) -> HybridRecommender:
    """A ranking core of ``base``'s bundle, rules, clock, segments and memo size, with
    other analyst rules or another blend (its own memo: its candidates differ)."""
    found = HybridRecommender(
        base.bundle, base.rules, cross_sell, blend, base.today, base.memo.size
    )
    found.share_segments(base)
    return found


@dataclass
class ServiceState:
    """What requests read: the current bundle, and purchases since it was trained."""

    settings: ServingSettings
    current: Loaded | None = None
    recent: dict[str, set[str]] = field(default_factory=dict)
    bought_since: dict[str, int] = field(default_factory=dict)
    """Purchases per item since the service started (new items' popularity)."""
    forgotten: set[str] = field(default_factory=set)
    """Tombstones (SHA-256 of deleted client ids): those clients get cold-start lists."""
    last_error: str | None = None
    today: Today | None = None
    """The service's clock of days for the recommenders it loads (the app passes the
    catalogue's: :meth:`serving.catalogue.CatalogueState.today`); unset: the settings'."""
    before: Loaded | None = None
    """What was served before the last switch (its lists may answer while stale)."""
    switched_at: float = 0.0
    """When the last switch happened, by :attr:`clock`."""
    clock: Callable[[], float] = time.monotonic
    """Seconds, for the staleness bound (tests pass their own)."""
    switching: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by whatever switches what is served (:mod:`serving.untrained`, the rules
    route): a reload's load, warm-up and switch are never interleaved with another."""

    def reload(self) -> bool:
        """Load the bundle the settings point at; keep the old one if it fails."""
        ok, fresh = self.prepare()
        if fresh is not None:
            self.switch(fresh)
        return ok

    def prepare(self) -> tuple[bool, Loaded | None]:
        """Load the bundle the settings point at: (loaded, the new one to switch to or
        ``None`` when it is the one served); a refused one keeps the old one."""
        kept = self.current.profiles if self.current is not None else {}
        try:
            fresh = load(self.settings, self.today, tolerant(self.settings, kept))
        except Exception as error:  # RecsysError, or a failure nobody foresaw: refuse either
            self.last_error = str(error) if isinstance(error, RecsysError) else repr(error)
            log.warning("bundle refused, keeping %s: %s", self.version, error)
            return False, None
        self.last_error = None
        if self.current is not None and fresh.source == self.current.source:
            return True, None
        return True, fresh

    def switch(self, fresh: Loaded) -> None:
        """Serve ``fresh`` from now on; what it replaces may answer while stale."""
        self.before, self.switched_at = self.current, self.clock()
        self.current = fresh  # one reference swap: atomic
        log.info("serving bundle %s", fresh.version)
        # The bundle lives until the next swap: keep its objects out of the
        # collector's full passes (shorter GC pauses, a lower p99).
        gc.collect()
        gc.freeze()

    def previous(self) -> Loaded | None:
        """What was served before the last switch, while within ``stale_seconds`` of it
        (then let go: its bundle need not stay in memory)."""
        if (
            self.before is not None
            and self.clock() - self.switched_at > self.settings.stale_seconds
        ):
            self.before = None
        return self.before

    def reread_experiments(self) -> bool:
        """Serve the experiments file as it is now if its content changed; whether it
        did (a broken file is refused: the old experiments stay)."""
        current = self.current
        if current is None or self.settings.experiments_path is None:
            return False
        try:
            experiments, digest = read_experiments(self.settings)
        except RecsysError as error:
            self.last_error = str(error)
            log.warning("experiments file refused, keeping the old one: %s", error)
            return False
        if digest == current.experiments_digest:
            return False
        self.switch(current.with_experiments(experiments, digest))
        return True

    def use_cross_sell(self, rules: CrossSellRules) -> Loaded:
        """Serve ``rules`` from now on: saved to ``cross_sell_path`` first (when set, so a
        restart or the next bundle keeps them), then one reference swap."""
        if self.current is None:
            raise ModelError("no model loaded yet")
        fresh = self.current.with_cross_sell(rules)
        if self.settings.cross_sell_path is not None:
            save_cross_sell(rules, self.settings.cross_sell_path)
        self.before, self.switched_at = self.current, self.clock()
        self.current = fresh
        log.info("analyst rules version %s in force", rules.version)
        return fresh

    def changed(self) -> bool:
        """Whether the settings now point at another bundle than the one served."""
        try:
            return self.current is None or locate(self.settings)[0] != self.current.source
        except RecsysError:
            return False

    @property
    def version(self) -> str | None:
        """The served version, or ``None`` before the first load."""
        return None if self.current is None else self.current.version

    def is_forgotten(self, client: str) -> bool:
        """Whether ``client`` was deleted (a hash per request only once any was)."""
        return bool(self.forgotten) and client_hash(client) in self.forgotten

    def forget(self, digest: str) -> None:
        """A client deleted (by tombstone): drop its fresh purchases, and the candidate
        memos (by row, not by client: emptied whole, deletions are rare)."""
        self.forgotten.add(digest)
        for client in [c for c in self.recent if client_hash(c) == digest]:
            del self.recent[client]
        for loaded in (self.current, self.before):  # its purchases and reasons may be kept
            if loaded is not None:
                for core in loaded.cores():
                    core.memo.clear()

    def rebase(self, purchases: list[tuple[str, str]]) -> None:
        """Purchases since training, for a newly served bundle: ``purchases`` (those it
        was not trained on, :mod:`serving.untrained`) replace the ones the last one needed."""
        self.recent, self.bought_since = {}, {}
        for client, item in purchases:
            if not self.is_forgotten(client):
                self.remember(client, item)

    def remember(self, client: str, item: str) -> None:
        """A purchase after training: folded in until the next bundle."""
        self.recent.setdefault(client, set()).add(item)
        self.bought_since[item] = self.bought_since.get(item, 0) + 1
