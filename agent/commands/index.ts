/**
 * The agent's commands, mounted by cli/main.ts with one `registerAgent` entry. Command modules stay
 * light (commander only) and import their implementation inside the action, so `2baksa --help` and
 * other groups never pay for sqlite, zlib or MQTT.
 */
import type { Command } from 'commander';
import { registerAgentGroup } from './agent.ts';
import { registerBackupCommand } from './backup.ts';
import { registerSnapshotsCommand } from './snapshots.ts';
import { registerRestoreCommands } from './restore.ts';
import { registerCheckCommand } from './check.ts';
import { registerForgetCommand } from './forget.ts';
import { registerStatusCommand } from './status.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerClusterGroup } from './cluster.ts';

export function registerAgent(program: Command): void {
  registerAgentGroup(program);
  registerBackupCommand(program);
  registerSnapshotsCommand(program);
  registerRestoreCommands(program);
  registerCheckCommand(program);
  registerForgetCommand(program);
  registerStatusCommand(program);
  registerMigrateCommand(program);
  registerClusterGroup(program);
}
