/**
 * What a correlation id may be: a short token of visible ASCII, because it is
 * echoed in a response header and written to the audit log and log lines.
 * Here, below every layer that states it: the tools advertise it in their
 * input schemas, mcp/correlation.ts applies it where ids enter.
 */

export const CORRELATION_ID_PATTERN = /^[A-Za-z0-9._:/@+=-]{1,128}$/;

/** The rule in words, for error messages and documentation. */
export const CORRELATION_ID_RULE = '1-128 characters from A-Z a-z 0-9 . _ : / @ + = -';
