"""Spreadsheets: CSV and XLSX read, rows turned into jobs or row errors, number formats."""
