"""Shared fixtures for the deploy/ structure tests (no cloud, no network, no database).

The Terraform in deploy/terraform is read with python-hcl2 (>= 8, the package on PyPI
named ``python-hcl2``; checkov's fork ``bc-python-hcl2`` also installs a module named
``hcl2`` with a different output format, hence the check below).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
TF_DIR = DEPLOY / "terraform"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip locally when a tool is missing; in CI a missing tool is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: install it, see deploy/README.md)")
    pytest.skip(reason)


@dataclass
class Terraform:
    files: dict[str, str] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    resource_file: dict[tuple[str, str], str] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def get(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"missing resource {rtype}.{name}"
        return self.resources[(rtype, name)]


def _load_terraform() -> Terraform:
    try:
        import hcl2
    except ImportError:
        skip_or_fail("python-hcl2 is not installed (pip install -r deploy/requirements-test.txt)")
    if not hasattr(hcl2, "SerializationOptions"):
        skip_or_fail(
            "the importable `hcl2` is not python-hcl2 >= 8 (checkov's bc-python-hcl2 "
            "overwrote it?): install checkov in its own virtualenv"
        )
    opts = hcl2.SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, with_comments=False
    )
    tf = Terraform()
    for path in sorted(TF_DIR.glob("*.tf")):
        text = path.read_text(encoding="utf-8")
        tf.files[path.name] = text
        doc = hcl2.loads(text, serialization_options=opts)
        for item in doc.get("resource", []):
            for rtype, named in item.items():
                for name, body in named.items():
                    key = (rtype, name)
                    assert key not in tf.resources, f"duplicate resource {rtype}.{name}"
                    tf.resources[key] = body
                    tf.resource_file[key] = path.name
        for item in doc.get("data", []):
            for dtype, named in item.items():
                for name, body in named.items():
                    tf.data[(dtype, name)] = body
        for item in doc.get("variable", []):
            tf.variables.update(item)
        for item in doc.get("locals", []):
            tf.locals.update(item)
        for item in doc.get("output", []):
            tf.outputs.update(item)
        tf.terraform.extend(doc.get("terraform", []))
    return tf


@pytest.fixture(scope="session")
def tf() -> Terraform:
    return _load_terraform()
