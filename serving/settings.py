"""Service settings, read once from ``RECSYS_*`` environment variables and injected."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from recsys.ranking.options import Today, utc_today
from serving.stream import DEFAULT_STREAM


class ServingSettings(BaseSettings):
    """Everything the online service can be told."""

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_", use_attribute_docstrings=True, extra="ignore"
    )

    bundle_path: Path = Path("artifacts/bundles")
    """A bundle directory, or a directory of bundles: then the one named in its
    ``CURRENT`` file, else the newest."""
    features_path: Path | None = None
    """Offline client feature table (Parquet from ``recsys features build``), served
    from memory; unset → the Redis online store when ``redis_url`` is set, else none."""
    cross_sell_path: Path | None = None
    """Analyst cross-sell rules (YAML/JSON); none when unset."""
    redis_url: str | None = None
    """Shared cache; without it an in-process TTL cache is used (embedded default)."""
    cache_ttl_seconds: int = Field(default=3600, ge=1)
    """Lifetime of a cached ranked list."""
    local_cache_size: int = Field(default=10_000, ge=0)
    """Entries of the in-process LRU kept in front of Redis (0 disables it)."""
    candidate_cache_size: int = Field(default=1024, ge=0)
    """Requests whose sources' candidates and reasons are kept in process, for the next
    list the sources see alike: the same client, purchases, day and context, other
    exclusions, filters or ``k`` (0 disables it; the lists are the same either way).
    Each costs ~25 KB and ~55 objects the garbage collector tracks."""
    events_path: Path = Path("artifacts/events.jsonl")
    """Append-only store of accepted events (fsynced before the 2xx). With ``redis_url``
    events go to the stream below and this file keeps only those Redis could not take
    (replayed into the stream when it answers again)."""
    catalogue_path: Path = Path("artifacts/catalogue.jsonl")
    """Catalogue change log in the embedded mode (with ``redis_url`` the catalogue
    lives in Redis, shared by every replica)."""
    new_arrivals_slots: int = Field(default=1, ge=0, le=10)
    """Places at the end of a client's list (and next-best offers) given to new
    catalogue items of the client's favourite categories (0: none)."""
    tombstones_path: Path = Path("artifacts/tombstones.txt")
    """Deleted clients (SHA-256 of the id, one per line): honoured by serving, export
    and training (``recsys train --tombstones``)."""
    experiments_path: Path | None = None
    """Online experiments (YAML: arms with their blends and shares, dates); none when
    unset. Read with each bundle, and again when its content changes (checked every
    ``reload_interval_seconds`` and on ``POST /v1/model/reload``)."""
    outcomes_path: Path = Path("artifacts/outcomes.jsonl")
    """Manager outcomes in the embedded mode (with ``redis_url``: a Redis stream)."""
    outcome_cooldown_days: float = Field(default=60, ge=0)
    """Days a declined offer is not offered to that client again."""
    campaigns_path: Path = Path("artifacts/campaigns")
    """Campaigns (a directory: each campaign's definition, last build's members and
    build report; ``recsys campaign build`` writes them, ``PUT /v1/campaigns/{name}``
    defines one)."""
    contact_cap: int = Field(default=2, ge=1, le=100)
    """At most this many contacts per client within ``contact_days`` days, across
    campaigns and channels (campaign lists and logged manager outcomes); a campaign
    may set a lower or higher cap of its own."""
    contact_days: int = Field(default=7, ge=1, le=365)
    """The contact-pressure window in days."""
    impressions_path: Path = Path("artifacts/impressions.jsonl")
    """Log of served lists (impressions), written in batches every 200 ms; with
    ``redis_url`` only what Redis could not take (the stream below has the rest)."""
    log_impressions: bool = True
    """Log what every served list showed (lists keep their ids either way)."""
    impressions_stream: str = "recsys:impressions"
    """Redis Stream of impressions (with ``redis_url``)."""
    events_stream: str = DEFAULT_STREAM
    """Redis Stream of accepted events that every replica follows (with ``redis_url``)."""
    read_api_key: SecretStr | None = None
    """A key named ``read_api_key`` with the ``read`` scope (header ``X-API-Key``): reads
    then need a key. Kept from before scoped keys; ``recsys keys add`` makes more."""
    admin_api_key: SecretStr | None = None
    """A key named ``admin_api_key`` with every scope: writes and admin routes then
    need a key. Reads stay open unless some key carries ``read``."""
    access_path: Path = Path("artifacts/access.json")
    """Scoped API keys (stored as SHA-256 digests) and users (argon2id hashes), as
    ``recsys keys`` and ``recsys users`` write them; with ``redis_url`` the Redis access
    hashes are read too."""
    access_reload_seconds: float = Field(default=5.0, gt=0)
    """How often keys and users are reread: a rotated or revoked key takes effect on
    every replica within this."""
    session_secret: SecretStr | None = None
    """Key that signs the CRM pages' session cookies (and their CSRF tokens). Unset:
    with ``redis_url`` one random secret shared by every replica through Redis, else
    one kept in ``session_secret_path``."""
    session_secret_path: Path = Path("artifacts/session.key")
    """Where the generated session secret is kept (mode 0600) without Redis."""
    session_minutes: float = Field(default=480, gt=0)
    """A sign-in lasts this long; then the pages ask to sign in again."""
    cookie_secure: bool | None = None
    """Mark the session cookie ``Secure``. Unset: when the request came over HTTPS
    (directly or as the proxy's ``X-Forwarded-Proto`` says)."""
    audit_path: Path = Path("artifacts/audit.jsonl")
    """Append-only log of admin actions (who, when, what, from where; never keys or
    passwords); with ``redis_url`` the ``recsys:audit`` stream instead. Read it with
    ``recsys audit``."""
    open_access: bool = False
    """Without any key, write and admin routes answer loopback clients only (403
    otherwise). True: anyone who reaches the port may write — closed networks only."""
    max_body_bytes: int = Field(default=4_000_000, ge=1)
    """Largest accepted request body; larger ones get 413."""
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    """Requests per API key (or client address) and minute; unlimited when unset."""
    cors_origins: list[str] = []
    """Storefront origins allowed by CORS."""
    mlflow_tracking_uri: str | None = None
    """MLflow tracking URI; when set, serve the registered version under ``serving_alias``
    (falling back to the local bundle pointer, reported in ``/readyz``, when MLflow
    cannot answer). Unset: the local pointer only."""
    registered_model: str = "recsys"
    """Registered model whose versions are bundles (as ``recsys train`` registers them)."""
    serving_alias: str = "production"
    """Alias of the version to serve (as ``recsys promote`` sets it)."""
    blend_weights: dict[str, float] | None = None
    """Weight per source of the served blend (JSON, e.g. ``{"ease": 1, "rules": 0.1,
    "analyst": 1, "popular": 0.1}``); unset: the tuned default. Fewer CF sources cost
    less per uncached list (docs/explanation/benchmarks.md, "Serving speed")."""
    reload_interval_seconds: float = Field(default=10.0, ge=0)
    """How often to look for a new bundle, and a changed experiments file (0: never)."""
    warm_clients: int = Field(default=1000, ge=0)
    """Before requests switch to a new bundle, the ``?k=10`` lists of this many of its
    most active clients are computed and cached for it (0: switch at once)."""
    stale_seconds: float = Field(default=300.0, ge=0)
    """For this long after a switch (a new bundle, analyst rules or experiments file) a
    list not yet computed for the new one is answered from the one before, marked
    ``"stale": true``, while the new list is computed in the background (0: never)."""
    list_budget_ms: float = Field(default=50.0, ge=0)
    """How long a request waits for its list to be computed; then the fallback (the
    segment's popular items, same filters) answers, marked ``"degraded": true``, and
    the list is cached when ready (0: always wait)."""
    compute_backlog: int = Field(default=64, ge=1)
    """Lists queued for computing per process beyond which a miss is answered by the
    fallback at once, its list not queued (computed when asked again). Below it, a
    miss is also answered so when the lists ahead would not let its own be ready
    within ``list_budget_ms``."""
    today: date | None = None
    """The service's day (ISO date, UTC): the day re-purchases are scored on, analyst
    rules' dates and experiments are judged on, in every route. Unset: the real UTC
    date. Set it to serve historical data as of a past day (``recsys demo`` sets the day
    after the data's last event). Catalogue availability keeps the real clock."""


def day_clock(settings: ServingSettings) -> Today:
    """The settings' clock of days: the pinned ``today``, else the real UTC date."""
    pinned = settings.today
    return utc_today if pinned is None else lambda: pinned
