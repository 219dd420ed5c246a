"""Sharing an export on the Hugging Face Hub (the ``hub`` extra: huggingface_hub). The core
never needs it: only ``gancore export --hub-repo`` and ``load_generator("hub:...")`` import
it, when called."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ._errors import GancoreError

HUB_EXTRA = "pip install 'gancore[hub]'"


def hub_module() -> Any:
    """huggingface_hub, or one error line saying how to install it."""
    try:
        return importlib.import_module("huggingface_hub")
    except ImportError:
        raise GancoreError(f"the Hugging Face Hub needs the hub extra: {HUB_EXTRA}") from None


def check_repo(repo: str) -> str:
    """``owner/name``, as the Hub names repositories."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in repo):
        raise GancoreError(f"hub repository {repo!r}: give it as owner/name")
    return repo


def download(repo: str) -> Path:
    """The folder of a Hub repository's newest snapshot (downloaded once, then from the
    Hub's cache)."""
    hub = hub_module()
    try:
        return Path(hub.snapshot_download(repo_id=check_repo(repo)))
    except Exception as exc:  # network, authentication, a missing repository: huggingface_hub's own errors
        raise GancoreError(f"hub:{repo}: cannot download it ({type(exc).__name__}: {exc})") from None


def upload(folder: Path, repo: str, message: str) -> str:
    """The export ``folder`` pushed to the model repository ``repo`` (made if needed, with the
    token huggingface_hub finds: ``HF_TOKEN`` or ``hf auth login``); returns its address."""
    hub = hub_module()
    api = hub.HfApi()
    try:
        url = api.create_repo(repo_id=check_repo(repo), repo_type="model", exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="model", commit_message=message)
    except Exception as exc:  # as for download: one line
        raise GancoreError(f"--hub-repo {repo}: cannot push ({type(exc).__name__}: {exc})") from None
    return str(url)
