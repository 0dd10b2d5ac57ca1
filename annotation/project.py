"""Connection settings, error translation and idempotent project set-up on a Label Studio server (SDK 2.x)."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, SecretStr

from annotation.config import CONFIG_VERSION, DEFAULT_INSTRUCTIONS, label_config
from annotation.offsets import OffsetUnit, unit_for_version

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

DEFAULT_URL = "http://127.0.0.1:8080"
UNCERTAINTY_SAMPLING = "Uncertainty sampling"
REVIEW_VIEW_TITLE = "Least confident first"


class ReviewError(RuntimeError):
    """A Label Studio call failed in a way the user can act on (server down, bad token, missing project).

    ``retryable`` is True for transient failures (connection refused, time-outs, HTTP 5xx / 429), which the
    Prefect tasks retry; a bad token or a missing project is not retried.
    """

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class LabelStudioSettings(BaseModel):
    """Where the Label Studio server is and how to authenticate; the key is never printed."""

    url: str = DEFAULT_URL
    api_key: SecretStr
    timeout: float = Field(default=120.0, gt=0)
    # unit of region offsets on this server; "auto" asks the server for its version (see annotation.offsets)
    offset_unit: Literal["auto", "codepoint", "utf16"] = "auto"

    def __repr__(self) -> str:  # SecretStr already masks; keep the URL visible
        return (
            f"LabelStudioSettings(url={self.url!r}, api_key=SecretStr('**********'), offset_unit={self.offset_unit!r})"
        )

    @classmethod
    def from_env(
        cls, url: str | None = None, api_key: str | None = None, data_dir: str | os.PathLike | None = None
    ) -> LabelStudioSettings:
        """Explicit arguments, else ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY``, else the local server state file.

        The state file is ``<data_dir>/server.json`` written by ``make labelstudio-start`` (data dir from
        ``RTT_LABELSTUDIO_DATA_DIR``, default ``data/labelstudio``).
        """
        unit = os.environ.get("RTT_LS_OFFSET_UNIT", "auto")
        url = url or os.environ.get("LABEL_STUDIO_URL")
        api_key = api_key or os.environ.get("LABEL_STUDIO_API_KEY")
        if not (url and api_key):
            state = Path(data_dir or os.environ.get("RTT_LABELSTUDIO_DATA_DIR", "data/labelstudio")) / "server.json"
            if state.is_file():
                obj = json.loads(state.read_text())
                url, api_key = url or obj.get("url"), api_key or obj.get("api_key")
        if not api_key:
            raise ReviewError(
                "no Label Studio API key: set LABEL_STUDIO_API_KEY (and LABEL_STUDIO_URL), "
                "or start the local server with `make labelstudio-start`"
            )
        return cls(url=(url or DEFAULT_URL).rstrip("/"), api_key=SecretStr(api_key), offset_unit=unit)


def _describe(exc: BaseException, settings: LabelStudioSettings, action: str) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return (
            f"cannot reach Label Studio at {settings.url} while trying to {action} ({type(exc).__name__}); "
            "is the server running? (`make labelstudio-start`, or set LABEL_STUDIO_URL)"
        )
    if isinstance(exc, httpx.TimeoutException):
        return f"Label Studio at {settings.url} timed out while trying to {action}"
    if isinstance(exc, httpx.HTTPError):
        return (
            f"HTTP error talking to Label Studio at {settings.url} while trying to {action}: "
            f"{type(exc).__name__}: {exc}"
        )
    status = getattr(exc, "status_code", None)
    detail = server_reason(getattr(exc, "body", None))
    if status in (401, 403):
        return (
            f"Label Studio at {settings.url} rejected the API key (HTTP {status}) while trying to {action}; "
            "check LABEL_STUDIO_API_KEY (legacy token, or a personal access token)"
        )
    if status == 404:
        return f"not found on Label Studio at {settings.url} (HTTP 404) while trying to {action}: {detail}"
    return f"Label Studio at {settings.url} answered HTTP {status} while trying to {action}: {detail}"


def server_reason(body: Any) -> str:
    """Label Studio's own reason from an error body: ``detail`` plus each field's ``validation_errors``."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return str(body)[:500]
    if not isinstance(body, dict):
        return str(body)[:500] if body else ""
    parts = [str(body.get("detail") or "")]
    errors = body.get("validation_errors")
    if isinstance(errors, dict):
        for field, msgs in errors.items():
            msgs = msgs if isinstance(msgs, list) else [msgs]
            parts.append(f"{field}: {' '.join(str(m) for m in msgs)}")
    elif errors:
        parts.append(str(errors))
    return "; ".join(p for p in parts if p)[:800]


@contextlib.contextmanager
def translate_errors(settings: LabelStudioSettings, action: str) -> Iterator[None]:
    """Turn SDK / httpx exceptions into :class:`ReviewError` with a message naming the server and the action."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except (ApiError, httpx.HTTPError) as exc:
        status = getattr(exc, "status_code", None)
        transient = isinstance(exc, httpx.TransportError) or (
            isinstance(status, int) and (status >= 500 or status == 429)
        )
        raise ReviewError(_describe(exc, settings, action), retryable=transient) from exc


def connect(settings: LabelStudioSettings, check: bool = True) -> LabelStudio:
    """An SDK client; with ``check`` one cheap authenticated call so bad URLs / tokens fail here, clearly."""
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError
    from pydantic import ValidationError

    client = LabelStudio(base_url=settings.url, api_key=settings.api_key.get_secret_value(), timeout=settings.timeout)
    if check:
        with translate_errors(settings, "authenticate"):
            try:
                me = client.users.whoami()
            except ApiError as exc:
                if getattr(exc, "status_code", None) != 200:
                    raise
                raise ReviewError(_not_label_studio(settings, "not JSON")) from None  # e.g. an HTML page
            except (ValidationError, ValueError, TypeError) as exc:  # JSON, but not shaped like a user
                raise ReviewError(_not_label_studio(settings, exc)) from None
            if not isinstance(getattr(me, "id", None), int):
                raise ReviewError(_not_label_studio(settings, "no integer user id"))
    return client


def _not_label_studio(settings: LabelStudioSettings, why: Any) -> str:
    first = (
        why.errors()[0]["msg"]
        if isinstance(why, Exception) and hasattr(why, "errors")
        else (str(why).splitlines() or [""])[0][:200]
    )
    return (
        f"{settings.url} is not a Label Studio server: its answer to GET /api/current-user/whoami is not a "
        f"Label Studio user ({first}); check --url / LABEL_STUDIO_URL"
    )


def resolve_unit(client: LabelStudio, settings: LabelStudioSettings) -> OffsetUnit:
    """The offset unit to use with this server: the setting, or by the server's release when "auto"."""
    if settings.offset_unit != "auto":
        return settings.offset_unit
    with translate_errors(settings, "read the server version"):
        return unit_for_version(getattr(client.versions.get(), "release", None))


class ProjectRef(BaseModel):
    id: int
    title: str
    created: bool = False
    config_version: str = CONFIG_VERSION


def _description(instructions: str) -> str:
    return f"RTT span review. Config: {CONFIG_VERSION}.\n{instructions}"


def _config_version(description: str | None) -> str | None:
    m = re.search(r"Config: ([\w.-]+)\.", description or "")
    return m.group(1) if m else None


def find_project(client: LabelStudio, title: str) -> Any | None:
    """The project whose title equals ``title`` exactly (the API's ``title`` filter is a substring match)."""
    found: Iterable[Any] = client.projects.list(title=title, page_size=100)
    matches = [p for p in found if p.title == title]
    if len(matches) > 1:
        raise ReviewError(
            f"{len(matches)} projects are titled {title!r} (ids {[p.id for p in matches]}); rename all but one"
        )
    return matches[0] if matches else None


def get_project(client: LabelStudio, settings: LabelStudioSettings, title: str) -> ProjectRef:
    """An existing project by exact title; :class:`ReviewError` if there is none."""
    with translate_errors(settings, f"look up project {title!r}"):
        p = find_project(client, title)
    if p is None:
        raise ReviewError(f"no project titled {title!r} on Label Studio at {settings.url}")
    return ProjectRef(id=p.id, title=p.title, config_version=_config_version(p.description) or "unknown")


# Data Manager columns of the review tab: the long texts are hidden, the ones to filter and sort by stay
REVIEW_VIEW_HIDDEN = [
    "tasks:data.instruction",
    "tasks:data.response",
    "tasks:data.pair_context",
    "tasks:data.why",
    "tasks:data.polarity_note",
    "tasks:data.fingerprint",
    "tasks:data.rubric_id",
    "tasks:data.row_id",
    "tasks:data.item_id",
    "tasks:data.confidence",
    "tasks:inner_id",
    "tasks:annotations_results",
    "tasks:annotations_ids",
    "tasks:predictions_results",
    "tasks:predictions_model_versions",
    "tasks:file_upload",
    "tasks:storage_filename",
    "tasks:created_at",
    "tasks:updated_at",
    "tasks:updated_by",
    "tasks:avg_lead_time",
    "tasks:draft_exists",
]


def review_view_data() -> dict[str, Any]:
    return {
        "title": REVIEW_VIEW_TITLE,
        "ordering": ["tasks:predictions_score"],
        "hiddenColumns": {"explore": REVIEW_VIEW_HIDDEN, "labeling": REVIEW_VIEW_HIDDEN},
    }


def ensure_project(
    client: LabelStudio,
    settings: LabelStudioSettings,
    title: str,
    instructions: str = DEFAULT_INSTRUCTIONS,
    model_version: str | None = None,
    overlap: int | None = None,
) -> ProjectRef:
    """Find the project by title or create it; bring an older config version up to date. Idempotent.

    Settings: uncertainty sampling (the labelling stream serves the least confident prediction first), the
    predictions shown to reviewers, ``overlap`` reviewers per task (``maximum_annotations``, for every task;
    None leaves an existing project's setting alone, 1 for a new one), and a Data Manager tab sorted by
    prediction score with the criterion, family, polarity and label-source columns. The project's model
    version is *not* set here: Label Studio accepts only a version that predictions already carry, so
    :func:`annotation.push.push_rows` sets it after importing them (``model_version`` is accepted for
    backwards compatibility and ignored).
    """
    if overlap is not None and overlap < 1:
        raise ValueError(f"overlap must be >= 1, got {overlap}")
    config = label_config(instructions)
    with translate_errors(settings, f"find or create project {title!r}"):
        p: Any = find_project(client, title)
        created = p is None
        if created:
            p = client.projects.create(
                title=title,
                description=_description(instructions),
                label_config=config,
                expert_instruction=f"<p>{instructions}</p>",
                show_instruction=False,
                show_collab_predictions=True,
                sampling=UNCERTAINTY_SAMPLING,
                show_skip_button=True,
                enable_empty_annotation=True,
                maximum_annotations=overlap or 1,
                overlap_cohort_percentage=100,
            )
            client.views.create(project=p.id, data=review_view_data())
        else:
            update: dict[str, Any] = {}
            if _config_version(p.description) != CONFIG_VERSION:
                update.update(label_config=config, description=_description(instructions))
            if overlap is not None and (
                getattr(p, "maximum_annotations", None) != overlap
                or getattr(p, "overlap_cohort_percentage", None) != 100
            ):
                update.update(maximum_annotations=overlap, overlap_cohort_percentage=100)
            if update:
                client.projects.update(id=p.id, **update)
            for v in client.views.list(project=p.id):
                data = v.data or {}
                if (
                    data.get("title") == REVIEW_VIEW_TITLE
                    and data.get("hiddenColumns") != review_view_data()["hiddenColumns"]
                ):
                    client.views.update(id=v.id, project=p.id, data=review_view_data())
    return ProjectRef(id=p.id, title=title, created=created)


def set_model_version(client: LabelStudio, settings: LabelStudioSettings, project_id: int, version: str) -> bool:
    """Make ``version`` the project's model version (the predictions reviewers see); True if it changed.

    Call it only once tasks carrying predictions of ``version`` exist: Label Studio refuses any other version
    ("Model version doesn't exist either as live model or as static predictions")."""
    with translate_errors(settings, f"set the model version of project {project_id} to {version!r}"):
        p = client.projects.get(id=project_id)
        if getattr(p, "model_version", None) == version:
            return False
        client.projects.update(id=project_id, model_version=version)
    return True


def delete_project(client: LabelStudio, settings: LabelStudioSettings, title: str) -> bool:
    with translate_errors(settings, f"delete project {title!r}"):
        p = find_project(client, title)
        if p is None:
            return False
        client.projects.delete(id=p.id)
    return True


class ProjectStatus(BaseModel):
    title: str
    id: int
    url: str
    tasks: int
    tasks_with_annotations: int
    annotations: int
    skipped_annotations: int
    predictions: int
    config_version: str | None
    model_version: str | None
    overlap: int | None = None


def project_status(client: LabelStudio, settings: LabelStudioSettings, title: str) -> ProjectStatus:
    ref = get_project(client, settings, title)
    with translate_errors(settings, f"read project {title!r}"):
        p = client.projects.get(id=ref.id)
    d = p.model_dump()
    return ProjectStatus(
        title=title,
        id=ref.id,
        url=f"{settings.url}/projects/{ref.id}/data",
        tasks=d.get("task_number") or 0,
        tasks_with_annotations=d.get("num_tasks_with_annotations") or 0,
        annotations=d.get("total_annotations_number") or 0,
        skipped_annotations=d.get("skipped_annotations_number") or 0,
        predictions=d.get("total_predictions_number") or 0,
        config_version=_config_version(d.get("description")),
        model_version=d.get("model_version") or None,
        overlap=d.get("maximum_annotations"),
    )
