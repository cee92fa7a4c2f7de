/**
 * Validation whose cost and message stay bounded whatever the input. valibot
 * records one issue object per problem, and `summarize` joins them all: an
 * `arguments` array of 2 million integers (a 4 MB body) made 2 million issues
 * and a 160 MB message, and took the server from 49 MB to 3.3 GB. Here a
 * failed input is described by its first few issues and a count of the rest,
 * each issue's text cut short; an input too large to describe in full stops at
 * its first problem, so its issues are never all built.
 */
import * as v from 'valibot';
import { countValues } from '../util/json-measure.ts';
import { pairSafeEnd } from '../util/utf16.ts';

/** Issues listed in a message; the rest are counted. */
export const LISTED_ISSUES = 5;
/** Characters kept of one issue's text, and of its path. */
const ISSUE_CHARS = 200;
const PATH_CHARS = 100;
/**
 * Inputs with more values than this are validated only up to their first
 * problem. Far above any real tool call (an argv is at most 4096 strings), and
 * low enough that a full pass over a failing input builds a few MB of issues.
 */
export const FULL_PASS_VALUES = 10_000;

const FIRST_PROBLEM = { abortEarly: true } as const;

export type Checked<T> = { success: true; output: T } | { success: false; message: string };

/** A value's dot path as a message shows it: cut, as an issue's path is (a name may be megabytes long). */
export function shownPath(path: string): string {
  return bounded(path, PATH_CHARS);
}

/** Cuts `text` to `max` characters without splitting a surrogate pair, and shows control characters as escapes. */
function bounded(text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, pairSafeEnd(text, max))}…` : text;
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * One issue as `× message → at path`, bounded. Under a `quiet` name (an
 * argument the audit log never keeps, such as a file's content) the value
 * received is left out of the message: it would reach the log through it.
 */
export function describeIssue(issue: v.BaseIssue<unknown>, quiet: readonly string[] = []): string {
  const path = v.getDotPath(issue);
  const root = issue.path?.[0]?.key;
  // valibot ends its own messages with what it received; a custom message names none.
  const at = typeof root === 'string' && quiet.includes(root) && issue.received !== '' ? issue.message.lastIndexOf(issue.received) : -1;
  const message = at < 0 ? issue.message : `${issue.message.slice(0, at)}(a value not shown)${issue.message.slice(at + issue.received.length)}`;
  return `× ${bounded(message, ISSUE_CHARS)}${path ? ` → at ${bounded(path, PATH_CHARS)}` : ''}`;
}

/** The first LISTED_ISSUES issues and a count of the rest. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[], quiet: readonly string[] = []): string {
  const listed = issues
    .slice(0, LISTED_ISSUES)
    .map((issue) => describeIssue(issue, quiet))
    .join('; ');
  const rest = issues.length - LISTED_ISSUES;
  return rest > 0 ? `${listed}; and ${rest} more issue${rest === 1 ? '' : 's'}` : listed;
}

/**
 * Validates `input`; on failure returns a message of bounded size. The first
 * pass stops at the first problem, so a valid input costs one ordinary pass.
 * Values under the `quiet` names of an object input are never quoted.
 */
export function checkBounded<TSchema extends v.GenericSchema>(schema: TSchema, input: unknown, quiet: readonly string[] = []): Checked<v.InferOutput<TSchema>> {
  const quick = v.safeParse(schema, input, FIRST_PROBLEM);
  if (quick.success) return { success: true, output: quick.output };
  if (countValues(input, FULL_PASS_VALUES) > FULL_PASS_VALUES) {
    return {
      success: false,
      message: `${describeIssues(quick.issues, quiet)} (validation stopped at the first problem: the input holds more than ${FULL_PASS_VALUES} values)`,
    };
  }
  const full = v.safeParse(schema, input);
  return { success: false, message: describeIssues(full.issues ?? quick.issues, quiet) };
}

/**
 * Where `value` holds a string (or an object key) that is not well-formed
 * Unicode, as a dot path (`arguments.4`; '' for the value itself), or null.
 * A lone surrogate has no UTF-8 form: what a command or a file name gets is
 * U+FFFD in its place, so thousands of different texts would run as one.
 */
export function illFormedAt(value: unknown): string | null {
  if (typeof value === 'string') return value.isWellFormed() ? null : '';
  if (value === null || typeof value !== 'object') return null;
  // Depth first, one frame per open container, the path built only for what is found: a path string per value cost
  // a 4 MiB body of two million numbers 3.7 s of the event loop.
  const stack: IllFormedFrame[] = [frameOf(value)];
  const pathTo = () => stack.map((f) => (f.keys === null ? String(f.next - 1) : f.keys[f.next - 1]!)).join('.');
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const { container, keys } = frame;
    const length = keys === null ? (container as unknown[]).length : keys.length;
    let opened = false;
    while (frame.next < length && !opened) {
      const at = frame.next++;
      let x: unknown;
      if (keys === null) x = (container as unknown[])[at];
      else {
        const key = keys[at]!;
        if (!key.isWellFormed()) return pathTo();
        x = (container as Record<string, unknown>)[key];
      }
      if (typeof x === 'string') {
        if (!x.isWellFormed()) return pathTo();
      } else if (x !== null && typeof x === 'object') {
        stack.push(frameOf(x));
        opened = true;
      }
    }
    if (!opened) stack.pop();
  }
  return null;
}

/** An array or object being walked by illFormedAt: its keys (null for an array) and the index of the next one. */
interface IllFormedFrame {
  container: object;
  keys: string[] | null;
  next: number;
}

const frameOf = (x: object): IllFormedFrame => ({ container: x, keys: Array.isArray(x) ? null : Object.keys(x), next: 0 });
