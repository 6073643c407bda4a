"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection").

A file name such as `=cmd|'/C calc'!A0.png` is a formula to Excel, LibreOffice and Google Sheets. Text that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading single quote, which spreadsheets
show as text and do not evaluate. Numbers and booleans are written as they are (a negative score stays a
number).
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """`value` made safe for a CSV cell: strings that could start a formula are prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
