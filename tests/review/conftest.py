"""One real end-to-end run shared by the review tests (it takes ~20 s)."""

from __future__ import annotations

import pytest

from tests.review.scenario import Run, produce


@pytest.fixture(scope="session")
def service_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return produce(tmp_path_factory.mktemp("service-run"))
