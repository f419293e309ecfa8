import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture
def hub_stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """A local Hugging Face Hub stand-in (see ``tests/helpers/hub_server.py``) with a fresh, empty ``HF_HOME``.

    ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` into
    ``huggingface_hub.constants`` when it is imported, so the fixture patches those module attributes as well
    as the environment. ``stand_in.go_offline()`` stops the server and sets ``HF_HUB_OFFLINE=1``.
    """
    from huggingface_hub import constants

    from helpers.hub_server import HubStandIn

    stand_in = HubStandIn()
    home = tmp_path_factory.mktemp("hf_home")
    values = {
        "ENDPOINT": stand_in.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": stand_in.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_XET": True,
    }
    for name, value in values.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    monkeypatch.setenv("HF_ENDPOINT", stand_in.url)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)

    def go_offline() -> None:
        stand_in.stop()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    stand_in.cache = home / "hub"
    stand_in.go_offline = go_offline
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread (2 threads on a shared 2-core machine spin-wait each other)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
