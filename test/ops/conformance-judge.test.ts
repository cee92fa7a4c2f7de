/**
 * How `bun run conformance` turns the official suite's checks into a verdict:
 * only a fixture the suite brings with it or a feature hide does not offer may
 * excuse a failure, and only by the checker's own words.
 */
import { describe, expect, test } from 'bun:test';
import { judge, SCENARIOS, type Check } from '../../scripts/conformance/applicability.ts';

const ok = (id: string): Check => ({ id, status: 'SUCCESS' });
const failed = (id: string, errorMessage: string, details?: Record<string, unknown>): Check => ({ id, status: 'FAILURE', errorMessage, details });

describe('conformance verdicts', () => {
  test('an applicable scenario passes when every check passes', () => {
    expect(judge('tools-list', [ok('tools-list'), ok('tools-name-format')])).toMatchObject({ verdict: 'pass', failures: [] });
  });

  test('an applicable scenario fails on any failing check, with the checker message', () => {
    const r = judge('tools-list', [failed('tools-list', 'Failed: boom')]);
    expect(r).toMatchObject({ verdict: 'fail', failures: ['tools-list: Failed: boom'] });
  });

  test('a scenario for a feature we do not offer is n/a and keeps the checker reason', () => {
    const r = judge('prompts-list', [failed('prompts-list', 'Failed: Method not found: prompts/list')]);
    expect(r).toMatchObject({ verdict: 'n/a', notes: ['prompts-list: Failed: Method not found: prompts/list'] });
    expect(SCENARIOS['prompts-list']?.why).toBe('no prompts');
  });

  test('a check the suite could not run for lack of its own fixture tool is excused', () => {
    const r = judge('server-stateless', [
      ok('sep-2575-server-implements-discover'),
      failed('sep-2575-missing-capability-http-400', "Not testable: server does not list the diagnostic tool 'test_missing_capability' in tools/list", { untestable: true }),
    ]);
    expect(r.verdict).toBe('pass');
    expect(r.notes[0]).toStartWith('n/a sep-2575-missing-capability-http-400');
  });

  test('a check the suite could not run because our server failed a prerequisite is not excused', () => {
    const r = judge('http-header-validation', [
      failed('sep-2243-server-reject-invalid-headers', 'Not testable: tools/list discovery failed, so the Mcp-Name header-validation cases could not be exercised', { untestable: true }),
    ]);
    expect(r.verdict).toBe('fail');
  });

  test('caching: prompts/resources answered with Method not found are excused, tools/list is not', () => {
    const notServed = failed('sep-2549-prompts-list-caching-hints', 'prompts/list returned JSON-RPC error -32601: Method not found');
    expect(judge('caching', [ok('sep-2549-tools-list-caching-hints'), notServed]).verdict).toBe('pass');
    const refused = failed('sep-2549-prompts-list-caching-hints', 'prompts/list returned JSON-RPC error -32600: Unsupported');
    expect(judge('caching', [ok('sep-2549-tools-list-caching-hints'), refused]).verdict).toBe('fail');
    const toolsMissing = failed('sep-2549-tools-list-caching-hints', 'tools/list returned JSON-RPC error -32601: Method not found');
    expect(judge('caching', [toolsMissing]).verdict).toBe('fail');
  });

  test('a scenario missing from the table counts as applicable; one that did not run fails', () => {
    expect(judge('some-new-scenario', [failed('x', 'y')]).verdict).toBe('fail');
    expect(judge('ping', undefined, '0 passed, 1 failed')).toMatchObject({ verdict: 'fail', failures: ['no checks.json from the suite (its summary: 0 passed, 1 failed)'] });
    expect(judge('tasks-wire-fields', undefined).verdict).toBe('n/a');
  });

  test('warnings do not fail a scenario but are reported', () => {
    const r = judge('server-sse-multiple-streams', [{ id: 'server-sse-multiple-streams-session', status: 'WARNING', details: { message: 'no session id' } }]);
    expect(r.verdict).toBe('pass');
    expect(r.notes[0]).toStartWith('warning server-sse-multiple-streams-session');
  });
});
