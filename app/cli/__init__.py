"""The ``mixopt`` command line (typer).

Every command that is a use case of the service (``projects``, ``project``, ``runs``, ``import``, ``export``,
``recommend``, ``propose``, ``evaluate``, ``embed --project``, ``campaign run``, ``domains``) goes through the Python
client (:class:`mixopt.Client`): with ``--url`` (and ``--token`` / ``MIXOPT_TOKEN``) to that running server, and
without it to the API served in this process on the configured database (``MIXOPT_DATABASE_URL`` or the SQLite
file under ``MIXOPT_DATA_DIR``; see :mod:`app.local`), like Optuna's ``--storage``. Either way the server's code
is the one implementation. ``serve``, ``db`` and ``token`` administer the server itself and work on the
database directly (:mod:`app.cli.admin` says why).

Modules: ``common`` (output, the connection), ``errors`` (one line per error), ``data`` (projects and runs),
``mixing`` (mixers and embeddings), ``domains`` (the domain set's versions), ``admin``.
"""

from __future__ import annotations

import sys

import typer

from app.cli import admin, campaign, data, domains, errors, mixing

app = typer.Typer(help="mixopt: data-mixture optimization for language-model training.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create (printed once), list, revoke.", no_args_is_help=True)
project_app = typer.Typer(help="One project: archive (delete), restore, purge.", no_args_is_help=True)
campaign_app = typer.Typer(help="Campaigns: propose, train, post, recommend, in rounds.", no_args_is_help=True)
domains_app = typer.Typer(
    help="A project's domain set: versions (the change log), add, remove, split, merge.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")

app.command("serve")(admin.serve)
db_app.command("upgrade")(admin.db_upgrade)
db_app.command("current")(admin.db_current)
app.command("projects")(data.list_projects)
app.add_typer(project_app, name="project")
project_app.command("delete")(data.project_delete)
project_app.command("restore")(data.project_restore)
app.command("runs")(data.list_runs)
app.command("import")(data.import_runs)
app.command("export")(data.export_runs)
app.command("recommend")(mixing.recommend)
app.command("propose")(mixing.propose)
app.command("evaluate")(mixing.evaluate)
app.command("embed")(mixing.embed)
campaign_app.command("run")(campaign.run)
app.add_typer(campaign_app, name="campaign")
for command in (domains.versions, domains.add, domains.remove, domains.split, domains.merge):
    domains_app.command(command.__name__)(command)
app.add_typer(domains_app, name="domains")
token_app.command("create")(admin.token_create)
token_app.command("list")(admin.token_list)
token_app.command("revoke")(admin.token_revoke)


def main() -> None:
    """The ``mixopt`` command: every error a one-line message naming the field (:mod:`app.cli.errors`)."""
    sys.exit(errors.run(app))
