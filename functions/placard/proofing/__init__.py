"""Reading an image's words back and judging them against the copy (docs/design.md §7).

Its own function carries the OCR engine; nothing else imports it."""
