"""An upload's reports: results.csv and errors.csv, and the contact sheet."""
