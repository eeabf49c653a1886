"""The `placard` command (docs/design.md §3). Exit status: 0 all rows succeeded, 1 some failed or
were rejected, 2 nothing could run. `proof`: 0 pass, 1 fail or unchecked, 2 bad arguments;
`review`: 0 every decision applied, 1 some rows could not be."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from placard.domain.errors import PlacardError, UnknownTemplate
from placard.domain.jobs import Quality
from placard.domain.money import parse_usd
from placard.domain.proofs import MAX_REROLLS
from placard.domain.statuses import JobState
from placard.domain.templates import Template, default_catalogue
from placard.providers import NAMES
from placard.reporting.contact_sheet import usd

if TYPE_CHECKING:
    from placard.domain.progress import CampaignProgress
    from placard_local.runner import RunSummary

OK, SOME_FAILED, NOTHING_RAN = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="placard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a sheet through the local cloud")
    run.add_argument("sheet", type=Path)
    run.add_argument(
        "--out", type=Path, help="folder for images and reports (default: out/<campaign>)"
    )
    run.add_argument("--campaign", help="campaign name (default: the sheet's file name)")
    run.add_argument(
        "--budget", type=_usd, help="USD the campaign may spend in all; rows past it are refused"
    )
    run.add_argument(
        "--rerolls",
        type=_rerolls,
        help=f"re-rolls of an image whose words fail their proof, 0 to {MAX_REROLLS} "
        "(default: each template's)",
    )
    _provider_option(run)

    review = commands.add_parser(
        "review", help="apply the decisions of a reviewed results.csv on the local cloud"
    )
    review.add_argument("results", type=Path, help="results.csv of `placard run`, decided")
    review.add_argument(
        "--out", type=Path, help="the folder that run wrote (default: the sheet's folder)"
    )
    review.add_argument("--campaign", help="campaign name (default: the run's)")
    _provider_option(review)

    proof = commands.add_parser(
        "proof", help="read an image's words back and check them against the copy"
    )
    proof.add_argument("image", type=Path)
    proof.add_argument("--template", required=True, help="whose text fields are checked")
    proof.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")

    estimate = commands.add_parser(
        "estimate", help="validate a sheet and print its cost by quality tier, before it runs"
    )
    estimate.add_argument("sheet", type=Path)
    estimate.add_argument("--campaign", help="campaign name (default: the sheet's file name)")
    estimate.add_argument(
        "--rows", action="store_true", help="also print each row's cost, one line a row"
    )

    edit = commands.add_parser("edit", help="one masked edit of an image, through the local cloud")
    edit.add_argument("image", type=Path)
    where = edit.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--mask", type=Path, help="PNG: transparent (or white) marks the area to edit"
    )
    where.add_argument("--box", help="x,y,w,h: the area to edit, in the image's pixels")
    edit.add_argument("--template", required=True, help="an edit template, e.g. price-tag-edit")
    edit.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    edit.add_argument("--quality", default="")
    edit.add_argument("--size", default="", help="WIDTHxHEIGHT (default: the image's own)")
    edit.add_argument("--n", default="")
    edit.add_argument("--out", type=Path, default=Path("out") / "edits")
    edit.add_argument("--campaign", default="edits")
    _provider_option(edit)

    serve = commands.add_parser("serve", help="serve the HTTP API on localhost, on the local cloud")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    _provider_option(serve)

    _deployed_commands(commands)

    from placard_local import recovery  # reconcile, redrive and settle

    recovery.add_commands(commands, _usd, _aws_options)

    templates = commands.add_parser("templates", help="list templates, or show one")
    templates.add_argument("name", nargs="?")

    render = commands.add_parser("render", help="print the prompt a template would send")
    render.add_argument("template")
    render.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    return parser


def _provider_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        choices=NAMES,
        default=os.environ.get("PLACARD_PROVIDER", "draft"),
        help="image provider; spending money is always asked for, never inferred (default: draft)",
    )


def _check_provider(provider: str) -> None:
    """Fail before anything runs when a paid provider has no key or no address."""
    if provider not in NAMES:  # argparse checks a given --provider, not its default
        raise PlacardError(
            f"PLACARD_PROVIDER {provider!r} is not a provider; use one of {', '.join(NAMES)}"
        )
    needs = {
        "openai": ("OPENAI_API_KEY",),
        "prospolabs": ("PROSPOLABS_API_KEY", "PROSPOLABS_BASE_URL"),
    }
    missing = [name for name in needs.get(provider, ()) if not os.environ.get(name)]
    if missing:
        raise PlacardError(
            f"--provider {provider} needs {' and '.join(missing)} in the environment"
        )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage line and the reason
        return NOTHING_RAN if exc.code else OK
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "edit":
            return _edit(args)
        if args.command == "review":
            return _review(args)
        if args.command == "proof":
            return _proof(args.image, args.template, args.var)
        if args.command == "estimate":
            return _estimate(args.sheet, args.campaign, args.rows)
        if args.command == "serve":
            return _serve(args)
        if args.command == "upload":
            return _upload(args)
        if args.command == "status":
            return _status(args)
        if args.command in ("reconcile", "redrive", "settle"):
            from placard_local import recovery

            return recovery.run(args)
        if args.command == "templates":
            return _templates(args.name)
        if args.command == "render":
            return _render(args.template, args.var)
    except (PlacardError, OSError) as exc:
        print(f"placard: {exc}", file=sys.stderr)
        return NOTHING_RAN
    except Exception as exc:  # a bug of ours: one line, not a traceback
        if os.environ.get("PLACARD_DEBUG"):
            raise
        print(
            f"placard: unexpected {type(exc).__name__}: {exc} (a bug in placard; "
            "PLACARD_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return NOTHING_RAN
    return NOTHING_RAN


def _vars(template: Template, pairs: Sequence[str]) -> dict[str, str]:
    """--var KEY=VALUE pairs; a KEY the template does not declare is refused (a typo would
    otherwise drop the copy in silence)."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise PlacardError(f"--var {pair!r}: expected KEY=VALUE")
        if key not in template.variables:
            raise PlacardError(
                f"--var {key}: {template.name} has no variable {key!r}; "
                f"its variables are {', '.join(template.variables)}"
            )
        values[key] = value
    return values


def _template(name: str) -> Template:
    catalogue = default_catalogue()
    try:
        return catalogue[name]
    except UnknownTemplate as exc:
        raise PlacardError(f"{exc}; the templates are {', '.join(catalogue)}") from None


def _render(name: str, pairs: Sequence[str]) -> int:
    template = _template(name)
    print(template.render(_vars(template, pairs)))
    return OK


def _templates(name: str | None) -> int:
    catalogue = default_catalogue()
    if name:
        print(json.dumps(_template(name).describe(), indent=2, ensure_ascii=False))
        return OK
    for template in catalogue.values():
        required = [v.name + "*" if v.required else v.name for v in template.variables.values()]
        print(
            f"{template.name:<18} {template.kind:<8} {template.mode.value:<9} {', '.join(required)}"
        )
    return OK


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # lazy: only the local runner draws progress

    from placard_local.cloud import local_cloud
    from placard_local.runner import claim_out, plan_sheet, run_sheet

    # Everything checkable is checked before the cloud starts: nothing is spent on a run
    # that could not deliver its results.
    _check_provider(args.provider)
    plan = plan_sheet(args.sheet, args.campaign)
    out: Path = args.out or Path("out") / plan.campaign
    claim_out(out, plan)
    logging.basicConfig(level=logging.WARNING)
    with (
        local_cloud(_overrides(args.provider)) as cloud,
        tqdm(unit="job", desc=plan.campaign, file=sys.stderr) as bar,
    ):
        counters = _Counters(bar, plan.campaign)
        summary = run_sheet(
            cloud,
            plan,
            out,
            on_queued=lambda n: _set_total(bar, n),
            on_settled=counters.settled,
            budget=args.budget,
            rerolls=args.rerolls,
        )
        counters.show()
    _say_summary(summary, args.provider)
    return summary.exit_status


def _say_summary(summary: RunSummary, provider: str) -> None:
    """What `placard run` and `placard upload --wait` print once the reports are in."""
    out = summary.out
    print(
        f"{summary.rows} rows: {summary.succeeded} succeeded, {summary.failed} failed, "
        f"{summary.rejected} rejected"
        + (f", {summary.over_budget} over budget" if summary.over_budget else "")
        + (f", {summary.needs_review} need review" if summary.needs_review else "")
    )
    print(f"images: {summary.images} in {out / 'images'}")
    print(f"results: {out / 'results.csv'}; review: {out / 'index.html'}")
    for warning in summary.warnings:
        print(f"{warning.column}: {warning.reason}")
    if (out / "errors.csv").exists():
        print(f"errors: {out / 'errors.csv'}")
    print(f"ledger total: {usd(summary.cost_usd)} ({provider})")


def _review(args: argparse.Namespace) -> int:
    from placard_local.cloud import local_cloud
    from placard_local.runner import review_sheet, run_upload

    results: Path = args.results
    if not results.is_file():
        raise PlacardError(f"{results}: no such file")
    _check_provider(args.provider)  # a re-roll is made, and charged, by this provider
    out: Path = args.out or results.parent
    upload = run_upload(out, args.campaign)
    logging.basicConfig(level=logging.WARNING)
    with local_cloud(_overrides(args.provider)) as cloud:
        summary = review_sheet(cloud, results, out, upload)
    for line in summary.said:
        print(line)
    print(f"results: {out / 'results.csv'}; review: {out / 'index.html'}")
    print(f"ledger total: {usd(summary.run.cost_usd)} ({args.provider})")
    return SOME_FAILED if summary.errors else OK


def _proof(image: Path, name: str, pairs: Sequence[str]) -> int:
    from placard.domain.proofs import Verdict
    from placard.proofing.check import read_back
    from placard.proofing.reader import OnnxReader

    if not image.is_file():
        raise PlacardError(f"{image}: no such file")
    template = _template(name)
    fields = template.texts(template.values(_vars(template, pairs)))
    if not fields:
        raise PlacardError(
            f"--var: no copy to check; give the text of {', '.join(template.text)} "
            f"(e.g. --var {template.text[0]}=...)"
            if template.text
            else f"{template.name} sets no text to check"
        )
    proof = read_back(OnnxReader(), image.read_bytes(), fields)
    for field in proof.fields:
        print(field.describe())
    print(f"proof: {proof.verdict}")
    return OK if proof.verdict is Verdict.PASS else SOME_FAILED


def _rerolls(text: str) -> int:
    from placard.services.ingest import parse_rerolls

    try:
        return parse_rerolls(text)
    except PlacardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Counters:
    """Beside `placard run`'s bar, what GET /v1/campaigns/{c}/progress answers: queued,
    running, ended by status, spent and the time left, read from the campaign's counters
    at most twice a second (one query each)."""

    EVERY_SECONDS = 0.5

    def __init__(self, bar: Any, campaign: str) -> None:
        self.bar, self.campaign = bar, campaign
        self._shown = 0.0
        self._lock = threading.Lock()

    def settled(self, n: int) -> None:
        self.bar.update(n)
        if time.monotonic() - self._shown >= self.EVERY_SECONDS:
            self.show()

    def show(self) -> None:
        from placard import bootstrap
        from placard.domain.progress import progress

        with self._lock:  # the queues' pumps report from their own threads
            self._shown = time.monotonic()
            now = datetime.now(UTC)
            counts = bootstrap.parts().progress.counts(self.campaign, now)
            if counts is not None:
                self.bar.set_postfix_str(progress_line(progress(counts, now)))


def progress_line(found: CampaignProgress) -> str:
    """Like "queued 120, running 8, 860 succeeded, 2 failed, $1.20, 2m10s left"."""
    ended = [f"{n} {state.replace('_', ' ')}" for state, n in found.ended.items() if n]
    parts = [f"queued {found.queued}", f"running {found.running}", *ended,
             usd(found.spend.cost_usd)]  # fmt: skip
    if found.seconds_left is not None:
        minutes, seconds = divmod(found.seconds_left, 60)
        parts.append(f"{minutes}m{seconds:02d}s left" if minutes else f"{seconds}s left")
    return ", ".join(parts)


def _set_total(bar: Any, total: int) -> None:
    bar.total = total
    bar.refresh()


def _usd(text: str) -> Decimal:
    amount = parse_usd(text)
    if amount is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an amount of USD; give a number, 0 or more, e.g. 25 or 7.50"
        )
    return amount


def _estimate(sheet: Path, campaign: str | None, per_row: bool = False) -> int:
    from placard.domain.pricing import default_prices
    from placard.services.estimates import estimate_rows
    from placard.sheets.reader import read_rows
    from placard.sheets.rows import SheetDefaults
    from placard_local.runner import campaign_for

    def source(name: str) -> bytes | None:
        path = sheet.parent / name
        return path.read_bytes() if name and path.is_file() else None

    if not sheet.is_file():
        raise PlacardError(
            f"{sheet}: {'is a folder, not a sheet' if sheet.is_dir() else 'no such file'}"
        )
    defaults = SheetDefaults(campaign=campaign_for(sheet, campaign), upload=sheet.stem)
    with sheet.open("rb") as raw:
        result = estimate_rows(read_rows(raw, sheet.name), default_catalogue(), defaults, source)
    if not result.rows:
        raise PlacardError(f"{sheet.name}: no rows below the header row; nothing to estimate")
    costs = result.by_provider(default_prices())
    names = list(costs)
    print(
        f"{sheet.name}: {result.rows} rows, {len(result.jobs)} to run, "
        f"{len({e.row for e in result.errors})} rejected"
        + (f", {result.repeats} repeating an earlier row (priced once)" if result.repeats else "")
    )

    def cost(name: str, amount: Decimal) -> str:  # `~`: an estimate, not a flat price
        return f" {('' if costs[name].exact else '~') + f'{amount:.4f}':>16}"

    print(f"{'quality':<8} {'images':>7}" + "".join(f" {n + ' USD':>16}" for n in names))
    for quality in Quality:
        images = costs[names[0]].images_by_quality[quality]
        cells = "".join(cost(n, costs[n].by_quality[quality]) for n in names)
        print(f"{quality.value:<8} {images:>7}{cells}")
    total = costs[names[0]].images
    print(f"{'total':<8} {total:>7}" + "".join(cost(n, costs[n].total) for n in names))
    for name in names:
        if costs[name].exact:
            print(f"{name}: exact, its flat price per image")
            continue
        print(f"{name}: ~ estimated from token counts; charged the tokens each answer reports")
        quotes = zip(result.jobs, costs[name].quotes, strict=True)
        approximate = [row.row for row, quote in quotes if quote.approximate]
        if approximate:
            print(
                f"{name}: approximate size (not in its token table, scaled by area) in "
                + ("rows " if len(approximate) > 1 else "row ")
                + ", ".join(str(row) for row in approximate)
            )
    if per_row:
        print(f"\n{'row':>5} {'id':<16} {'quality':<8} {'size':<10} {'n':>2}"
              + "".join(f" {n + ' USD':>16}" for n in names))  # fmt: skip
        for i, row in enumerate(result.jobs):
            job = row.job
            cells = "".join(cost(n, costs[n].quotes[i].usd) for n in names)
            print(f"{row.row:>5} {job.row_id or str(row.row):<16} {job.quality.value:<8} "
                  f"{row.size!s:<10} {job.n:>2}{cells}")  # fmt: skip
    print("draft proofs cost nothing; a run spends only with --provider openai or prospolabs")
    for error in result.errors:
        print(f"row {error.row}, {error.column or 'sheet'}: {error.reason}", file=sys.stderr)
    return SOME_FAILED if result.errors else OK


def _serve(args: argparse.Namespace) -> int:
    import secrets
    import threading

    from placard.api.callbacks import new_secret
    from placard_local.cloud import local_cloud
    from placard_local.serve import serving

    _check_provider(args.provider)
    fresh = {
        "PLACARD_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "PLACARD_CALLBACK_SECRET": new_secret(),
    }
    for name, value in fresh.items():
        if not os.environ.get(name):
            os.environ[name] = value
            print(f"{name} was not set; this session uses {value}")
    # Locally, callbacks may go to loopback (a receiver on this machine); never on Lambda.
    # Allowed rather than refused, so a receiver can be tried locally; said, since the
    # deployed API refuses them.
    os.environ.setdefault("PLACARD_ALLOW_LOOPBACK_CALLBACKS", "1")
    logging.basicConfig(level=logging.WARNING)
    with local_cloud(_overrides(args.provider)) as cloud, serving(cloud, args.port) as url:
        bucket, endpoint = cloud.uploads_bucket, cloud.endpoint
        print(f"placard API on {url} (provider {args.provider}); Ctrl-C stops it")
        key = "campaigns/store-12/photos/shelf.jpg"
        print(f"local S3 at {endpoint}; uploads bucket {bucket}. Put a photo to edit there:")
        print(
            f"  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws s3 cp shelf.jpg "
            f"s3://{bucket}/{key} --endpoint-url {endpoint}"
        )
        print(
            f"""  or: {sys.executable} -c "import boto3; boto3.client('s3', """
            f"""endpoint_url='{endpoint}', aws_access_key_id='local', """
            f"""aws_secret_access_key='local', region_name='us-east-1')"""
            f""".upload_file('shelf.jpg', '{bucket}', '{key}')\""""
        )
        if os.environ["PLACARD_ALLOW_LOOPBACK_CALLBACKS"] == "1":
            print(
                "warning: callback_url may name this machine here (loopback, plain http "
                "included); the deployed API refuses that. PLACARD_ALLOW_LOOPBACK_CALLBACKS=0 "
                "refuses it here too",
                flush=True,
            )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return OK


def _overrides(provider: str) -> dict[str, str]:
    return {"Provider": provider, "LogLevel": "WARNING"}


def _edit(args: argparse.Namespace) -> int:
    from placard_local.cloud import local_cloud
    from placard_local.runner import campaign_for, plan_edit, run_edit, writable_folder

    image: Path = args.image
    for path in (image, args.mask):
        if path is not None and not path.is_file():
            raise PlacardError(f"{path}: no such file")
    _check_provider(args.provider)
    campaign = campaign_for(image, args.campaign)
    template = _template(args.template)
    cells = {
        **_vars(template, args.var),
        "template": args.template,
        "quality": args.quality,
        "size": args.size,
        "n": args.n,
        "mask_box": args.box or "",
    }
    # The photo, the mask or box and the copy are checked here, before any upload or spend.
    plan = plan_edit(image, cells, campaign, mask=args.mask)
    writable_folder(args.out)
    logging.basicConfig(level=logging.WARNING)
    with local_cloud(_overrides(args.provider)) as cloud:
        summary = run_edit(cloud, plan, args.out)
    for path in summary.images:
        print(path)
    print(f"{summary.status}{': ' + summary.reason if summary.reason else ''}")
    print(f"cost: {usd(summary.cost_usd)} ({args.provider})")
    return OK if summary.status is JobState.SUCCEEDED else SOME_FAILED


# `placard upload` and `placard status`: a stack deployed on AWS (placard_local/deployed.py).


def _deployed_commands(commands: Any) -> None:
    upload = commands.add_parser(
        "upload", help="put a sheet in a deployed stack's uploads bucket, and follow it"
    )
    upload.add_argument("sheet", type=Path)
    upload.add_argument("--stack", required=True, help="the CloudFormation stack's name")
    upload.add_argument("--campaign", help="campaign name (default: the sheet's file name)")
    upload.add_argument(
        "--budget", type=_usd, help="USD the campaign may spend in all; rows past it are refused"
    )
    upload.add_argument(
        "--yes", action="store_true", help="upload without --budget (the campaign's stays)"
    )
    upload.add_argument(
        "--rerolls",
        type=_rerolls,
        help=f"re-rolls of an image whose words fail their proof, 0 to {MAX_REROLLS}",
    )
    upload.add_argument(
        "--wait", action="store_true", help="follow the jobs to their end and download the reports"
    )
    upload.add_argument(
        "--out", type=Path, help="with --wait: folder for the reports (default: out/<campaign>)"
    )
    upload.add_argument(
        "--timeout", type=float, help="with --wait: seconds to wait at most (default: no limit)"
    )
    _aws_options(upload)

    status = commands.add_parser("status", help="a campaign's progress on a deployed stack")
    status.add_argument("campaign")
    status.add_argument("--stack", required=True, help="the CloudFormation stack's name")
    _aws_options(status)


def _aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, or the default)")
    parser.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)")


def _upload(args: argparse.Namespace) -> int:
    from placard_local.deployed import aws_errors_said
    from placard_local.runner import claim_out, plan_sheet

    # The sheet and the folder are checked before anything is uploaded or spent.
    plan = plan_sheet(args.sheet, args.campaign)
    out: Path = args.out or Path("out") / plan.campaign
    if args.wait:
        claim_out(out, plan)
    logging.basicConfig(level=logging.WARNING)
    return aws_errors_said(lambda: _upload_to_stack(args, plan, out))


def _upload_to_stack(args: argparse.Namespace, plan: Any, out: Path) -> int:
    from tqdm import tqdm

    from placard.aws.budgets import DynamoBudgets
    from placard_local.deployed import (
        NotFinished,
        download_reports,
        follow,
        open_stack,
        send_sheet,
        upload_metadata,
    )

    stack = open_stack(args.stack, args.profile, args.region)
    paid = "" if stack.provider == "draft" else ", which bills real money"
    print(f"stack {stack.name} ({stack.region}): provider {stack.provider}{paid}")
    if args.budget is not None:
        print(f"budget: {usd(args.budget)} for campaign {plan.campaign} in all, spent included")
    else:
        limit = DynamoBudgets(stack.client("dynamodb"), stack.ledger_table).limit(plan.campaign)
        kept = (
            f"its budget stays {usd(limit)}"
            if limit is not None
            else "it has no budget, so nothing limits what it spends"
        )
        if not args.yes:
            raise PlacardError(
                f"--budget: campaign {plan.campaign} on stack {stack.name} "
                f"(provider {stack.provider}): {kept}; give --budget USD, or --yes to upload "
                "without one"
            )
        print(f"budget: none given; {kept}")
    sent = send_sheet(stack, plan, upload_metadata(args.budget, args.rerolls))
    print(f"uploaded s3://{stack.uploads_bucket}/{sent.upload.key}")
    follow_up = f"placard status --stack {stack.name} {plan.campaign}"
    if not args.wait:
        print(f"progress: {follow_up}")
        return OK
    with tqdm(unit="job", desc=plan.campaign, file=sys.stderr) as bar:
        try:
            follow(
                stack,
                sent,
                on_total=lambda n: _set_total(bar, n),
                on_ended=bar.update,
                timeout=args.timeout,
            )
        except NotFinished as exc:
            print(f"placard: {exc}; `{follow_up}` shows its progress", file=sys.stderr)
            return SOME_FAILED
    summary = download_reports(stack, sent.upload, out)
    _say_summary(summary, stack.provider)
    return summary.exit_status


def _status(args: argparse.Namespace) -> int:
    from placard_local.deployed import aws_errors_said

    return aws_errors_said(lambda: _status_of(args))


def _status_of(args: argparse.Namespace) -> int:
    from pathlib import PurePosixPath

    from placard.domain.keys import reports_prefix
    from placard_local.deployed import campaign_status, open_stack

    stack = open_stack(args.stack, args.profile, args.region)
    status = campaign_status(stack, args.campaign)
    images = status.charged + status.refunded + status.in_flight + status.held + status.failed
    if not status.runs and not images:
        raise PlacardError(
            f"campaign {args.campaign}: stack {stack.name} has read no upload of it and "
            "made no image for it"
        )
    print(f"campaign {status.campaign} on stack {stack.name} (provider {stack.provider})")
    for run in status.runs:
        name = PurePosixPath(run.sheet).name
        if run.total is None:
            print(f"{name}: ingest is reading it ({run.ended} jobs ended so far)")
        elif run.done:
            where = f"s3://{stack.assets_bucket}/{reports_prefix(status.campaign, run.sheet)}"
            print(f"{name}: all {run.total} jobs ended; reports in {where}")
        else:
            print(f"{name}: {run.ended} of {run.total} jobs ended")
    print(
        f"images: {status.charged} charged, {status.refunded} refunded, {status.failed} failed, "
        f"{status.in_flight} in flight"
        + (f", {status.held} held, outcome unknown (placard settle)" if status.held else "")
    )
    budget = (
        f"; budget {usd(status.budget_usd)}, {usd(status.remaining_usd or Decimal(0))} left"
        if status.budget_usd is not None
        else "; no budget"
    )
    print(f"spent: {usd(status.cost_usd)}{budget}")
    return OK


if __name__ == "__main__":
    sys.exit(main())
