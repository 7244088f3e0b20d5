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

from bench.errors import SuiteError, UnknownNameError
from bench.models.registry import get_model_info
from bench.suite import schema as sch
from bench.suite.files import find_suite, read_toml
from bench.suite.settings import ProfileSuite

PROFILE_SUITE_SCHEMA: sch.Schema = sch.schema_of(ProfileSuite)


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
    return sch.build(ProfileSuite, {**data, "name": data.get("name") or path.stem})
