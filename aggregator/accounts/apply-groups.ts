/**
 * Group commands of the state machine. Groups are flat (never nested), many-to-many with accounts,
 * each with an administrator contact who is told about its members' alerts, and optional soft and hard
 * limits over the sum of the members' usage.
 */
import { formatAccountNumber, normalizeGroupName, validateContact } from './names.ts';
import { accountNotFound, findAccount, groupNotFound, findGroup, groupStats } from './queries.ts';
import { validateLimits } from './quota.ts';
import { refuse, watchingLimits, type ApplyContext } from './apply-context.ts';
import type { AccountCommand, Group } from './types.ts';

type GroupCmd = Extract<AccountCommand, { type: 'CreateGroup' | 'SetGroup' | 'DeleteGroup' | 'AddMember' | 'RemoveMember' }>;

async function mustFindGroup(ctx: ApplyContext, name: string): Promise<Group> {
  const g = await findGroup(ctx.db, normalizeGroupName(name));
  if (!g) throw groupNotFound(name);
  return g;
}

async function memberNumbers(ctx: ApplyContext, group: string): Promise<number[]> {
  const rows = await ctx.db.all<{ account: number }>('SELECT account FROM group_members WHERE group_name = ? ORDER BY account', [group]);
  return rows.map((r) => r.account);
}

export async function applyGroupCommand(ctx: ApplyContext, cmd: GroupCmd): Promise<Record<string, unknown>> {
  const { db } = ctx;
  switch (cmd.type) {
    case 'CreateGroup': {
      const name = normalizeGroupName(cmd.name);
      const admin = validateContact(cmd.admin);
      validateLimits(cmd.softBytes, cmd.hardBytes);
      if (await findGroup(db, name)) throw refuse('GROUP_EXISTS', `a group named ${name} exists`, 'choose another name', { group: name });
      await db.run('INSERT INTO groups(name, admin, soft_bytes, hard_bytes, created_ms) VALUES (?, ?, ?, ?, ?)', [
        name,
        admin,
        cmd.softBytes,
        cmd.hardBytes,
        cmd.atMs,
      ]);
      return { ...(await groupStats(db, name)) };
    }
    case 'SetGroup': {
      const g = await mustFindGroup(ctx, cmd.group);
      const admin = cmd.admin !== undefined ? validateContact(cmd.admin) : g.admin;
      const softBytes = cmd.softBytes !== undefined ? cmd.softBytes : g.softBytes;
      const hardBytes = cmd.hardBytes !== undefined ? cmd.hardBytes : g.hardBytes;
      validateLimits(softBytes, hardBytes);
      await watchingLimits(ctx, await memberNumbers(ctx, g.name), cmd.atMs, () =>
        db.run('UPDATE groups SET admin = ?, soft_bytes = ?, hard_bytes = ? WHERE name = ?', [admin, softBytes, hardBytes, g.name]),
      );
      return { ...(await groupStats(db, g.name)) };
    }
    case 'DeleteGroup': {
      const g = await mustFindGroup(ctx, cmd.group);
      const stats = await groupStats(db, g.name);
      await db.run('DELETE FROM groups WHERE name = ?', [g.name]);
      return { deleted: stats };
    }
    case 'AddMember': {
      const g = await mustFindGroup(ctx, cmd.group);
      const a = await findAccount(db, cmd.account);
      if (!a) throw accountNotFound(cmd.account);
      const exists = await db.get('SELECT 1 FROM group_members WHERE group_name = ? AND account = ?', [g.name, a.number]);
      if (exists) {
        throw refuse('ALREADY_MEMBER', `${a.name} is already in group ${g.name}`, 'nothing to do', { group: g.name, account: a.name });
      }
      await watchingLimits(ctx, [a.number], cmd.atMs, () =>
        db.run('INSERT INTO group_members(group_name, account, added_ms) VALUES (?, ?, ?)', [g.name, a.number, cmd.atMs]),
      );
      return { ...(await groupStats(db, g.name)) };
    }
    case 'RemoveMember': {
      const g = await mustFindGroup(ctx, cmd.group);
      const removed = await db.run('DELETE FROM group_members WHERE group_name = ? AND account = ?', [g.name, cmd.account]);
      if (removed.changes === 0) {
        throw refuse('NOT_MEMBER', `account ${formatAccountNumber(cmd.account)} is not in group ${g.name}`, 'check with `2baksa groups info`', {
          group: g.name,
        });
      }
      return { ...(await groupStats(db, g.name)) };
    }
    default: {
      const never: never = cmd;
      return never;
    }
  }
}
