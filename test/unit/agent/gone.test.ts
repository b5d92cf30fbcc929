// Who migrates a gone gateway's snapshots (agent/migrate/gone.ts): exactly one live member, the first in
// the rendezvous order of the gone one's name, and the next one when that one is gone too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { goneLedBy } from '../../../agent/migrate/gone.ts';

const members = ['gw-1.site', 'gw-2.site', 'gw-3.site', 'gw-4.site', 'gw-5.site'];

test('each gone member has exactly one leader among the live ones', () => {
  for (let down = 1; down <= 3; down++) {
    const gone = members.slice(0, down);
    const live = members.slice(down);
    for (const g of gone) {
      const leaders = live.filter((self) => goneLedBy(self, [g], live).includes(g));
      assert.is(leaders.length, 1, `${g} with ${live.join(',')} up`);
    }
  }
});

test('when the leader dies too, the next in the order takes over; a live member is never led', () => {
  const live = members.slice(1);
  const leader = live.find((self) => goneLedBy(self, ['gw-1.site'], live).length === 1)!;
  const rest = live.filter((m) => m !== leader);
  const next = rest.find((self) => goneLedBy(self, ['gw-1.site', leader], rest).includes('gw-1.site'));
  assert.ok(next && next !== leader);
  assert.equal(goneLedBy(live[0]!, [live[1]!], live), [], 'a member that is up is not gone');
});

test.run();
