/**
 * Characters no client id may hold, whoever names the client (a keys file,
 * an OAuth `sub`): control and format characters (zero-width spaces, bidi
 * overrides, soft hyphens, tags, BOM), lone surrogates, and line and
 * paragraph separators. A client id is shown in logs, the audit log and
 * `hide keys list`; with one of these it breaks or reorders the line it is on,
 * or looks like another client already there (`alice` and `alice` with a
 * zero-width space).
 */
export const UNSEEN_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
