"""Where the DE database is, and other settings, resolved without Streamlit.

Order: the ``KURRANT_DE_URL`` environment variable, then ``[kurrant] de_url`` in
``.streamlit/secrets.toml``, then the embedded SQLite default. Resolving here (not through
``st.connection``) lets the CLI, the retrain job and the tests point at any database.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kurrant_core.errors import KurrantError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "kurrant_de.sqlite"
DEFAULT_DE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"
ENV_DE_URL = "KURRANT_DE_URL"
ENV_SECRETS = "KURRANT_SECRETS_FILE"
ENV_ARTIFACTS = "KURRANT_ARTIFACT_DIR"
SECRETS_SECTION = "kurrant"


def secrets_path() -> Path:
    """The secrets file the dashboard would read (override with ``KURRANT_SECRETS_FILE``)."""
    return Path(os.environ.get(ENV_SECRETS, PROJECT_ROOT / ".streamlit" / "secrets.toml"))


def read_secrets() -> dict:
    """The ``[kurrant]`` section of the secrets file, or ``{}`` when there is none."""
    path = secrets_path()
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise KurrantError(f"{path} is not valid TOML ({exc}); fix it or remove it.") from None
    section = data.get(SECRETS_SECTION, {})
    if not isinstance(section, dict):
        raise KurrantError(f"[{SECRETS_SECTION}] in {path} must be a table of settings.")
    return section


def setting(name: str, default: str | None = None) -> str | None:
    """A setting from ``KURRANT_<NAME>`` in the environment, else the secrets file, else default."""
    env = os.environ.get(f"KURRANT_{name.upper()}")
    if env is not None:
        return env
    value = read_secrets().get(name.lower())
    return default if value is None else str(value)


URL_EXAMPLES = "mysql+pymysql://user:pass@host:3306/kurrant_de or sqlite:///data/kurrant_de.sqlite"
CONFIGURED = f"{ENV_DE_URL} (or [{SECRETS_SECTION}] de_url in .streamlit/secrets.toml)"
"""Where :func:`de_url` found the URL, as error messages name it."""
DRIVER_PACKAGES = {"pymysql": "pymysql", "mysqldb": "mysqlclient", "mysqlconnector": "mysql-connector-python",
                   "mariadbconnector": "mariadb"}


def de_url() -> str:
    """The DE database URL, validated; raises KurrantError for a malformed one."""
    url = setting("de_url", DEFAULT_DE_URL)
    assert url is not None
    return check_de_url(url, CONFIGURED)


def check_de_url(url: str, source: str = CONFIGURED) -> str:
    """``url`` unchanged when it can name a DE database: it parses, its backend is SQLite or
    MySQL/MariaDB, and its driver is installed. Else KurrantError naming ``source`` (where the URL
    came from: the environment, the secrets file or ``--url``), never the password."""
    try:
        parsed = make_url(url)
    except Exception:
        raise KurrantError(f"The DE database URL in {source} is malformed; write it like {URL_EXAMPLES}.",
                           key="err.url_malformed", source=source, examples=URL_EXAMPLES) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "mysql", "mariadb"):
        raise KurrantError(f"The DE database must be SQLite or MySQL/MariaDB, not {backend!r} "
                           f"({source}); write it like {URL_EXAMPLES}.", key="err.url_backend",
                           backend=backend, source=source, examples=URL_EXAMPLES)
    check_driver(parsed, source)
    return url


def check_driver(url: str | sa.URL, source: str = CONFIGURED) -> None:
    """KurrantError unless SQLAlchemy knows the URL's driver and its Python package is installed."""
    parsed = make_url(url)
    driver = parsed.get_driver_name()
    try:
        parsed.get_dialect().import_dbapi()
    except (ImportError, sa.exc.NoSuchModuleError):
        package = DRIVER_PACKAGES.get(driver)
        how = f"install it (pip install {package})" if package else "use mysql+pymysql:// or sqlite:///"
        raise KurrantError(f"The database driver {parsed.drivername!r} of the DE URL in {source} is not "
                           f"available; {how}.", key="err.url_driver", driver=parsed.drivername,
                           source=source, how=how) from None


def mask_url(url: str | sa.URL) -> str:
    """The URL as safe to print: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<malformed URL>"


def artifact_root() -> Path:
    """Folder under which each run keeps its artifacts (one sub-folder per run)."""
    return Path(setting("artifact_dir", str(PROJECT_ROOT / "data" / "artifacts")))
