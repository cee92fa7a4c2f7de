/** The per-address budget of new tokens the introspection endpoint is asked about, on a fake clock. */
import { expect, test } from 'bun:test';
import { QuestionBudget } from '../../../src/security/oauth/question-budget.ts';

test('each address has its own budget a minute; an IPv6 /64 is one address; the next minute starts afresh', () => {
  let now = 120_000 + 15_000;
  const budget = new QuestionBudget(2, () => now);
  expect([budget.take('10.0.0.1'), budget.take('10.0.0.1'), budget.take('10.0.0.1')]).toEqual([null, null, 45]);
  // Another address, and the same one written as IPv4-mapped IPv6.
  expect(budget.take('10.0.0.2')).toBeNull();
  expect(budget.take('::ffff:10.0.0.1')).toBe(45);
  // One host's /64: new addresses in it share the budget.
  expect([budget.take('2001:db8:1:2::1'), budget.take('2001:db8:1:2::ffff'), budget.take('2001:db8:1:2:8000::9')]).toEqual([null, null, 45]);
  expect(budget.take('2001:db8:1:3::1')).toBeNull();
  now = 180_000;
  expect(budget.take('10.0.0.1')).toBeNull();
});

test('0 takes no budget', () => {
  const budget = new QuestionBudget(0);
  for (let i = 0; i < 1000; i++) expect(budget.take('10.0.0.1')).toBeNull();
});
