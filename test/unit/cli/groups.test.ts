// cli/main.ts mounts only the command group a command line names. Each group's list of top-level
// commands must be exactly what it mounts, or a command would be "unknown" when named alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Command } from 'commander';
import { COMMAND_GROUPS, buildProgram } from '../../../cli/main.ts';

const names = (program: Command) => program.commands.map((c) => c.name());

test("each group's list is the commands it mounts, and no command is in two groups", async () => {
  const seen = new Set<string>();
  for (const group of COMMAND_GROUPS) {
    const program = new Command('2baksa');
    (await group.load())(program);
    assert.equal(names(program).sort(), [...group.commands].sort(), `group of ${group.commands[0]}`);
    for (const c of group.commands) {
      assert.not.ok(seen.has(c), `${c} is in two groups`);
      seen.add(c);
    }
  }
});

test('a command line mounts its group only; --help, no command or an unknown word mount all', async () => {
  const all = names(await buildProgram());
  assert.ok(all.includes('backup') && all.includes('accounts') && all.includes('demo') && all.includes('pki'));
  assert.equal(names(await buildProgram(['node', '2baksa', 'backup', '--state', 'x'])), COMMAND_GROUPS.find((g) => g.commands.includes('backup'))!.commands);
  assert.equal(names(await buildProgram(['node', '2baksa', 'groups', 'list'])), COMMAND_GROUPS.find((g) => g.commands.includes('groups'))!.commands);
  for (const argv of [['node', '2baksa'], ['node', '2baksa', '--help'], ['node', '2baksa', 'bakup']]) {
    assert.equal(names(await buildProgram(argv)), all, argv.join(' '));
  }
});

test.run();
