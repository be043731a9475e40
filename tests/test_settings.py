"""The one settings object: environment, Kubernetes-mounted secret files, missing secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimflow.settings import MissingSecretError, Settings, load_settings


def test_secret_files_are_read_and_the_environment_wins_over_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "receiver__verification_token").write_text("from-file\n")
    (tmp_path / "CLAIMFLOW_KAFKA__SASL_PASSWORD").write_text("sasl-from-file")
    (tmp_path / "integrex__client_secret").write_text("ignored")
    monkeypatch.setenv("CLAIMFLOW_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("CLAIMFLOW_INTEGREX__CLIENT_SECRET", "from-env")
    monkeypatch.setenv("CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS", "kafka:9092")

    settings = load_settings()

    assert settings.require_secret("receiver", "verification_token").get_secret_value() == (
        "from-file"
    )
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "sasl-from-file"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.integrex.client_secret is not None
    assert settings.integrex.client_secret.get_secret_value() == "from-env"


def test_a_missing_secret_names_its_environment_variable() -> None:
    with pytest.raises(MissingSecretError) as raised:
        Settings().require_secret("availity", "client_secret")
    assert str(raised.value).startswith(
        "missing required secret CLAIMFLOW_AVAILITY__CLIENT_SECRET: set it"
    )


def test_secrets_never_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN", "very-secret-token")
    assert "very-secret-token" not in repr(load_settings())
