/**
 * The checkpoint of the live audit log (`<file>.head`): how many lines the
 * file holds, its first and last hash and its size, rewritten in place after
 * every batch so `hide audit verify` can tell a cut tail from a whole file.
 */
import { constants, fstatSync, readSync, writeSync } from 'node:fs';
import { openRegularFileSync } from '../util/open-regular-file.ts';
import { type Checkpoint, chainHash, checkpointPath, encodeCheckpoint, hashOf, readCheckpoint, scanFile } from './chain.ts';
import { closeQuietly } from '../util/close-quietly.ts';
import { MAX_LINE_BYTES } from './sealed-line.ts';

/** Whole lines after the ones a checkpoint recorded, each chained on from the one before, that a writer took in. */
export interface AdoptedLines {
  lines: number;
  recordedLines: number;
  recordedBytes: number;
}

/** What a checkpoint recorded of a file that no longer holds it, and what the file holds now. */
export interface LostLines {
  lines: number;
  bytes: number;
  /** The last recorded line's hash: the next line chains on from it. */
  lastHash: string | null;
  linesNow: number;
  bytesNow: number;
}

export class LiveCheckpoint {
  /** What the checkpoint says about the file on disk; null when the chain is off or the log is stdout. */
  private checkpoint: Checkpoint | null = null;
  /** The open checkpoint file of the live log: rewritten in place after every batch. */
  private fd: number | null = null;

  /**
   * @param report a failed checkpoint write: a write failure of the log.
   * @param warn trouble that is no write failure (a file cut while the server was down).
   */
  constructor(
    private readonly file: string,
    private readonly report: (err: Error) => void,
    private readonly warn: (err: Error) => void,
  ) {}

  /**
   * Learns the file's line count and end hashes (from the old checkpoint when
   * it still describes the file, else by reading the file) and writes the
   * checkpoint. A file that no longer holds the lines the old checkpoint
   * recorded (cut, emptied or rewritten, while the server was down or while it
   * runs) is reported before the evidence is replaced, and the last recorded
   * line's hash is returned: the next line chains on from it, not from the
   * file's new end, so `hide audit verify` still shows where lines went. Lines
   * another writer appended leave the recorded ones in place.
   * @param size the file's size now.
   * @param lastText its last whole line, null when it has none.
   * @param partialText a last line without its newline, null when there is none.
   * @returns `lost`: what the checkpoint recorded when the file lost recorded lines (the next line chains on from its
   * last hash), else null; `adopted`: lines after the recorded ones that it takes in, else null; `partialIsOurs`: whether the chain may go on from the last line without its newline (it is
   * the line the checkpoint ends with, or there is no checkpoint to say).
   */
  take(
    size: number,
    lastText: string | null,
    starting: boolean,
    partialText: string | null = null,
    sameFile = false,
  ): { lost: LostLines | null; adopted: AdoptedLines | null; partialIsOurs: boolean } {
    const onDisk = readCheckpoint(this.file);
    // The file this server has been writing, whose checkpoint it wrote last: one removed or spoiled since (a byte
    // written over it) would otherwise leave a cut made with it unsaid. What the server recorded in memory stands in,
    // and the checkpoint is written again by name. One that reads well is taken as it is: another hide server writing
    // the same log rewrites it.
    const spoiled = sameFile && this.checkpoint !== null && this.checkpoint.bytes > 0 && (onDisk === null || onDisk === 'unreadable');
    const old = spoiled ? this.checkpoint : onDisk;
    if (spoiled) {
      this.warn(
        new Error(
          `${checkpointPath(this.file)} was ${onDisk === null ? 'removed' : 'overwritten with something unreadable'} while the server ran; ` +
            'the file is checked against what the server last recorded, and the checkpoint written again',
        ),
      );
      this.dropFd();
    }
    const lastHash = hashOf(lastText);
    let cp: Checkpoint;
    if (size === 0) cp = { lines: 0, first_hash: null, last_hash: null, bytes: 0 };
    else if (old !== null && old !== 'unreadable' && old.bytes === size && old.last_hash === lastHash) cp = { ...old };
    else {
      const scan = scanFile(this.file, true);
      cp = { lines: scan.lines, first_hash: hashOf(scan.first), last_hash: lastHash, bytes: size };
    }
    const known = old !== null && old !== 'unreadable' && old.bytes > 0 && !(old.bytes === size && old.last_hash === lastHash);
    // Lines after the recorded end must chain on from it, each hashing as sealed: the recorded line alone at its place
    // could be put back there after a forged file was taken in (its lines counted no more than recorded, so no warning).
    const appended = known && holdsRecordedEnd(this.file, size, old) ? chainedAfter(this.file, old.bytes, size, old.last_hash) : -1;
    // The recorded end without its last newline (a crash of the disk's, not a writer's, can leave that): nothing the
    // checkpoint recorded is gone, and the writer completes the line.
    const onlyNewlineLost = known && partialText !== null && size === old.bytes - 1 && hashOf(partialText) === old.last_hash;
    const lost = known && appended < 0 && !onlyNewlineLost;
    const recorded = old !== null && old !== 'unreadable' && old.bytes > 0;
    // A line without its newline after the recorded ones is no line any writer recorded: a write cut short (a crash,
    // a full disk), or text added since, a whole forged record among them. It is not chained on from; it is said.
    if (recorded && !lost && !onlyNewlineLost && partialText !== null && size > old.bytes) {
      this.warn(
        new Error(
          `${this.file} ends in ${Buffer.byteLength(partialText)} byte(s) without a newline after the ${old.lines} line(s) its checkpoint records: ` +
            'a write cut short (a crash, a full disk), or text added since. The next line starts a fresh line and chains on from the last whole one, ' +
            'so `hide audit verify` names it',
        ),
      );
    }
    if (lost) {
      this.warn(
        new Error(
          `${this.file} no longer holds the lines its checkpoint records (${old.lines} lines, ${old.bytes} bytes, last hash ${old.last_hash?.slice(0, 12) ?? 'none'}; ` +
            `now ${cp.lines} lines, ${size} bytes): lines were cut or rewritten ${starting ? 'while the server was down' : 'while the server ran, by something other than a hide server'}. ` +
            'The next line chains on from the last recorded one, so `hide audit verify` shows the gap',
        ),
      );
    }
    // Lines beyond what any writer recorded: a batch whose server was killed before its checkpoint, or lines added by
    // hand. Sealing them under the new checkpoint would leave `verify` nothing to name, so it is said now.
    if (known && appended > 0) {
      this.warn(
        new Error(
          `${this.file} holds ${appended} line(s) after the ${old.lines} its checkpoint records (${old.bytes} bytes), which no writer recorded: ` +
            'a server killed between writing them and its checkpoint, or lines added since. They are taken into the checkpoint now, ' +
            'after a line that records it, which `hide audit verify` names; a copy of the .head file kept elsewhere, or the lines shipped off the host, tells which',
        ),
      );
    }
    this.checkpoint = cp;
    this.save();
    return {
      lost: lost ? { lines: old.lines, bytes: old.bytes, lastHash: old.last_hash, linesNow: cp.lines, bytesNow: size } : null,
      adopted: known && appended > 0 ? { lines: appended, recordedLines: old.lines, recordedBytes: old.bytes } : null,
      partialIsOurs: !recorded || onlyNewlineLost,
    };
  }

  /** `lines` whole lines were appended (the first and last hash given), and the file is now `size` bytes. */
  appended(lines: number, firstHash: string | null, lastHash: string | null, size: number): void {
    const cp = this.checkpoint;
    if (cp === null) return;
    cp.lines += lines;
    cp.first_hash ??= firstHash;
    cp.last_hash = lastHash;
    cp.bytes = size;
    this.save();
  }

  /** Someone else (copytruncate) emptied the file. */
  emptied(): void {
    if (this.checkpoint === null) return;
    this.checkpoint = { lines: 0, first_hash: null, last_hash: null, bytes: 0 };
    this.save();
  }

  /**
   * Rewrites the checkpoint in place with one positioned write of a
   * fixed-size record: a rename per batch cost ~80 µs on the event loop, a
   * pwrite well under 1 µs. A write torn by a crash shows as an unreadable
   * checkpoint, which verify reports.
   */
  private save(): void {
    if (this.checkpoint === null) return;
    try {
      // Removed while held: writes to the descriptor would reach no name, and leave verify no checkpoint to check.
      if (this.fd !== null && fstatSync(this.fd).nlink === 0) {
        this.dropFd();
        this.warn(new Error(`${checkpointPath(this.file)} was removed while the server ran; it is written again`));
      }
      this.fd ??= openRegularFileSync(checkpointPath(this.file), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
      const record = encodeCheckpoint(this.checkpoint);
      writeSync(this.fd, record, 0, record.length, 0);
    } catch (err) {
      this.report(err as Error);
    }
  }

  /** Before the checkpoint file is moved or the log reopened: the next save opens it by name again. */
  dropFd(): void {
    this.fd = closeQuietly(this.fd);
  }
}

/**
 * Whether the file, `size` bytes now, still ends the stretch the checkpoint
 * recorded where it recorded it: the line ending at byte `old.bytes` is the
 * one whose hash it names. Another writer only appends after it.
 */
function holdsRecordedEnd(file: string, size: number, old: Checkpoint): boolean {
  if (size < old.bytes) return false;
  // A line is at most MAX_LINE_BYTES, newline included: the one before it ends within that many bytes more.
  const length = Math.min(old.bytes, MAX_LINE_BYTES * 2);
  const buf = Buffer.alloc(length);
  let fd: number | null = null;
  try {
    fd = openRegularFileSync(file, constants.O_RDONLY);
    if (readSync(fd, buf, 0, length, old.bytes - length) !== length) return false;
  } catch {
    return false;
  } finally {
    closeQuietly(fd);
  }
  if (buf[length - 1] !== 0x0a) return false;
  const start = buf.lastIndexOf(0x0a, length - 2) + 1;
  return hashOf(buf.subarray(start, length - 1).toString('utf8')) === old.last_hash;
}

/** How much of the file is read at a time when lines after the checkpoint are checked. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * How many whole lines lie in the file between `from` and `to`, each chaining
 * on from the one before (the first from `prev`) and hashing as sealed; -1
 * when one does not. A last line with no newline (a write cut short) is left
 * for the writer, which goes on after it.
 */
function chainedAfter(file: string, from: number, to: number, prev: string | null): number {
  if (from >= to) return 0;
  if (prev === null) return -1;
  let fd: number | null = null;
  let lines = 0;
  let carry = Buffer.alloc(0);
  try {
    fd = openRegularFileSync(file, constants.O_RDONLY);
    const buf = Buffer.alloc(CHUNK_BYTES);
    for (let at = from; at < to; ) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK_BYTES, to - at), at);
      if (n === 0) return -1;
      at += n;
      let text = Buffer.concat([carry, buf.subarray(0, n)]);
      for (let nl = text.indexOf(0x0a); nl >= 0; nl = text.indexOf(0x0a)) {
        const hash = sealedAfter(text.subarray(0, nl).toString('utf8'), prev);
        if (hash === null) return -1;
        prev = hash;
        lines++;
        text = text.subarray(nl + 1);
      }
      // No line is longer than MAX_LINE_BYTES: more without a newline is not a line the writer wrote.
      if (text.length > MAX_LINE_BYTES) return -1;
      carry = Buffer.from(text);
    }
  } catch {
    return -1;
  } finally {
    closeQuietly(fd);
  }
  return lines;
}

/** The hash of `line` when it is a record chained on from `prev` and hashing as sealed, else null. */
function sealedAfter(line: string, prev: string): string | null {
  try {
    const { hash, ...rest } = JSON.parse(line) as Record<string, unknown>;
    return typeof hash === 'string' && rest.prev_hash === prev && chainHash(prev, rest) === hash ? hash : null;
  } catch {
    return null;
  }
}
