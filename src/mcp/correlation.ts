/**
 * The one rule for correlation ids, applied where they enter: the
 * X-Correlation-ID request header (HTTP) and a tool's `correlationId`
 * argument (HTTP and stdio). An id is echoed in a response header and written
 * to the audit log and log lines, so it must be a short token of visible
 * ASCII: CR/LF, NUL, characters above U+00FF or a lone surrogate make the
 * header invalid (the runtime then fails the whole response), and ESC or other
 * controls would reach whoever reads the logs in a terminal.
 *
 * A bad argument is refused (the caller chose it and can fix it); a bad header
 * is replaced by a new id, because proxies and gateways set that header in
 * formats of their own, and refusing those would refuse every call behind them.
 */

import { CORRELATION_ID_PATTERN as PATTERN, CORRELATION_ID_RULE } from '../core/correlation-id.ts';

export { CORRELATION_ID_RULE };

export function isCorrelationId(value: unknown): value is string {
  return typeof value === 'string' && PATTERN.test(value);
}

export function newCorrelationId(): string {
  return crypto.randomUUID();
}

/** The client's X-Correlation-ID when it follows the rule, else a new id. */
export function correlationIdFromHeader(header: string | null): string {
  return header !== null && PATTERN.test(header) ? header : newCorrelationId();
}

/**
 * Why a `correlationId` argument is refused, or null when it is absent or
 * valid. Describes the value by type and size only: echoing it back would put
 * the very characters we refuse into the error message.
 */
export function correlationIdProblem(value: unknown): string | null {
  if (value === undefined || isCorrelationId(value)) return null;
  const got =
    typeof value === 'string'
      ? `a string of ${value.length} character${value.length === 1 ? '' : 's'}${value.length > 0 && value.length <= 128 ? ' with characters outside that set' : ''}`
      : value === null
        ? 'null'
        : Array.isArray(value)
          ? 'an array'
          : `a ${typeof value}`;
  return `correlationId must be ${CORRELATION_ID_RULE}; got ${got}`;
}
