"""Publishing a run to the Hugging Face Hub: a dataset card, parquet shards, and the upload.

Light to import: huggingface_hub, datasets and pyarrow load only when a folder is built or uploaded.
``publish_command`` (the ``synthgen publish`` click command) lives in :mod:`synthgen.publish.cli`.
"""

from .checks import PublishError, validate_repo_id
from .folder import build_hub_folder
from .upload import PublishResult, publish_problems, publish_run, push_to_hub

__all__ = ["PublishError", "PublishResult", "build_hub_folder", "publish_problems", "publish_run", "push_to_hub",
           "validate_repo_id"]
