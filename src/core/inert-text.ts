/**
 * Text from clients shown where a terminal may render it (the logs on
 * stderr, `hide audit query`'s output), made inert: every character a
 * terminal acts on or that reorders what is shown is written as a \uXXXX
 * escape — C0 controls (a newline would start a forged log line), DEL, the
 * C1 controls (U+009B is CSI to many terminals), the bidirectional marks,
 * overrides and isolates (a line shown in another order than it reads), line and
 * paragraph separators. In a JSON string the escapes parse back to the same
 * text, so a collector reads what was sent.
 */
const C0 = /[\u0000-\u001f]/g;
const INERT = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A JSON text with the characters JSON.stringify leaves raw (all but C0) escaped: the same JSON, inert on a terminal. */
export function inertJson(json: string): string {
  return json.replace(INERT, escape);
}

/** Plain text with every such character, C0 included, escaped. */
export function inertText(text: string): string {
  return text.replace(C0, escape).replace(INERT, escape);
}
