"""Every S3 key and DynamoDB key placard writes, in one place, so a format changes here or not
at all. Plain strings only: the adapters under aws/ wrap them in DynamoDB's types.

S3, uploads bucket:  campaigns/<campaign>/<file>          a sheet, or a photo a sheet names
                     campaigns/<campaign>/review/<file>   a results sheet with people's decisions
S3, assets bucket:   campaigns/<campaign>/<job>/<i>.<ext>  an original, kept as the provider sent it
                     campaigns/<campaign>/<job>/<i>.<kind>.<ext>  beside it: "provider" (an
                     edit's raw answer) and the derivatives "web" and "thumb"
                     campaigns/<campaign>/<job>/<i>-<k>.<ext>  attempt k (2, 3...) of image i: a
                     re-roll, with its own copies beside it
                     reports/<campaign>/<upload>/          errors.csv, results.csv, index.html
DynamoDB, ledger table (one partition per campaign, so one query reads a campaign's images,
its budget and its runs together):
                     CAMPAIGN#<campaign> IMAGE#<job>#<ii>  one item per image attempt: the first,
                     CAMPAIGN#<campaign> IMAGE#<job>#<ii>#<k>  and attempt k (2, 3...), a re-roll
                     CAMPAIGN#<campaign> IMAGE#LOST#<job>#<ii>#<k>#<reserved at>  a call whose
                                                           outcome is unknown, set aside: held
                                                           until settled from the bill; no
                                                           job's image
                     CAMPAIGN#<campaign> BUDGET            the campaign's budget
                     CAMPAIGN#<campaign> JOB#<job>         the job as first run, kept for good:
                                                           re-rolls and the reconciler read it
                     CAMPAIGN#<campaign> RUN#<sheet>#<run> how many of an upload's jobs ended
                     CAMPAIGN#<campaign> RUN#<sheet>#<run>#JOB#<job>  that job's end, counted
                     CAMPAIGN#<campaign> PROGRESS#SUM[#<n>]  the campaign's counters (#17), in
                                                           shards: their sum is the count
                     CAMPAIGN#<campaign> PROGRESS#MIN#<minute>  jobs ended in that minute
                     RECONCILE           COUNTERS          up to when every campaign's counters
                                                           were recounted
                     JOB#<job>           DEAD#<attempt>    a dead-lettered round, ended by the
                                                           reconciler
                     CAMPAIGN#<campaign> DEAD#<queue>#<sheet>#<run>  an upload's failed ingest
                                                           or report request, acted on once
                     JOB#<job>           JOB               a job asked for through the API
DynamoDB, idempotency table:  signature#<sha256>           a webhook signature already used
"""

from __future__ import annotations

from pathlib import PurePosixPath

from placard.domain.errors import InvalidInput

UPLOADS_PREFIX = "campaigns/"
IMAGES_PREFIX = "IMAGE#"  # every image item of a campaign, whatever its job
BUDGET_SK = "BUDGET"
KEPT_JOB_PREFIX = "JOB#"  # under a campaign's partition: its kept jobs
REVIEW_FOLDER = "review"  # campaigns/<campaign>/review/<file>: a reviewed results sheet

# --------------------------------------------------------------------------- S3


def upload_key(campaign: str, name: str) -> str:
    """Files a sheet names live beside it, under the campaign's folder of the uploads bucket."""
    return f"{UPLOADS_PREFIX}{campaign}/{name}"


def parse_upload_key(key: str) -> tuple[str, str]:
    """(campaign, file name) of a sheet uploaded as `campaigns/<campaign>/<file>`."""
    parts = PurePosixPath(key).parts
    if len(parts) != 3 or parts[0] != UPLOADS_PREFIX.rstrip("/"):
        raise InvalidInput("key", "uploads go to campaigns/<campaign>/<file>", key)
    return parts[1], parts[2]


def review_key(campaign: str, name: str) -> str:
    """Where a reviewed results sheet is uploaded; parse_review_key reads it back."""
    return f"{UPLOADS_PREFIX}{campaign}/{REVIEW_FOLDER}/{name}"


def parse_review_key(key: str) -> tuple[str, str] | None:
    """(campaign, file name) of a reviewed results sheet uploaded as
    `campaigns/<campaign>/review/<file>`; None for any other key."""
    parts = PurePosixPath(key).parts
    if len(parts) == 4 and parts[0] + "/" == UPLOADS_PREFIX and parts[2] == REVIEW_FOLDER:
        return parts[1], parts[3]
    return None


def upload_name(sheet: str) -> str:
    """What an upload is called in its reports: the sheet's file name without its suffix."""
    return PurePosixPath(sheet).stem


def reports_prefix(campaign: str, sheet: str) -> str:
    """Where the reports of a sheet (its key or its file name) go in the assets bucket."""
    return f"reports/{campaign}/{upload_name(sheet)}/"


def image_key(
    campaign: str, job_id: str, index: int, extension: str, kind: str = "", attempt: int = 1
) -> str:
    """An image of a job; `kind` names a copy beside the original ("provider", "web",
    "thumb"), empty for the original itself. A re-roll's attempt is part of its name."""
    suffix = f".{kind}" if kind else ""
    name = f"{index}-{attempt}" if attempt > 1 else str(index)
    return f"{UPLOADS_PREFIX}{campaign}/{job_id}/{name}{suffix}.{extension}"


def parse_image_key(key: str) -> tuple[str, str, int, int]:
    """(campaign, job id, image index, attempt) of an original's key or S3 URI, as image_key
    names it; InvalidInput for anything else."""
    parts = PurePosixPath(key.removeprefix("s3://")).parts
    tail = parts[-4:] if len(parts) >= 4 else ()
    name = tail[3].split(".")[0] if tail else ""
    index, _, attempt = name.partition("-")
    if not tail or tail[0] + "/" != UPLOADS_PREFIX or not index.isdigit():
        raise InvalidInput("images", "is not an image placard made", key)
    if attempt and not attempt.isdigit():
        raise InvalidInput("images", "is not an image placard made", key)
    return tail[1], tail[2], int(index), int(attempt or 1)


def derivative_key(original: str, kind: str, extension: str = "webp") -> str:
    """The key of an original's derivative ("web" or "thumb"), as image_key names it."""
    folder, _, name = original.rpartition("/")
    return f"{folder}/{name.split('.')[0]}.{kind}.{extension}"


# --------------------------------------------------------------------------- DynamoDB


def campaign_pk(campaign: str) -> str:
    return f"CAMPAIGN#{campaign}"


def image_sk(job_id: str, index: int, attempt: int = 1) -> str:
    """The first attempt keeps the plain key; a re-roll's sorts right after it."""
    again = f"#{attempt:02d}" if attempt > 1 else ""
    return f"{IMAGES_PREFIX}{job_id}#{index:02d}{again}"


def lost_image_sk(job_id: str, index: int, attempt: int, reserved_at: str) -> str:
    """Beside the campaign's images (its costs count it once settled), outside its job's
    prefix (no image of the job): one per call set aside, named by when it was reserved, so it
    is written once."""
    return f"{IMAGES_PREFIX}LOST#{job_id}#{index:02d}#{attempt:02d}#{reserved_at}"


def job_images_prefix(job_id: str) -> str:
    """The sort keys of every image of one job begin with this."""
    return f"{IMAGES_PREFIX}{job_id}#"


def job_lost_prefix(job_id: str) -> str:
    """The sort keys of one job's lost calls (lost_image_sk) begin with this."""
    return f"{IMAGES_PREFIX}LOST#{job_id}#"


def budget_key(campaign: str) -> dict[str, str]:
    """Beside the campaign's images, so one query reads both."""
    return {"pk": campaign_pk(campaign), "sk": BUDGET_SK}


def kept_job_key(campaign: str, job_id: str) -> dict[str, str]:
    """The job as first run, beside its campaign's images: a re-roll asked for later is made
    from it. A DynamoDB item, not an S3 object: a write is an eighth of a PUT's price."""
    return {"pk": campaign_pk(campaign), "sk": f"{KEPT_JOB_PREFIX}{job_id}"}


def run_key(campaign: str, sheet: str, run: str) -> dict[str, str]:
    """The progress of one upload (`run`, the S3 event's sequencer) of a sheet."""
    return {"pk": campaign_pk(campaign), "sk": f"RUN#{sheet}#{run}"}


def run_job_key(campaign: str, sheet: str, run: str, job_id: str) -> dict[str, str]:
    """A job's end, counted against its upload once however often the job ends."""
    return {"pk": campaign_pk(campaign), "sk": f"RUN#{sheet}#{run}#JOB#{job_id}"}


# A campaign's counters are added to across this many items, each write to one of them, their
# sum the count: an item takes its writes one at a time, and each of a campaign's jobs writes
# the counters three times (started, charged, ended). At most 10: their keys sort as digits.
PROGRESS_SHARDS = 8


def progress_key(campaign: str, shard: int = 0) -> dict[str, str]:
    """One shard of a campaign's counters: queued, started, ended by status, spent
    (domain/progress.py); "PROGRESS#SUM", then "PROGRESS#SUM#1" and on. They sort after the
    minute buckets, so one query reads the recent ones and every shard together."""
    return {"pk": campaign_pk(campaign), "sk": "PROGRESS#SUM" + (f"#{shard}" if shard else "")}


def progress_minute_key(campaign: str, minute: str) -> dict[str, str]:
    """How many of the campaign's jobs ended in `minute` (UTC, YYYY-MM-DDTHH:MM)."""
    return {"pk": campaign_pk(campaign), "sk": f"PROGRESS#MIN#{minute}"}


def counters_checked_key() -> dict[str, str]:
    """Up to when the reconciler has recounted the counters of every campaign written before
    (domain/progress.py): its next scan looks only at what was written since."""
    return {"pk": "RECONCILE", "sk": "COUNTERS"}


def dead_letter_key(job_id: str, attempt: int) -> dict[str, str]:
    """A dead-lettered round of a job the reconciler has ended, beside the job's record."""
    return {"pk": f"JOB#{job_id}", "sk": f"DEAD#{attempt:02d}"}


def dead_run_key(queue: str, campaign: str, sheet: str, run: str) -> dict[str, str]:
    """An upload's dead letter from `queue` ("ingest", "reports") the reconciler has acted on,
    beside the upload's count."""
    return {"pk": campaign_pk(campaign), "sk": f"DEAD#{queue}#{sheet}#{run}"}


def job_record_key(job_id: str) -> dict[str, str]:
    """Found by the job's id alone: the API's status call knows nothing else."""
    return {"pk": f"JOB#{job_id}", "sk": "JOB"}


def signature_id(digest: str) -> str:
    """The idempotency table's id of a used signature (its sha256, never the signature)."""
    return f"signature#{digest}"
