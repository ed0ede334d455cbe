"""Saving and loading versioned NLU models, as a folder or a ``.tar.gz``.

A model holds ``meta.json`` (Parley version, model format, library versions, data hash,
config, seed, metrics) and ``pipeline/`` (spaCy's ``to_disk``). Loading reads the metadata
first and refuses a model written by an incompatible model format, spaCy or scikit-learn
minor version, naming the version that made it, before any pickled state is touched.

Model formats: 1, the first; 2, a model whose classifier learned retrieval intents'
sub-intents (``faq/ask_hours`` labels, ``retrieval_responses`` in its metadata). A model
without retrieval intents is still written as format 1, which it is, so that an older
Parley reads it; one with them is format 2, which an older Parley refuses by name rather
than treating ``faq/ask_hours`` as an intent of its own.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tarfile
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import spacy

# Importing the component modules registers their spaCy factories for spacy.load().
import brain.nlu.entity_rules
import brain.nlu.intent_classifier
import brain.nlu.normaliser  # noqa: F401
from brain.errors import ModelError, ModelVersionError
from brain.nlu.config import NluConfig
from brain.nlu.model import NluModel

__all__ = ["MODEL_FORMAT", "READABLE_FORMATS", "find_model", "library_versions", "load_model",
           "model_id", "save_model"]

MODEL_FORMAT = 2  # the newest this Parley writes
READABLE_FORMATS = (1, 2)
_PINNED = ("spacy", "scikit-learn")  # pickled/serialised state depends on their minor version


def library_versions() -> dict[str, str]:
    """Versions of Parley and the libraries whose state a model stores."""
    versions = {"python": platform.python_version()}
    for dist in ("parley", "spacy", "scikit-learn", "numpy", "dateparser"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


def save_model(model: NluModel, path: Path) -> Path:
    """Write ``model`` to ``path`` (a folder, or an archive if it ends in ``.tar.gz``)."""
    if path.name.endswith(".tar.gz"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "model"
            _write_folder(model, folder)
            path.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(path, "w:gz") as archive:
                for item in sorted(folder.rglob("*")):
                    archive.add(item, arcname=str(item.relative_to(folder)), recursive=False)
        return path
    if path.exists():
        shutil.rmtree(path)
    _write_folder(model, path)
    return path


def _write_folder(model: NluModel, folder: Path) -> None:
    folder.mkdir(parents=True)
    model.nlp.to_disk(folder / "pipeline")
    meta = dict(model.meta)
    meta.update({
        "model_format": MODEL_FORMAT if model.retrieval_intents else 1,
        "versions": library_versions(),
        "config": model.config.to_dict(),
        "synonyms": dict(sorted(model.synonyms.items())),
    })
    meta.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
    meta.setdefault("model_id", model_id(meta))
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")


def model_id(meta: dict[str, Any]) -> str:
    """A model's version as the archive records it: when it was made and a digest of
    what made it — its data, config and seed (``20261202T101500-3f2a9c1e``) — so that two
    models trained in the same second differ unless they are the same model; stable for a
    model written before ids were (computed again from its meta)."""
    created = str(meta.get("created_at") or "unknown")
    stamp = created.replace("-", "").replace(":", "").split("+")[0].split(".")[0]
    made_of = json.dumps([meta.get("data_fingerprint"), meta.get("config"),
                          meta.get("seed")], sort_keys=True, default=str)
    return f"{stamp}-{hashlib.sha256(made_of.encode()).hexdigest()[:8]}"


def find_model(path: Path) -> Path:
    """``path`` itself if it is a model, else the newest model inside the folder ``path``."""
    if _is_model(path):
        return path
    if path.is_dir():
        candidates = [p for p in path.iterdir() if _is_model(p)]
        if (path / "models").is_dir():
            candidates += [p for p in (path / "models").iterdir() if _is_model(p)]
        if candidates:
            return max(candidates, key=lambda p: (p.stat().st_mtime, p.name))
    raise ModelError(f"no Parley model at {path} (train one with `parley train BOTDIR`)")


def _is_model(path: Path) -> bool:
    return (path.is_dir() and (path / "meta.json").is_file()) or (
        path.is_file() and path.name.endswith(".tar.gz"))


def load_model(path: Path) -> NluModel:
    """Load a model folder or archive; refuse incompatible ones with a clear message."""
    path = find_model(path)
    if path.is_dir():
        return _load_folder(path, shown=path)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with tarfile.open(path, "r:gz") as archive:
                archive.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ModelError(f"cannot read model archive {path}: {exc}") from exc
        return _load_folder(Path(tmp), shown=path)


def _load_folder(folder: Path, *, shown: Path) -> NluModel:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{shown} has no readable meta.json: {exc}") from exc
    check_compatible(meta, shown)
    try:
        nlp = spacy.load(folder / "pipeline")
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load the pipeline of {shown}: {exc}") from exc
    config = NluConfig.from_dict(meta.get("config", {}))
    meta.setdefault("model_id", model_id(meta))
    return NluModel(nlp=nlp, config=config, synonyms=meta.get("synonyms", {}), meta=meta)


def check_compatible(meta: dict[str, Any], shown: Path) -> None:
    """Raise ``ModelVersionError`` naming what made the model if this install cannot read it."""
    made = meta.get("versions", {})
    made_by = (f"Parley {made.get('parley', 'unknown')} (model format "
               f"{meta.get('model_format', 'unknown')}, spaCy {made.get('spacy', '?')}, "
               f"scikit-learn {made.get('scikit-learn', '?')})")
    here = library_versions()
    reasons = []
    if meta.get("model_format") not in READABLE_FORMATS:
        reasons.append(f"this Parley {here['parley']} reads model formats "
                       f"{', '.join(map(str, READABLE_FORMATS))}")
    for dist in _PINNED:
        if _minor(made.get(dist)) != _minor(here[dist]):
            reasons.append(f"{dist} {here[dist]} is installed")
    if reasons:
        raise ModelVersionError(f"model {shown} was made by {made_by}, but "
                                f"{'; '.join(reasons)}. Retrain it with `parley train BOTDIR`.")


def _minor(version: str | None) -> tuple[str, ...]:
    return tuple((version or "").split(".")[:2])
