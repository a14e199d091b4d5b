"""The `hubindex` command. Each subcommand parses options, calls the library, and prints a table or JSON.

Failures of any kind end as one `error: <root cause>` line and exit status 2 (`--verbose`: with the traceback);
third-party warnings stay off stderr unless `--verbose`. `--verbose` is accepted anywhere on the command line.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
import warnings

import click

from hubindex import __version__

VERBOSE = "--verbose"
# Libraries whose warnings and log records (deprecations, "some weights were not initialised"...) are noise to a
# user of hubindex; `--verbose` lets them through.
QUIET_LOGGERS = ("transformers", "huggingface_hub", "torch", "peft", "accelerate", "datasets", "urllib3", "httpx")


def _quiet_third_parties() -> None:
    warnings.simplefilter("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")  # worker processes a command starts (zoo build --jobs)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # tqdm bars of huggingface_hub and transformers ("Writing model shards", downloads): hubindex draws its own.
    # Read when huggingface_hub is imported; a process that imported it already is told directly.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


# Subcommand -> "module:function" under hubindex.cli. A command's module is imported when the command runs (or
# --help lists them), so `hubindex serve` does not import what `index` or `train` need.
COMMANDS = {
    "index": "index_cmd:index", "reindex": "index_cmd:reindex", "crawl": "crawl_cmd:crawl",
    "similar": "query_cmd:similar", "show": "query_cmd:show", "search": "query_cmd:search",
    "merge-candidates": "query_cmd:merge_candidates", "lineage": "lineage_cmd:lineage",
    "parents": "lineage_cmd:parents", "eval": "eval_cmd:evaluate", "train": "train_cmd:train", "zoo": "zoo_cmd:zoo",
    "serve": "serve_cmd:serve", "worker": "worker_cmd:worker", "jobs": "worker_cmd:jobs",
    "remeasure-bases": "bases_cmd:remeasure_bases",
}


class HubindexGroup(click.Group):
    """Turns every failure into one clear line and exit status 2, instead of a traceback; loads subcommands on
    demand (COMMANDS)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return super().get_command(ctx, name)  # one added with @cli.command()
        module, function = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"hubindex.cli.{module}"), function)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        cut = args.index("--") if "--" in args else len(args)
        ctx.meta["hubindex.verbose"] = VERBOSE in args[:cut] or os.environ.get("HUBINDEX_VERBOSE") == "1"
        args = [a for a in args[:cut] if a != VERBOSE] + args[cut:]
        if not ctx.meta["hubindex.verbose"]:
            _quiet_third_parties()
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # click's own: usage errors already exit 2 with their message
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            from hubindex.cli.failure import explain

            if ctx.meta.get("hubindex.verbose"):
                traceback.print_exc()
            click.echo(f"error: {explain(exc)}", err=True)
            sys.exit(2)


@click.group(cls=HubindexGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubindex")
@click.option("--verbose", is_flag=True, expose_value=False,
              help="Tracebacks with errors, and third-party warnings (accepted anywhere on the line).")
def cli() -> None:
    """hubindex: index a model hub, fingerprint checkpoints, recover lineage, find merge candidates."""
    # Remembered before the default below, so `crawl` can tell a user's HF_HUB_OFFLINE from ours.
    click.get_current_context().meta["hubindex.user_offline"] = os.environ.get("HF_HUB_OFFLINE")
    # Never reach a hub for models or tokenizers unless a command asks for it explicitly.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

