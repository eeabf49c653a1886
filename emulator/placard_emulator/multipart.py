"""multipart/form-data, as the OpenAI edits endpoint receives it (RFC 7578)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

from placard_emulator.errors import invalid
from placard_emulator.images import image_summary

FILE_FIELDS = frozenset({"image", "image[]", "mask"})


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Split a multipart/form-data body into its parts."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise invalid(None, "Invalid multipart body: missing boundary.", None)
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    parts: list[Part] = []
    header_parser = BytesHeaderParser()
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise invalid(None, "Invalid multipart body: a part has no header block.", None)
        headers = header_parser.parsebytes(head.lstrip(b" \t").removeprefix(b"\r\n") + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_filename()
        parts.append(
            Part(
                name=name if isinstance(name, str) else "",
                filename=filename or None,
                content_type=headers.get("content-type"),
                data=data,
            )
        )
    if not closed:
        raise invalid(None, "Invalid multipart body: missing closing boundary.", None)
    return parts


def part_summary(part: Part) -> dict[str, object]:
    """What the request log keeps of a part: a field's value, or a file's size and shape."""
    summary: dict[str, object] = {
        "name": part.name,
        "filename": part.filename,
        "content_type": part.content_type,
        "size": len(part.data),
    }
    if part.filename is None and part.name not in FILE_FIELDS:
        summary["value"] = part.data.decode("utf-8", "replace")
    else:
        summary.update(image_summary(part.data))
    return summary
