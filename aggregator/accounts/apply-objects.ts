/**
 * Usage commands of the state machine: the storage path records each stored object (after its commit)
 * and marks superseded or client-deleted ones; housekeeping removes removable objects deterministically
 * and records each removal in `deletions` (the stream fast sync sends first, Box Backup 8.4). Every
 * change bumps the account's client store marker (Box Backup 8.1).
 */
import { formatAccountNumber } from './names.ts';
import { accountNotFound, checkUsage, findAccount, objectsOf } from './queries.ts';
import { planHousekeeping } from './housekeeping.ts';
import { nextId, refuse, watchingLimits, type ApplyContext } from './apply-context.ts';
import type { Account, AccountCommand } from './types.ts';

type ObjectCmd = Extract<AccountCommand, { type: 'RecordObject' | 'RecordObjects' | 'MarkObject' | 'Housekeep' | 'RecomputeUsage' }>;

async function mustFind(ctx: ApplyContext, number: number): Promise<Account> {
  const a = await findAccount(ctx.db, number);
  if (!a) throw accountNotFound(number);
  return a;
}

async function housekeep(ctx: ApplyContext, cmd: Extract<ObjectCmd, { type: 'Housekeep' }>): Promise<Record<string, unknown>> {
  const { db } = ctx;
  const a = await mustFind(ctx, cmd.account);
  const pending = await db.all<{ id: number; aggressive: number }>(
    'SELECT id, aggressive FROM housekeeping WHERE account = ? AND done_ms IS NULL ORDER BY id',
    [a.number],
  );
  const aggressive = cmd.aggressive || pending.some((p) => p.aggressive === 1);
  const plan = planHousekeeping(await objectsOf(db, a.number), a.usedBytes, a.softBytes, aggressive);
  for (const o of plan.remove) {
    await recordDeletion(db, a.number, o.objectId, cmd.atMs);
    await db.run('DELETE FROM objects WHERE account = ? AND object_id = ?', [a.number, o.objectId]);
  }
  if (plan.remove.length > 0) {
    await db.run('UPDATE accounts SET used_bytes = used_bytes - ?, object_count = object_count - ?, store_marker = store_marker + 1 WHERE number = ?', [
      plan.removedBytes,
      plan.remove.length,
      a.number,
    ]);
  }
  const ids = pending.map((p) => p.id);
  if (ids.length === 0) {
    const id = await nextId(db, 'next_housekeeping_id');
    await db.run('INSERT INTO housekeeping(id, account, aggressive, reason, requested_ms) VALUES (?, ?, ?, ?, ?)', [
      id,
      a.number,
      aggressive ? 1 : 0,
      cmd.reason,
      cmd.atMs,
    ]);
    ids.push(id);
  }
  for (const id of ids) {
    await db.run('UPDATE housekeeping SET done_ms = ?, removed_objects = ?, removed_bytes = ? WHERE id = ?', [
      cmd.atMs,
      plan.remove.length,
      plan.removedBytes,
      id,
    ]);
  }
  return {
    account: a.number,
    name: a.name,
    aggressive,
    requests: ids,
    removedObjects: plan.remove.map((o) => o.objectId),
    removedBytes: plan.removedBytes,
    usedBytes: plan.usedBytesAfter,
  };
}

/** Records the removal of an object (or of every object of the account) with its layout, before its row goes. */
export async function recordDeletion(db: ApplyContext['db'], account: number, objectId: string | undefined, atMs: number): Promise<void> {
  await db.run(
    `INSERT OR REPLACE INTO deletions(account, object_id, seq, bytes, deleted_ms, layout)
     SELECT account, object_id, seq, bytes, ?, layout FROM objects WHERE account = ?${objectId === undefined ? '' : ' AND object_id = ?'}`,
    objectId === undefined ? [atMs, account] : [atMs, account, objectId],
  );
}

export async function applyObjectCommand(ctx: ApplyContext, cmd: ObjectCmd): Promise<Record<string, unknown>> {
  const { db } = ctx;
  switch (cmd.type) {
    case 'RecordObject': {
      const a = await mustFind(ctx, cmd.account);
      const exists = await db.get('SELECT 1 FROM objects WHERE account = ? AND object_id = ?', [a.number, cmd.objectId]);
      if (exists) {
        throw refuse('OBJECT_EXISTS', `object ${cmd.objectId} of ${a.name} is already recorded`, 'record each stored object once', {
          account: a.name,
          objectId: cmd.objectId,
        });
      }
      const seq = await nextId(db, 'next_object_seq');
      await watchingLimits(ctx, [a.number], cmd.atMs, async () => {
        await db.run("INSERT INTO objects(account, object_id, seq, bytes, state, stored_ms, layout) VALUES (?, ?, ?, ?, 'current', ?, ?)", [
          a.number,
          cmd.objectId,
          seq,
          cmd.bytes,
          cmd.atMs,
          cmd.layout ?? null,
        ]);
        await db.run('UPDATE accounts SET used_bytes = used_bytes + ?, object_count = object_count + 1, store_marker = store_marker + 1 WHERE number = ?', [
          cmd.bytes,
          a.number,
        ]);
      });
      return { account: a.number, objectId: cmd.objectId, seq, bytes: cmd.bytes, usedBytes: a.usedBytes + cmd.bytes };
    }
    case 'RecordObjects': {
      const a = await mustFind(ctx, cmd.account);
      const recorded: string[] = [];
      const existed: string[] = [];
      let added = 0;
      await watchingLimits(ctx, [a.number], cmd.atMs, async () => {
        for (const o of cmd.objects) {
          if (await db.get('SELECT 1 FROM objects WHERE account = ? AND object_id = ?', [a.number, o.objectId])) {
            existed.push(o.objectId);
            continue;
          }
          const seq = await nextId(db, 'next_object_seq');
          await db.run("INSERT INTO objects(account, object_id, seq, bytes, state, stored_ms, layout) VALUES (?, ?, ?, ?, 'current', ?, ?)", [
            a.number, o.objectId, seq, o.bytes, cmd.atMs, o.layout ?? null,
          ]);
          recorded.push(o.objectId);
          added += o.bytes;
        }
        if (recorded.length > 0) {
          await db.run('UPDATE accounts SET used_bytes = used_bytes + ?, object_count = object_count + ?, store_marker = store_marker + 1 WHERE number = ?', [
            added, recorded.length, a.number,
          ]);
        }
      });
      return { account: a.number, recorded, existed, bytes: added, usedBytes: a.usedBytes + added };
    }
    case 'MarkObject': {
      const a = await mustFind(ctx, cmd.account);
      const changed = await db.run('UPDATE objects SET state = ? WHERE account = ? AND object_id = ?', [cmd.state, a.number, cmd.objectId]);
      if (changed.changes === 0) {
        throw refuse('OBJECT_NOT_FOUND', `object ${cmd.objectId} of ${a.name} is not recorded`, 'check the object id', {
          account: a.name,
          objectId: cmd.objectId,
        });
      }
      await db.run('UPDATE accounts SET store_marker = store_marker + 1 WHERE number = ?', [a.number]);
      return { account: a.number, objectId: cmd.objectId, state: cmd.state };
    }
    case 'Housekeep':
      return housekeep(ctx, cmd);
    case 'RecomputeUsage': {
      const a = await mustFind(ctx, cmd.account);
      const check = await checkUsage(db, a);
      if (!check.consistent) {
        await db.run('UPDATE accounts SET used_bytes = ?, object_count = ? WHERE number = ?', [check.actualBytes, check.actualObjects, a.number]);
      }
      return { ...check, numberHex: formatAccountNumber(a.number), fixed: !check.consistent };
    }
    default: {
      const never: never = cmd;
      return never;
    }
  }
}
