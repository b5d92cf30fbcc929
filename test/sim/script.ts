/**
 * Scripted scenarios in the style of etcd raft's interaction tests: a few words per line drive a
 * cluster whose network holds every packet until the script says what happens to it.
 *
 *   cluster n=4 clients=1 K=2 L=4 batch=1 timeout=20 status=5 byzantine=2:mute
 *   submit 0                      client 0 submits its next operation
 *   deliver type=pre-prepare      deliver the queued packets that match (new ones stay queued)
 *   deliver drop=(0,2),(1,3)      deliver everything queued, dropping 0->2 and 1->3
 *   drop type=commit to=2         discard matching queued packets
 *   dup from=3 type=prepare       queue a second copy of matching packets
 *   hold type=checkpoint to=3     matching packets stay queued until `release`
 *   deliver-all                   deliver until nothing (unheld) is queued, ticking nobody
 *   tick 25                       tick every node 25 times (no delivery)
 *   run 40                        40 times: deliver everything queued, then tick every node (time passes
 *                                 on a network that delivers within a tick)
 *   stabilize max=300 on=0,1,2    deliver and tick until clients are idle and (those) correct replicas
 *                                 agree on what they executed and are not changing views
 *   crash 1 | restart 1              crash now (in-flight packets to it are lost on delivery)
 *   crash 1 torn | crash 1 torn=2    crash while persisting next: a random / the 2nd persist is lost
 *   isolate 3 | partition 0,1|2,3 | cut 0>2 | heal
 *   replay 0 1                    re-send client 0's request 1 to every replica
 *   expect view 1 on=1,2,3        also: executed N, stable N, viewchanging yes|no, result C ID,
 *                                 rejected REASON, queued COUNT [filters], pending N
 * Addresses are replica ids, or c0, c1... for clients. `#` starts a comment.
 */
import type { MessageType, Request } from '../../shared/consensus/index.ts';
import { Cluster, clientAddress, replicaAddress, type ReplicaKind } from './cluster.ts';
import { perfectNetwork, type Packet } from './network.ts';

interface Filter {
  from?: string[];
  to?: string[];
  type?: MessageType[];
  drop?: [string, string][];
}

function address(token: string): string {
  return token.startsWith('c') ? clientAddress(`client${token.slice(1)}`) : replicaAddress(Number(token));
}

export class Script {
  cluster!: Cluster;
  private readonly held: Filter[] = [];
  /** Every request a client sent, by `client/id`, for `replay`. */
  private readonly requests = new Map<string, Request>();
  private line = 0;
  private text = '';

  run(script: string): this {
    for (const raw of script.split('\n')) {
      this.line += 1;
      this.text = raw.trim();
      const code = this.text.replace(/#.*/, '').trim();
      if (!code) continue;
      const [command, ...args] = code.split(/\s+/);
      this.exec(command!, args);
    }
    return this;
  }

  private fail(message: string): never {
    throw new Error(`script line ${this.line} "${this.text}": ${message}`);
  }

  private exec(command: string, args: string[]): void {
    const kv = Object.fromEntries(args.filter((a) => a.includes('=')).map((a) => a.split('=', 2) as [string, string]));
    const plain = args.filter((a) => !a.includes('='));
    const filter = this.filter(kv);
    const c = () => this.cluster ?? this.fail('no cluster yet');
    switch (command) {
      case 'cluster':
        return this.makeCluster(kv);
      case 'submit':
        return c().submit(Number(plain[0] ?? 0));
      case 'deliver':
        return void this.deliver(filter);
      case 'deliver-all':
        for (let round = 0; this.deliver(filter) > 0; round++) if (round > 10_000) this.fail('messages never stop');
        return;
      case 'drop':
        return void this.take(filter);
      case 'dup':
        for (const p of this.matching(filter)) for (let k = 1; k < Number(kv.times ?? 2); k++) c().net.queue.push(p);
        return;
      case 'hold':
        return void this.held.push(filter);
      case 'release':
        return void (this.held.length = 0);
      case 'tick':
        for (let i = 0; i < Number(plain[0] ?? 1); i++) this.tickOnce();
        return;
      case 'run':
        for (let i = 0; i < Number(plain[0] ?? 1); i++) {
          this.deliverQueued();
          this.tickOnce();
        }
        return;
      case 'stabilize':
        return this.stabilize(Number(kv.max ?? 500), kv.on?.split(',').map(Number));
      case 'crash':
        if (plain[1] === 'torn') return c().crashTorn(Number(plain[0]));
        if (kv.torn) return c().crashTorn(Number(plain[0]), Number(kv.torn));
        return c().crash(Number(plain[0]));
      case 'restart':
        return c().restart(Number(plain[0]));
      case 'isolate': {
        const x = replicaAddress(Number(plain[0]));
        for (let r = 0; r < c().n; r++) if (replicaAddress(r) !== x) c().net.partition([[x], [replicaAddress(r)]]);
        return;
      }
      case 'partition':
        return c().net.partition(plain.join(' ').split('|').map((g) => g.split(',').map((x) => address(x.trim()))));
      case 'cut': {
        const [a, b] = plain[0]!.split('>');
        return c().net.linkDown(address(a!), address(b!));
      }
      case 'heal':
        return c().net.heal();
      case 'replay': {
        const r = this.requests.get(`client${plain[0]}/${plain[1]}`) ?? this.fail('no such request');
        for (let to = 0; to < c().n; to++) c().net.queue.push({ id: 0, from: clientAddress(r.client), to: replicaAddress(to), payload: r, deliverAt: 0 });
        return;
      }
      case 'expect':
        return this.expect(plain, kv, filter);
      default:
        this.fail(`unknown command ${command}`);
    }
  }

  private makeCluster(kv: Record<string, string>): void {
    const byzantine: Record<number, Exclude<ReplicaKind, 'correct'>> = {};
    for (const item of (kv.byzantine ?? '').split(',').filter(Boolean)) {
      const [id, kind] = item.split(':');
      byzantine[Number(id)] = kind as Exclude<ReplicaKind, 'correct'>;
    }
    const num = (k: string) => (kv[k] === undefined ? undefined : Number(kv[k]));
    this.cluster = new Cluster({
      seed: num('seed') ?? 1,
      n: num('n') ?? 4,
      f: num('f'),
      clients: num('clients') ?? 1,
      manual: true,
      network: perfectNetwork,
      byzantine,
      replicaOptions: {
        checkpointInterval: num('K') ?? 4,
        logWindow: num('L') ?? 8,
        batchRequestsMax: num('batch') ?? 1,
        viewTimeoutTicks: num('timeout') ?? 20,
        statusIntervalTicks: num('status') ?? 5,
      },
      clientOptions: { requestTimeoutTicks: num('clientTimeout') ?? 30 },
    });
  }

  private filter(kv: Record<string, string>): Filter {
    const list = (v: string | undefined) => v?.split(',');
    const drop = kv.drop ? [...kv.drop.matchAll(/\((\w+),(\w+)\)/g)].map((m) => [address(m[1]!), address(m[2]!)] as [string, string]) : undefined;
    return {
      from: list(kv.from)?.map(address),
      to: list(kv.to)?.map(address),
      type: list(kv.type) as MessageType[] | undefined,
      drop,
    };
  }

  private matches(p: Packet, f: Filter): boolean {
    const type = p.payload instanceof Uint8Array ? undefined : p.payload.type;
    if (f.from && !f.from.includes(p.from)) return false;
    if (f.to && !f.to.includes(p.to)) return false;
    if (f.type && (!type || !f.type.includes(type))) return false;
    return true;
  }

  private matching(f: Filter): Packet[] {
    return this.cluster.net.queue.filter((p) => this.matches(p, { ...f, drop: undefined }));
  }

  /** Removes and returns the queued packets matching the filter and not held. */
  private take(f: Filter): Packet[] {
    const queue = this.cluster.net.queue;
    const taken: Packet[] = [];
    const kept: Packet[] = [];
    for (const p of queue) {
      const held = this.held.some((h) => this.matches(p, h));
      (this.matches(p, f) && !held ? taken : kept).push(p);
    }
    queue.length = 0;
    queue.push(...kept);
    return taken;
  }

  private deliver(f: Filter): number {
    const packets = this.take(f);
    for (const p of packets) {
      if (f.drop?.some(([a, b]) => a === p.from && b === p.to)) continue;
      if (!(p.payload instanceof Uint8Array) && p.payload.type === 'request') {
        this.requests.set(`${p.payload.client}/${p.payload.requestId}`, p.payload);
      }
      this.cluster.deliver(p);
    }
    return packets.length;
  }

  private tickOnce(): void {
    const cl = this.cluster;
    cl.now += 1;
    cl.checker.now = cl.now;
    cl.tickNodes();
  }

  private settled(on?: number[]): boolean {
    const cl = this.cluster;
    if (cl.clients.some((x) => x.client.inFlight > 0)) return false;
    const live = cl.correctInstances().filter((i) => i.alive && (!on || on.includes(i.replica.id)));
    const executed = new Set(live.map((i) => i.replica.status.lastExecuted));
    return executed.size <= 1 && live.every((i) => !i.replica.status.viewChanging);
  }

  /** Delivers until nothing (unheld) is queued; what the deliveries send is delivered too. */
  private deliverQueued(): void {
    for (let round = 0; this.deliver({}) > 0 && round < 1000; round++);
  }

  private stabilize(max: number, on?: number[]): void {
    for (let t = 0; t < max; t++) {
      this.deliverQueued();
      if (this.settled(on)) return;
      this.tickOnce();
    }
    this.fail(`not stable after ${max} ticks`);
  }

  private expect(plain: string[], kv: Record<string, string>, filter: Filter): void {
    const cl = this.cluster;
    const [what, value] = plain;
    const on = kv.on ? kv.on.split(',').map(Number) : cl.nodes.filter((n) => n.kind === 'correct').map((n) => n.id);
    const statusOf = (id: number) => {
      const inst = cl.nodes[id]!.instances[0]!;
      if (!inst.alive) this.fail(`replica ${id} is down`);
      return inst.replica.status;
    };
    for (const id of what === 'result' || what === 'queued' ? [] : on) {
      const st = statusOf(id);
      const got: Record<string, unknown> = {
        view: st.view,
        executed: st.lastExecuted,
        stable: st.stableSeq,
        viewchanging: st.viewChanging ? 'yes' : 'no',
        pending: st.pendingRequests,
      };
      if (what === 'rejected') {
        if (!(st.rejected[value!]! > 0)) this.fail(`replica ${id} rejected no ${value} (rejected: ${JSON.stringify(st.rejected)})`);
        continue;
      }
      if (!(what! in got)) this.fail(`unknown expectation ${what}`);
      if (String(got[what!]) !== value) this.fail(`replica ${id}: ${what} is ${String(got[what!])}, expected ${value}`);
    }
    if (what === 'result') {
      const client = cl.clients[Number(value)] ?? this.fail(`no client ${value}`);
      const id = Number(plain[2]);
      if (!client.results.has(id)) this.fail(`client ${value} has no result for request ${id}`);
    }
    if (what === 'queued') {
      const count = this.matching(filter).length;
      if (count !== Number(value)) this.fail(`${count} matching packets queued, expected ${value}`);
    }
  }
}

export function script(text: string): Script {
  return new Script().run(text);
}
