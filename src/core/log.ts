/**
 * The one root logger (consola). Everything goes to stderr so that stdout can
 * carry MCP messages in stdio mode and nothing else. Two formats: consola's
 * readable one for terminals, and one JSON object per line for collectors.
 * Every line passes the redactor, so configured keys never reach a log.
 */
import { type ConsolaInstance, type ConsolaReporter, createConsola, LogLevels } from 'consola/core';
import { inertJson, inertText } from './inert-text.ts';

export type LogFormat = 'pretty' | 'json';
export type LogLevelName = 'silent' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

let redactText: (s: string) => string = (s) => s;

/** Installs the redactor once the server's secrets are known. */
export function setLogRedactor(fn: (s: string) => string): void {
  redactText = fn;
}

function formatArg(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg instanceof Error) return arg.message;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}

/**
 * Writes a log line to stderr. A stderr whose reader is gone (a client that
 * closed it, a log collector that died) fails the write with EPIPE: logging
 * then stops, and the server goes on serving (uncaught, the error ended it
 * with exit status 1 and a crash report written to the same dead pipe).
 */
let stderrGone = false;
function writeLine(line: string): void {
  if (stderrGone) return;
  try {
    process.stderr.write(line);
  } catch {
    stderrGone = true;
  }
}
process.stderr.on('error', () => {
  stderrGone = true;
});

const jsonReporter: ConsolaReporter = {
  log(entry) {
    const line = {
      time: entry.date.toISOString(),
      level: entry.type,
      ...(entry.tag ? { tag: entry.tag } : {}),
      msg: redactText(entry.args.map(formatArg).join(' ')),
    };
    // Client text (a header, a path) reaches these lines: nothing in them may act on a terminal that shows them.
    writeLine(`${inertJson(JSON.stringify(line))}\n`);
  },
};

const prettyReporter: ConsolaReporter = {
  log(entry) {
    const tag = entry.tag ? ` [${entry.tag}]` : '';
    const time = entry.date.toISOString().slice(11, 23);
    const type = entry.type.toUpperCase().padEnd(5);
    writeLine(`${time} ${type}${tag} ${inertText(redactText(entry.args.map(formatArg).join(' ')))}\n`);
  },
};

const LEVELS: Record<LogLevelName, number> = {
  silent: LogLevels.silent,
  error: LogLevels.error,
  warn: LogLevels.warn,
  info: LogLevels.info,
  debug: LogLevels.debug,
  trace: LogLevels.trace,
};

export let logger: ConsolaInstance = createConsola({
  level: LEVELS.info,
  reporters: [jsonReporter],
  throttle: 0,
});

export function configureLogger(opts: { level: LogLevelName; format: LogFormat }): ConsolaInstance {
  logger = createConsola({
    level: LEVELS[opts.level],
    reporters: [opts.format === 'json' ? jsonReporter : prettyReporter],
    // consola folds identical lines by default; security warnings must each appear.
    throttle: 0,
  });
  return logger;
}
