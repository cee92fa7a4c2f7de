/**
 * `hide audit verify FILE…` checks the hash chain, file starts and
 * checkpoints across files given oldest first and names the first problem;
 * `hide audit query` prints the events matching a correlation id, client id,
 * event type, start time and/or arguments (by their keyed digest), from the
 * files given or the configured log with its rotated files.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { ArgumentsDigest } from '../audit/arguments-digest.ts';
import { AUDIT_EVENT_TYPES } from '../audit/event.ts';
import { readLines } from '../audit/lines.ts';
import { verifyFiles } from '../audit/verify.ts';
import { rotatedNames } from '../audit/rotation.ts';
import type { Config } from '../config/schema.ts';
import { inertJson } from '../core/inert-text.ts';
import { loadForCommand, parseArgsOnce, UsageError } from './common.ts';

export const AUDIT_USAGE = `Usage:
  hide audit verify [--live] FILE...
      Checks the hash chain, each file's first line and its checkpoint (FILE.head); give rotated files
      oldest first (e.g. audit.jsonl.2 audit.jsonl.1 audit.jsonl). Exit 0 when intact, with a line per file;
      1 naming the first problem as FILE:LINE: KIND: head-cut, tail-cut, emptied, edited, inserted,
      deleted, rotation-gap, replaced, malformed, unsealed (lines after the last the checkpoint records;
      --live accepts them in the last file, which a running server may be between a batch and its
      checkpoint in). A torn line (a write cut short by a crash or a full disk, the chain going on from the
      line before it) is named as KIND torn, lines a server took in after its checkpoint (a crash between a
      batch and its checkpoint, or lines added since) as KIND adopted, and a server's record that lines it
      had recorded went missing as KIND lines-lost, exit 1 too, and the check goes on past them to name
      the next problem, if any.
  hide audit query [--correlation-id X] [--client-id Y] [--event-type T] [--since TIME]
                   [--arguments JSON | --arguments-file FILE] [--file F]... [--config FILE]
      Prints matching events as JSON lines, oldest first. TIME is ISO 8601 or a duration ago (30m, 2h, 7d).
      JSON: a tool call's arguments, in any key order, less names the tool does not know and write_file's content,
      edit_file's edits, process_write's input (correlationId and user are labels: ignored); matched by the lines'
      arguments_hmac, which needs the HIDE_AUDIT_ARGUMENTS_KEY the server wrote them with. --arguments-file reads
      it from FILE (- for stdin).
      Without --file: the configured HIDE_AUDIT_LOG_FILE and its rotated files.`;

const DURATION = /^(\d+)([smhd])$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** ISO 8601 or "<n><s|m|h|d>" ago → epoch ms. */
export function parseSince(text: string, now = Date.now()): number {
  const d = DURATION.exec(text.trim());
  if (d) return now - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS];
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--since: expected an ISO 8601 time or a duration like 30m, 2h, 7d; got '${text}'`);
  return t;
}

/** A file given to read whole: it must be a regular file (a FIFO with no writer would block for ever, a device never end). */
function checkReadable(command: string, file: string): void {
  if (!existsSync(file)) throw new UsageError(`audit ${command}: no such file: ${file}`);
  if (!statSync(file).isFile()) throw new UsageError(`audit ${command}: ${file} is not a regular file`);
}

/** `name` and its rotation number (`audit.jsonl.3` → 3; the live file → 0), when it has one. */
function rotationOf(file: string): { base: string; n: number } {
  // Up to 4 digits: what this writer makes (HIDE_AUDIT_LOG_KEEP <= 1000); a dated suffix (logrotate dateext) counts the other way.
  const m = /^(.*)\.(\d{1,4})$/.exec(file);
  return m ? { base: m[1]!, n: Number(m[2]) } : { base: file, n: 0 };
}

/**
 * Files given twice, or rotated files of one log out of order, would be
 * reported as tampering (an inserted copy, a gap): they are usage errors.
 */
function checkOrder(files: string[]): void {
  const seen = new Map<string, string>();
  for (const f of files) {
    const real = realpathSync(f);
    const earlier = seen.get(real);
    if (earlier !== undefined) throw new UsageError(`audit verify: ${f} is given twice${earlier !== f ? ` (as ${earlier})` : ''}`);
    seen.set(real, f);
  }
  for (let i = 0; i < files.length; i++) {
    for (let j = i + 1; j < files.length; j++) {
      const a = rotationOf(files[i]!);
      const b = rotationOf(files[j]!);
      if (a.base === b.base && a.n < b.n) {
        throw new UsageError(`audit verify: give rotated files oldest first: ${files[j]} before ${files[i]}`);
      }
    }
  }
}

function verify(argv: string[]): number {
  const live = argv.includes('--live');
  const files = argv.filter((a) => a !== '--live');
  if (files.length === 0) throw new UsageError(`audit verify needs at least one file\n\n${AUDIT_USAGE}`);
  for (const f of files) checkReadable('verify', f);
  checkOrder(files);
  const r = verifyFiles(files, { live });
  if (r.ok) {
    process.stdout.write(`${r.notes.join('\n')}\nok: ${r.lines} lines in ${r.files} file(s), hash chain intact\n`);
    return 0;
  }
  const found = [r.problem, ...(r.more ?? [])];
  const text = found.map((p) => `${p.file}:${p.line}: ${p.kind}: ${p.message}\n`).join('');
  // The check stops at any problem but a torn line, lines taken in or lines a server recorded lost: found only
  // those, it read every line.
  const goneOn = found.every((p) => p.kind === 'torn' || p.kind === 'adopted' || p.kind === 'lines-lost');
  const count = (kind: string) => found.filter((p) => p.kind === kind).length;
  const apart = [
    [count('torn'), 'torn line(s)'],
    [count('adopted'), 'run(s) of lines taken in'],
    [count('lines-lost'), 'record(s) of lines lost'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${n} ${what}`)
    .join(' and ');
  process.stdout.write(goneOn ? `${text}no other problem: apart from ${apart}, the hash chain is intact\n` : text);
  return 1;
}

async function query(argv: string[]): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    values = parseArgsOnce({
      args: argv,
      options: {
        'correlation-id': { type: 'string' },
        'client-id': { type: 'string' },
        'event-type': { type: 'string' },
        since: { type: 'string' },
        arguments: { type: 'string' },
        'arguments-file': { type: 'string' },
        file: { type: 'string', multiple: true },
        config: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${AUDIT_USAGE}`);
  }
  let files = (values.file as string[] | undefined) ?? [];
  // Read only when needed: with --file alone a query works without the server's settings.
  let config: Config | undefined;
  const settings = () => (config ??= loadForCommand({ config: values.config as string | undefined }).config);
  const argumentsText = argumentsGiven(values.arguments as string | undefined, values['arguments-file'] as string | undefined);
  const argumentsHmac = argumentsText === undefined ? undefined : digestOf(argumentsText, settings().audit.argumentsKey);
  if (files.length === 0) {
    const { audit } = settings();
    if (audit.file === '-') throw new UsageError('the audit log goes to a standard stream (HIDE_AUDIT_LOG_FILE=-); give --file');
    files = [...rotatedNames(audit.file, audit.keep).reverse(), audit.file].filter((f) => existsSync(f));
  }
  const since = typeof values.since === 'string' ? parseSince(values.since) : null;
  const want = { correlation_id: values['correlation-id'], client_id: values['client-id'], event_type: values['event-type'] };
  // A filter no line can match would answer "nothing", which reads as "it did not happen".
  for (const flag of ['correlation-id', 'client-id', 'event-type'] as const) {
    if (values[flag] === '') throw new UsageError(`--${flag} must not be empty`);
  }
  if (want.event_type !== undefined && !(AUDIT_EVENT_TYPES as readonly unknown[]).includes(want.event_type)) {
    throw new UsageError(`--event-type: expected one of ${AUDIT_EVENT_TYPES.join(', ')}; got '${want.event_type}'`);
  }
  for (const f of files) checkReadable('query', f);
  const out = new OutputBuffer();
  // Lines the digest could be looked for in: none at all means a log written without a key, not "no such call".
  let digested = 0;
  for (const f of files) {
    for (const { text } of readLines(f)) {
      // An empty line, or one longer than any record the writer makes.
      if (!text) continue;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue; // a torn line; `audit verify` reports it
      }
      if (typeof e.arguments_hmac === 'string') digested++;
      if (want.correlation_id !== undefined && e.correlation_id !== want.correlation_id) continue;
      if (want.client_id !== undefined && e.client_id !== want.client_id) continue;
      if (want.event_type !== undefined && e.event_type !== want.event_type) continue;
      if (since !== null && !(typeof e.timestamp === 'string' && Date.parse(e.timestamp) >= since)) continue;
      if (argumentsHmac !== undefined && e.arguments_hmac !== argumentsHmac) continue;
      // The same JSON with what a terminal acts on escaped: what is printed is what a parser reads.
      await out.write(`${inertJson(text)}\n`);
      if (out.closed) return 0;
    }
  }
  await out.flush();
  if (argumentsHmac !== undefined && digested === 0) {
    process.stderr.write('no line read carries arguments_hmac: the server wrote them without HIDE_AUDIT_ARGUMENTS_KEY, so --arguments cannot match any\n');
  }
  return 0;
}

/** The arguments to look for, from --arguments or --arguments-file (a call's arguments can be larger than one argv entry may be). */
function argumentsGiven(inline: string | undefined, file: string | undefined): string | undefined {
  if (inline !== undefined && file !== undefined) throw new UsageError('give --arguments or --arguments-file, not both');
  if (file === undefined) return inline;
  if (file === '-') return readFileSync(0, 'utf8');
  checkReadable('query', file);
  return readFileSync(file, 'utf8');
}

/** The `arguments_hmac` a call with these arguments got, under the configured key. */
function digestOf(text: string, key: string | undefined): string {
  if (key === undefined) {
    throw new UsageError('--arguments needs the key the server wrote the log with: set HIDE_AUDIT_ARGUMENTS_KEY (or audit.argumentsKey in --config FILE)');
  }
  let args: unknown;
  try {
    args = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--arguments: not JSON (${(err as Error).message})`);
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new UsageError('--arguments: expected a JSON object, the arguments of a tool call');
  // The labels the server leaves out, so arguments copied whole from a request still match.
  const { correlationId: _label, user: _user, ...action } = args as Record<string, unknown>;
  return new ArgumentsDigest(key).of(action);
}

/**
 * Matching lines go to stdout in blocks as they are found, so a query over a
 * large log holds neither the log nor its answer; a reader slower than the
 * search holds the search back (drain) instead of the output piling up.
 */
class OutputBuffer {
  private parts: string[] = [];
  private size = 0;
  /** The reader went away (`hide audit query | head`): the query stops there, which is no failure. */
  closed = false;
  private failure: Error | null = null;

  constructor() {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true;
      else this.failure ??= err;
    });
  }

  async write(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 256 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.parts.length === 0 || this.closed) return;
    const block = this.parts.join('');
    this.parts = [];
    this.size = 0;
    if (process.stdout.write(block)) return;
    // Drained, or the pipe closed (its error is recorded by the listener above).
    await new Promise<void>((resolve) => {
      const done = () => {
        process.stdout.off('drain', done);
        process.stdout.off('error', done);
        resolve();
      };
      process.stdout.on('drain', done);
      process.stdout.on('error', done);
    });
    if (this.failure) throw this.failure;
  }
}

export async function runAudit(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(`${AUDIT_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${AUDIT_USAGE}\n`);
    return 0;
  }
  if (sub === 'verify') return verify(rest);
  if (sub === 'query') return query(rest);
  throw new UsageError(`unknown audit subcommand '${sub}'\n\n${AUDIT_USAGE}`);
}
