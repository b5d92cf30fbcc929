// The logger module: the silent logger stands in for pino without loading it (one-shot commands), and
// must behave as a pino logger at level silent does; createLogger still makes a real pino logger.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger, silentLogger } from '../../shared/log.ts';

test('the silent logger drops everything, is its own child, and is not a thenable', async () => {
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) {
    assert.is(silentLogger[level]({ a: 1 }, 'message %s', 'x'), undefined);
    assert.not.ok(silentLogger.isLevelEnabled(level));
  }
  assert.is(silentLogger.level, 'silent');
  assert.is(silentLogger.child({ component: 'x' }), silentLogger);
  assert.is(await Promise.resolve(silentLogger), silentLogger, 'resolving a promise with it does not wait on it');
  assert.is((silentLogger as unknown as Record<string, () => unknown>).someOtherMethod!(), undefined);
});

test('createLogger makes a pino logger at the level asked', () => {
  const logger = createLogger('test', 'warn');
  assert.ok(logger.isLevelEnabled('error'));
  assert.not.ok(logger.isLevelEnabled('info'));
  assert.is(typeof logger.child({ a: 1 }).warn, 'function');
});

test.run();
