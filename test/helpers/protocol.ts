// The code of the ProtocolError `fn` throws; fails the test when it throws anything else, or nothing.
import * as assert from 'uvu/assert';
import { ProtocolError } from '../../shared/protocol/index.ts';

export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.instance(error, ProtocolError, `threw ${String(error)}`);
    return (error as ProtocolError).code;
  }
  assert.unreachable('expected a ProtocolError');
  return '';
}
