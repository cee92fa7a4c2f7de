/**
 * Counters for /metrics, kept as plain numbers in Maps and rendered to the
 * Prometheus text format (0.0.4) only when scraped, so the request path pays
 * a Map update and nothing else. We write the format ourselves: it is a few
 * lines of text, and a library would add a dependency and per-call overhead
 * for no gain here. Label values come from bounded sets (known routes, tool
 * names from the registry, fixed reasons), so cardinality stays small.
 */
import type { AuditEvent } from '../audit/event.ts';
import { VERSION } from '../core/version.ts';

/** Upper bounds (seconds) of the tool-call duration buckets. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** A value read at scrape time (children alive, audit lines written, readiness). */
export interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value: () => number;
}

/**
 * The `reason` values of rate_limit_exceeded lines, each rendered even at 0:
 * the limiter's, the process caps' and the sandbox launchers' bound.
 */
const REFUSAL_REASONS = ['rpm', 'concurrency', 'store_unavailable', 'processes-per-client', 'processes-total', 'launchers', 'audit', 'token_checks', 'request_bodies'] as const;

const SEP = '\u0000';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(names: readonly string[], key: string): string {
  const values = key.split(SEP);
  return `{${names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`).join(',')}}`;
}

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly toolCalls = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();
  private readonly refusals = new Map<string, number>();
  private readonly denials = new Map<string, number>();
  private readonly collected: Collected[] = [];
  /** Tool calls admitted and not yet finished. */
  inFlight = 0;

  /** One HTTP response; `route` must come from a bounded set. */
  countRequest(route: string, status: number): void {
    bump(this.requests, route + SEP + status);
  }

  /** One finished tool call. */
  countToolCall(tool: string, outcome: 'ok' | 'error', seconds: number | null): void {
    bump(this.toolCalls, tool + SEP + outcome);
    if (seconds === null) return;
    let h = this.durations.get(tool);
    if (h === undefined) {
      h = { counts: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.durations.set(tool, h);
    }
    // Buckets are stored non-cumulative; render() accumulates.
    const i = DURATION_BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /**
   * Reads one audit event: tool calls, refusals and denials are all audited,
   * so the audit stream is the one place that sees every one of them.
   */
  observe(e: AuditEvent): void {
    switch (e.event_type) {
      case 'tool_call': {
        // The dispatcher times every call it takes, and the gate writes that time into `result`.
        const ms = (e.result as { durationMs?: unknown } | null)?.durationMs;
        this.countToolCall(e.tool_name ?? 'unknown', e.error === null ? 'ok' : 'error', typeof ms === 'number' ? ms / 1000 : null);
        return;
      }
      case 'rate_limit_exceeded': {
        const reason = (e.result as { reason?: unknown } | null)?.reason;
        bump(this.refusals, typeof reason === 'string' ? reason : 'unknown');
        return;
      }
      case 'auth_failure':
      case 'ip_denied':
      case 'origin_denied':
      case 'host_denied':
      case 'permission_denied':
      case 'request_refused':
        bump(this.denials, e.event_type);
        return;
      default:
        return;
    }
  }

  /** Adds a value read at scrape time. */
  collect(c: Collected): void {
    this.collected.push(c);
  }

  /** The whole exposition, Prometheus text format 0.0.4. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    family('hide_build_info', 'gauge', 'Build information; always 1.');
    out.push(`hide_build_info{version="${escapeLabel(VERSION)}"} 1`);

    family('hide_http_requests_total', 'counter', 'HTTP requests answered, by route and status.');
    for (const [k, n] of this.requests) out.push(`hide_http_requests_total${labels(['route', 'status'], k)} ${n}`);

    family('hide_tool_calls_total', 'counter', 'Finished tool calls, by tool and outcome (ok or error).');
    for (const [k, n] of this.toolCalls) out.push(`hide_tool_calls_total${labels(['tool', 'outcome'], k)} ${n}`);

    family('hide_tool_call_duration_seconds', 'histogram', 'Tool call duration in seconds, by tool.');
    for (const [tool, h] of this.durations) {
      const t = escapeLabel(tool);
      let acc = 0;
      DURATION_BUCKETS.forEach((b, i) => {
        acc += h.counts[i]!;
        out.push(`hide_tool_call_duration_seconds_bucket{tool="${t}",le="${b}"} ${acc}`);
      });
      out.push(`hide_tool_call_duration_seconds_bucket{tool="${t}",le="+Inf"} ${h.count}`);
      out.push(`hide_tool_call_duration_seconds_sum{tool="${t}"} ${h.sum}`);
      out.push(`hide_tool_call_duration_seconds_count{tool="${t}"} ${h.count}`);
    }

    family('hide_tool_calls_in_flight', 'gauge', 'Tool calls admitted and not yet answered: running, or their answer not yet taken by the client.');
    out.push(`hide_tool_calls_in_flight ${this.inFlight}`);

    family('hide_auth_failures_total', 'counter', 'Requests refused for a missing, wrong or disabled API key.');
    out.push(`hide_auth_failures_total ${this.denials.get('auth_failure') ?? 0}`);
    family('hide_ip_denials_total', 'counter', 'Requests refused by the client IP allowlist.');
    out.push(`hide_ip_denials_total ${this.denials.get('ip_denied') ?? 0}`);
    family('hide_origin_denials_total', 'counter', 'Requests refused for a disallowed Origin.');
    out.push(`hide_origin_denials_total ${this.denials.get('origin_denied') ?? 0}`);
    family('hide_host_denials_total', 'counter', 'Requests refused for a Host the server does not answer to.');
    out.push(`hide_host_denials_total ${this.denials.get('host_denied') ?? 0}`);
    family('hide_permission_denials_total', 'counter', 'Tool calls refused because the client may not call the tool.');
    out.push(`hide_permission_denials_total ${this.denials.get('permission_denied') ?? 0}`);
    family('hide_refused_calls_total', 'counter', 'Tool calls refused once their message was read, before they ran (malformed, headers disagreeing with the body, unknown tool).');
    out.push(`hide_refused_calls_total ${this.denials.get('request_refused') ?? 0}`);

    family('hide_rate_limit_refusals_total', 'counter', 'Requests refused by a limit, by reason (rpm, concurrency, store_unavailable, processes-per-client, processes-total, launchers, audit, token_checks, request_bodies).');
    for (const reason of REFUSAL_REASONS) {
      out.push(`hide_rate_limit_refusals_total{reason="${reason}"} ${this.refusals.get(reason) ?? 0}`);
    }

    for (const c of this.collected) {
      family(c.name, c.type, c.help);
      out.push(`${c.name} ${c.value()}`);
    }
    return `${out.join('\n')}\n`;
  }
}
