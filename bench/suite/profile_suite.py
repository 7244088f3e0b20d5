"""Profile suites: a TOML file naming models to profile at one input size (``kind = "profile"``).

Example (``suites/imagenet-profile.toml``)::

    kind = "profile"
    name = "imagenet-profile"
    description = "..."
    input_size = [3, 224, 224]
    num_classes = 1000
    models = ["alexnet", "vgg16"]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.errors import SuiteError, UnknownNameError
from bench.models.registry import get_model_info
from bench.suite import schema as sch
from bench.suite.files import find_suite, read_toml
from bench.suite.schema import Field

PROFILE_SUITE_SCHEMA: sch.Schema = {
    "kind": Field(str, None, choices=("profile",), doc="marks a profile suite"),
    "name": Field(str, "", doc="suite name; the file name when empty"),
    "description": Field(str, ""),
    "input_size": Field(list, [3, 224, 224], item=int, length=3, minimum=1, doc="C, H, W"),
    "num_classes": Field(int, 1000, minimum=1),
    "batch_size": Field(int, 1, minimum=1, doc="images per counted batch (counts are per image)"),
    "models": Field(list, None, item=str, doc="registered model names"),
}


@dataclass(frozen=True)
class ProfileSuite:
    """A validated profile suite."""

    name: str
    description: str
    input_size: tuple[int, int, int]
    num_classes: int
    batch_size: int
    models: tuple[str, ...]
    path: Path


def load_profile_suite(name_or_path: str) -> ProfileSuite:
    """Find, parse and validate a profile suite; mistakes raise a one-line ``SuiteError``."""
    path = find_suite(name_or_path)
    raw = read_toml(path)
    if "kind" not in raw:
        raise SuiteError(
            f"{path}: field 'kind' is missing: not a profile suite (bench run takes it)"
        )
    data = sch.validate(raw, PROFILE_SUITE_SCHEMA, str(path))
    if "models" not in data:
        raise SuiteError(f"{path}: field 'models' is missing")
    if not data["models"]:
        raise SuiteError(f"{path}: field 'models' must name at least one model")
    for name in data["models"]:
        try:
            get_model_info(name, where=f"{path}: field 'models'")
        except UnknownNameError as err:
            raise SuiteError(str(err)) from None
    resolved = {**sch.defaults(PROFILE_SUITE_SCHEMA), **data}
    return ProfileSuite(
        name=resolved["name"] or path.stem,
        description=resolved["description"],
        input_size=tuple(resolved["input_size"]),
        num_classes=resolved["num_classes"],
        batch_size=resolved["batch_size"],
        models=tuple(resolved["models"]),
        path=path,
    )
