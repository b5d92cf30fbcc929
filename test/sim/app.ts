/**
 * The replicated application of the simulation: a hash chain over executed operations plus, per
 * client, the last request id it executed. Executing a request id that is not above the client's last
 * one means a request ran twice (an exactly-once violation), which the app records.
 */
import { decode, encode } from '@msgpack/msgpack';
import { createHash } from 'node:crypto';
import type { Application, ExecuteContext } from '../../shared/consensus/index.ts';

export class SimApp implements Application {
  chain: Uint8Array = new Uint8Array(32);
  executed = 0;
  readonly lastIds = new Map<string, number>();
  readonly violations: string[] = [];

  execute(op: Uint8Array, ctx: ExecuteContext): Uint8Array {
    const last = this.lastIds.get(ctx.client) ?? 0;
    if (ctx.requestId <= last) this.violations.push(`request ${ctx.client}/${ctx.requestId} executed again at seq ${ctx.seq}`);
    this.lastIds.set(ctx.client, ctx.requestId);
    this.chain = new Uint8Array(createHash('sha256').update(this.chain).update(op).digest());
    this.executed += 1;
    return this.chain.slice(0, 8);
  }

  snapshot(): Uint8Array {
    const ids = [...this.lastIds.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    return encode([this.chain, this.executed, ids]);
  }

  restore(snapshot: Uint8Array): void {
    const [chain, executed, ids] = decode(snapshot) as [Uint8Array, number, [string, number][]];
    this.chain = chain;
    this.executed = executed;
    this.lastIds.clear();
    for (const [c, id] of ids) this.lastIds.set(c, id);
  }

  stateHex(): string {
    return Buffer.from(this.chain).toString('hex');
  }
}
