"""Every pixel placard touches: edits (source, mask, composite) and derivatives."""
