"""The `hubindex` command. Each subcommand parses options, calls the library, and prints rich text or JSON."""

from __future__ import annotations

import os
import sys

import click

from hubindex import __version__
from hubindex.errors import HubindexError


class HubindexGroup(click.Group):
    """Turns library errors into one clear line and exit status 2, instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HubindexError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=HubindexGroup)
@click.version_option(__version__, prog_name="hubindex")
def cli() -> None:
    """hubindex: index a model hub, fingerprint checkpoints, recover lineage, find merge candidates."""
    # Remembered before the default below, so `crawl` can tell a user's HF_HUB_OFFLINE from ours.
    click.get_current_context().meta["hubindex.user_offline"] = os.environ.get("HF_HUB_OFFLINE")
    # Never reach a hub for models or tokenizers unless a command asks for it explicitly.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _register() -> None:
    from hubindex.cli.crawl_cmd import crawl
    from hubindex.cli.eval_cmd import evaluate
    from hubindex.cli.index_cmd import index, reindex
    from hubindex.cli.lineage_cmd import lineage, parents
    from hubindex.cli.query_cmd import merge_candidates, search, show, similar
    from hubindex.cli.serve_cmd import serve
    from hubindex.cli.train_cmd import train
    from hubindex.cli.worker_cmd import jobs, worker
    from hubindex.cli.zoo_cmd import zoo

    for command in (index, reindex, crawl, similar, show, search, merge_candidates, lineage, parents, evaluate, train,
                    zoo, serve, worker, jobs):
        cli.add_command(command)


_register()
