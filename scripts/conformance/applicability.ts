/**
 * Which scenarios of the official MCP conformance suite apply to hide, and how
 * one scenario's checks become a verdict.
 *
 * hide is a tools-only server: no resources, prompts, completion, logging,
 * subscriptions, sampling or elicitation requests of its own, no tasks, and
 * none of the suite's fixture tools (test_simple_text, test_missing_capability…).
 * The suite reports those gaps as failures; this module keeps them visible as
 * "not applicable" with the checker's own words, and fails on everything else.
 */

/** One check as the suite writes it to `checks.json`. */
export interface Check {
  id: string;
  name?: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';
  errorMessage?: string | null;
  details?: Record<string, unknown> | null;
}

export interface Applicability {
  applies: boolean;
  why: string;
}

const FIXTURE = 'calls fixture tools the suite expects a reference server to have';

/** Every server scenario of the 2025-11-25 and 2026-07-28 requirement sets, with why it does or does not apply. */
export const SCENARIOS: Record<string, Applicability> = {
  // Apply: the lifecycle, transport and tools/list behaviour every MCP server has.
  'server-initialize': { applies: true, why: 'the 2025 handshake every legacy client starts with' },
  ping: { applies: true, why: 'ping is core 2025 lifecycle' },
  'tools-list': { applies: true, why: 'tools/list is our whole surface' },
  'dns-rebinding-protection': { applies: true, why: 'we bind loopback by default and must refuse foreign Host/Origin' },
  'server-stateless': { applies: true, why: 'the 2026 request model: _meta, server/discover, versions, 404 for removed methods' },
  'http-header-validation': { applies: true, why: 'Mcp-Method / Mcp-Name must match the body on Streamable HTTP' },
  'server-sse-multiple-streams': { applies: true, why: 'concurrent POSTs to one endpoint' },
  caching: { applies: true, why: 'tools/list carries ttlMs and cacheScope (its prompts/resources checks are n/a, see NA_CHECKS)' },
  'server-session-lifecycle': { applies: true, why: 'transport lifecycle; reports INFO when no session id is issued' },
  'server-sse-polling': { applies: true, why: 'transport behaviour of a tools/call POST' },
  'input-required-result-unsupported-methods': { applies: true, why: 'tools/list must never answer with an input_required result' },
  // Do not apply: features a tools-only server does not offer.
  'logging-set-level': { applies: false, why: 'no logging capability (logging/setLevel)' },
  'completion-complete': { applies: false, why: 'no prompts or resource templates to complete' },
  'resources-list': { applies: false, why: 'no resources' },
  'resources-read-text': { applies: false, why: 'no resources' },
  'resources-read-binary': { applies: false, why: 'no resources' },
  'resources-templates-read': { applies: false, why: 'no resources' },
  'resources-subscribe': { applies: false, why: 'no resources, no subscriptions' },
  'resources-unsubscribe': { applies: false, why: 'no resources, no subscriptions' },
  'sep-2164-resource-not-found': { applies: false, why: 'no resources (resources/read)' },
  'prompts-list': { applies: false, why: 'no prompts' },
  'prompts-get-simple': { applies: false, why: 'no prompts' },
  'prompts-get-with-args': { applies: false, why: 'no prompts' },
  'prompts-get-embedded-resource': { applies: false, why: 'no prompts' },
  'prompts-get-with-image': { applies: false, why: 'no prompts' },
  'tools-call-simple-text': { applies: false, why: `${FIXTURE} (test_simple_text)` },
  'tools-call-image': { applies: false, why: `${FIXTURE} (test_image_content)` },
  'tools-call-audio': { applies: false, why: `${FIXTURE} (test_audio_content)` },
  'tools-call-embedded-resource': { applies: false, why: `${FIXTURE} (test_embedded_resource)` },
  'tools-call-mixed-content': { applies: false, why: `${FIXTURE} (test_multiple_content_types)` },
  'tools-call-error': { applies: false, why: `${FIXTURE} (test_error_handling)` },
  'tools-call-with-progress': { applies: false, why: `${FIXTURE} (test_tool_with_progress)` },
  'tools-call-with-logging': { applies: false, why: 'no logging capability; needs test_tool_with_logging' },
  'tools-call-sampling': { applies: false, why: 'we never send sampling requests; needs test_sampling' },
  'tools-call-elicitation': { applies: false, why: 'we never elicit; needs test_elicitation' },
  'elicitation-sep1034-defaults': { applies: false, why: 'we never elicit; needs test_elicitation_sep1034_defaults' },
  'elicitation-sep1330-enums': { applies: false, why: 'we never elicit; needs test_elicitation_sep1330_enums' },
  'json-schema-2020-12': { applies: false, why: `${FIXTURE} (json_schema_2020_12_tool)` },
  'http-custom-header-server-validation': { applies: false, why: 'needs a tool with x-mcp-header parameters; ours have none' },
  'input-required-result-basic-elicitation': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-basic-sampling': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-basic-list-roots': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-request-state': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-multiple-input-requests': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-multi-round': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-missing-input-response': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-non-tool-request': { applies: false, why: 'no prompts (MRTR on prompts/get)' },
  'input-required-result-result-type': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-tampered-state': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-capability-check': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-ignore-extra-params': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'input-required-result-validate-input': { applies: false, why: 'we never ask the client for input (MRTR); fixture tool' },
  'tasks-lifecycle': { applies: false, why: 'no tasks extension' },
  'tasks-capability-negotiation': { applies: false, why: 'no tasks extension' },
  'tasks-wire-fields': { applies: false, why: 'no tasks extension' },
  'tasks-request-state-removal': { applies: false, why: 'no tasks extension' },
  'tasks-mrtr-input': { applies: false, why: 'no tasks extension' },
  'tasks-request-headers': { applies: false, why: 'no tasks extension' },
  'tasks-dispatch-and-envelope': { applies: false, why: 'no tasks extension' },
  'tasks-status-notifications': { applies: false, why: 'no tasks extension' },
  'tasks-required-task-error': { applies: false, why: 'no tasks extension' },
  'tasks-mrtr-composition': { applies: false, why: 'no tasks extension' },
};

/**
 * Single failing checks inside an applicable scenario that are still not ours
 * to pass, each recognised by the checker's own reason.
 */
export const NA_CHECKS: { why: string; matches: (c: Check) => boolean }[] = [
  {
    why: 'the checker could not exercise it: it needs one of its diagnostic fixture tools/hooks',
    matches: (c) =>
      c.details?.untestable === true &&
      /does not list the diagnostic tool|does not expose the diagnostic hook|exposes no (string-typed )?x-mcp-header/.test(c.errorMessage ?? ''),
  },
  {
    why: 'prompts and resources are not served, and the checker got Method not found for them',
    matches: (c) =>
      /^sep-2549-(prompts-list|resources-list|resources-templates-list|resources-read)-caching-hints$/.test(c.id) &&
      /returned JSON-RPC error -32601\b/.test(c.errorMessage ?? ''),
  },
];

export type Verdict = 'pass' | 'fail' | 'n/a';

export interface ScenarioResult {
  scenario: string;
  verdict: Verdict;
  /** Why the scenario applies or not (from SCENARIOS, or a note for an unknown one). */
  why: string;
  /** Failing checks that decide the verdict, as "id: message". */
  failures: string[];
  /** Failing checks excused by NA_CHECKS, and WARNINGs, as "id: message". */
  notes: string[];
}

const line = (c: Check) => `${c.id}: ${c.errorMessage ?? (c.details ? JSON.stringify(c.details).slice(0, 200) : c.status)}`;

/**
 * Judges one scenario from its checks; `checks` undefined means the suite wrote
 * no checks.json for it, and `summary` is then the suite's own count, if it printed one.
 */
export function judge(scenario: string, checks: Check[] | undefined, summary?: string): ScenarioResult {
  const known = SCENARIOS[scenario];
  const applies = known?.applies ?? true;
  const why = known?.why ?? 'not in the applicability table: judged as applicable until classified';
  if (!checks) {
    const missing = `no checks.json from the suite (its summary: ${summary ?? 'none, the scenario did not run'})`;
    return applies ? { scenario, verdict: 'fail', why, failures: [missing], notes: [] } : { scenario, verdict: 'n/a', why, failures: [], notes: [missing] };
  }
  const failing = checks.filter((c) => c.status === 'FAILURE');
  if (!applies) {
    // The checker's first failing reason shows that the gap is the one named in SCENARIOS.
    return { scenario, verdict: 'n/a', why, failures: [], notes: failing.slice(0, 1).map(line) };
  }
  const failures: string[] = [];
  const notes: string[] = [];
  for (const c of failing) {
    const excuse = NA_CHECKS.find((rule) => rule.matches(c));
    if (excuse) notes.push(`n/a ${line(c)} (${excuse.why})`);
    else failures.push(line(c));
  }
  for (const c of checks) if (c.status === 'WARNING') notes.push(`warning ${line(c)}`);
  return { scenario, verdict: failures.length > 0 ? 'fail' : 'pass', why, failures, notes };
}
