/**
 * Backup benchmark: 2baksa against Borg and restic on the same data in one run.
 *
 * Data: gen-sensor-logs.py DIR 256 (256 MB of sensor CSV, JSON-lines events and random blobs), then the same
 * with --append 5. Measured (wall time of the whole command, as a user runs it): first backup, incremental
 * backup, full restore; stored bytes (2baksa without parity); and the agent's peak RSS during the 256 MB
 * backup on the small-arm profile (/usr/bin/time, the child's max RSS). Then 20,000 small files
 * (BENCH_SMALL_FILES), backed up and restored on small-arm against Borg.
 * Targets: first ≤ 1.25× Borg, incremental ≤ 0.5× Borg, restore ≤ 1.0× Borg extract,
 * stored ≤ 1.1× restic, small-arm RSS ≤ 120 MB.
 *
 * Fairness on a shared machine: the generated data is flushed (`sync`) before anything is timed, so no
 * tool pays for the generator's writeback; each phase times the main 2baksa agent, Borg and restic back to
 * back, and only then the other agent variants, so the ratios compare runs made under the same load.
 * BENCH_BACKUP_REPEAT=N (default 3) times the first backup, the incremental and the restore of the main
 * agent and of Borg N times each, alternating, and keeps the fastest of each: one run of each swung their
 * ratio by up to 0.3 on this shared machine. An incremental is repeated from copies of both tools' state
 * as it was before it (the agent's state directory; Borg's repository and its BORG_BASE_DIR, which holds
 * its cache and the security records that would otherwise refuse a repository older than last seen).
 * The compiled variant is built with tsc plus the prebuilt wasm kernels, as `npm run build` makes it.
 *
 * Borg and restic come from Debian (apt-get install -y borgbackup restic, tried once when missing); a tool
 * that cannot be installed is skipped with a note. Run: node --import tsx test/bench/backup.ts [MB]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duBytes, genSensorLogs, have, repoRoot, type BenchResult } from './_tools.ts';

const root = repoRoot;
/** Borg's cache and security records, kept in the bench's work directory (and copied with its repository). */
const borgBaseDir = (work: string) => join(work, 'borg-home');

interface Timed {
  seconds: number;
  maxRssKb: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time: wall seconds and the child's peak RSS. */
function timed(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Timed {
  const useTime = existsSync('/usr/bin/time');
  const started = process.hrtime.bigint();
  const r = useTime
    ? spawnSync('/usr/bin/time', ['-f', '__RSS__ %M', cmd, ...args], { cwd: options.cwd ?? root, env: { ...process.env, ...options.env }, encoding: 'utf8', maxBuffer: 1 << 28 })
    : spawnSync(cmd, args, { cwd: options.cwd ?? root, env: { ...process.env, ...options.env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const rss = /__RSS__ (\d+)/.exec(r.stderr ?? '');
  return { seconds, maxRssKb: rss ? Number(rss[1]) : 0, stdout: r.stdout };
}

function ensureTools(): { borg: boolean; restic: boolean; note: string } {
  const missing = ['borg', 'restic'].filter((t) => !have(t));
  let note = '';
  if (missing.length > 0) {
    const pkgs = missing.map((t) => (t === 'borg' ? 'borgbackup' : t));
    const r = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      note = `apt-get install ${pkgs.join(' ')} failed: those tools are skipped`;
      process.stdout.write(`  ${note}\n`);
    }
  }
  return { borg: have('borg'), restic: have('restic'), note };
}

/**
 * A way to run the agent: the installed command (cli/2baksa.mjs: the build `npm install` made, or the
 * TypeScript sources through tsx when they changed since) or a compiled build made here.
 */
interface Launcher {
  label: string;
  argv: (...args: string[]) => string[];
  env: NodeJS.ProcessEnv;
}

function installedLauncher(): Launcher {
  return { label: 'installed', argv: (...a) => [join(root, 'cli/2baksa.mjs'), ...a], env: {} };
}

/**
 * Builds the project with tsc (tsconfig.build.json, as `npm run build` does) into `dir`: how a gateway
 * would run the agent (no TypeScript loader: faster start, less memory). Undefined when the build fails.
 */
function compiledLauncher(dir: string): Launcher | undefined {
  const tsc = join(root, 'node_modules/.bin/tsc');
  spawnSync(tsc, ['-p', join(root, 'tsconfig.build.json'), '--outDir', dir, '--sourceMap', 'false'], { cwd: root, encoding: 'utf8' });
  if (!existsSync(join(dir, 'cli/main.js'))) return undefined;
  for (const name of ['node_modules', 'package.json', 'firmware-profiles']) symlinkSync(join(root, name), join(dir, name));
  copyFileSync(join(root, 'shared/chunking/gear.wat'), join(dir, 'shared/chunking/gear.wat'));
  const gear = join(root, 'shared/chunking/gear.wasm');
  if (existsSync(gear)) copyFileSync(gear, join(dir, 'shared/chunking/gear.wasm'));
  writeFileSync(join(dir, 'cli/run.mjs'), "const { main } = await import('./main.js');\nawait main(process.argv);\n");
  const wasm = join(root, 'shared/erasure/wasm/rs.wasm');
  return { label: 'compiled', argv: (...a) => [join(dir, 'cli/run.mjs'), ...a], env: existsSync(wasm) ? { BAKSA_ERASURE_WASM_PATH: wasm } : {} };
}

/** The environment the small-arm profile's `runtime` section asks for (the daemon applies it itself). */
function smallArmRuntimeEnv(): NodeJS.ProcessEnv {
  const p = JSON.parse(readFileSync(join(root, 'firmware-profiles/small-arm.json'), 'utf8')) as { runtime?: { maxSemiSpaceMiB?: number; mallocArenaMax?: number } };
  const env: NodeJS.ProcessEnv = {};
  if (p.runtime?.maxSemiSpaceMiB) env.NODE_OPTIONS = `--max-semi-space-size=${p.runtime.maxSemiSpaceMiB}`;
  if (p.runtime?.mallocArenaMax) env.MALLOC_ARENA_MAX = String(p.runtime.mallocArenaMax);
  return env;
}

/** Files of the small-files phase (BENCH_SMALL_FILES, 0 skips it). */
const smallFilesCount = Number(process.env.BENCH_SMALL_FILES ?? 20_000);

/** `count` sensor readings of 20–40 bytes, 200 to a directory (deterministic), their mtimes in the past. */
function writeSmallFiles(dir: string, count: number): void {
  const stamp = new Date('2026-01-01T00:00:00Z');
  for (let i = 0; i < count; i++) {
    const sub = join(dir, `d${String(Math.floor(i / 200)).padStart(3, '0')}`);
    if (i % 200 === 0) mkdirSync(sub, { recursive: true });
    const path = join(sub, `r${String(i % 200).padStart(4, '0')}.json`);
    writeFileSync(path, `{"t":${1_790_000_000 + i * 7},"v":${((i * 7919) % 10_000) / 100}}\n`);
    utimesSync(path, stamp, stamp);
  }
}

/**
 * Many small files (sensor readings one to a file): first backup and restore on the small-arm profile
 * against `borg create` and `borg extract`, one run each. Small files are kept in the manifest
 * (agent/manifest/model.ts); before, each was a chunk of 2+1 shard files and took 10× Borg's time.
 */
function smallFiles(
  work: string,
  agent: Agent,
  node: (a: Agent, ...args: string[]) => Timed,
  borg: ((args: string[], cwd?: string) => Timed) | undefined,
  say: (s: string) => void,
): BenchResult[] {
  const data = join(work, 'small');
  writeSmallFiles(data, smallFilesCount);
  execFileSync('sync');
  const a: Agent = { ...agent, state: join(work, 'st-small-files') };
  node(a, 'agent', 'init', '--state', a.state, '--name', 'bench.example', '--profile', a.profile, '--source', data);
  // Each timed command starts after a sync: a restore of 20,000 files leaves that many to write back,
  // and the command after it would pay for them (Borg's extract took 7 s instead of 2 so).
  execFileSync('sync');
  const first = node(a, 'backup', '--state', a.state);
  const out = join(work, 'out-small');
  execFileSync('sync');
  const restored = node(a, 'restore', 'latest', '--state', a.state, '--target', out);
  if (spawnSync('diff', ['-r', data, join(out, data)]).status !== 0) throw new Error('the small files restore is not byte-identical');
  rmSync(out, { recursive: true, force: true });
  say(`${smallFilesCount} small files (${a.profile}): 2baksa backup ${first.seconds.toFixed(2)} s, restore ${restored.seconds.toFixed(2)} s`);
  const results: BenchResult[] = [
    { name: `small files: 2baksa first backup (${smallFilesCount}, ${a.profile})`, value: smallFilesCount / first.seconds, unit: 'files/s', note: `${first.seconds.toFixed(2)} s` },
    { name: 'small files: 2baksa restore', value: smallFilesCount / restored.seconds, unit: 'files/s', note: `${restored.seconds.toFixed(2)} s` },
  ];
  if (!borg) return results;
  const repo = join(work, 'borg-small');
  execFileSync('borg', ['init', '-e', 'repokey', repo], { env: { ...process.env, BORG_BASE_DIR: borgBaseDir(work), BORG_PASSPHRASE: 'bench' }, stdio: 'ignore' });
  execFileSync('sync');
  const created = borg(['create', `${repo}::first`, data]);
  mkdirSync(out);
  execFileSync('sync');
  const extracted = borg(['extract', `${repo}::first`], out);
  rmSync(out, { recursive: true, force: true });
  say(`${smallFilesCount} small files: borg create ${created.seconds.toFixed(2)} s, extract ${extracted.seconds.toFixed(2)} s`);
  results.push(
    { name: 'small files: first backup / borg', value: first.seconds / created.seconds, unit: 'x', note: `${created.seconds.toFixed(2)} s` },
    { name: 'small files: restore / borg extract', value: restored.seconds / extracted.seconds, unit: 'x', note: `${extracted.seconds.toFixed(2)} s` },
  );
  return results;
}

interface Agent {
  name: string;
  launcher: Launcher;
  profile: string;
  env: NodeJS.ProcessEnv;
  state: string;
  first?: Timed;
  incremental?: Timed;
  restore?: Timed;
}

export async function run(totalMb = Number(process.env.BENCH_BACKUP_MB ?? 256), repeat = Math.max(1, Number(process.env.BENCH_BACKUP_REPEAT ?? 3))): Promise<BenchResult[]> {
  const tools = ensureTools();
  const work = mkdtempSync(join(tmpdir(), 'baksa-bench-backup-'));
  const results: BenchResult[] = [];
  const say = (s: string) => process.stdout.write(`  ${s}\n`);
  try {
    const data = join(work, 'data');
    execFileSync('python3', [genSensorLogs, data, String(totalMb)]);
    const dataBytes = duBytes(data);
    say(`data: ${(dataBytes / 1e6).toFixed(0)} MB`);
    const env = { BORG_BASE_DIR: borgBaseDir(work), BORG_PASSPHRASE: 'bench', BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes', RESTIC_PASSWORD: 'bench', BAKSA_LOG_LEVEL: 'warn' };
    const borgRepo = join(work, 'borg');
    const resticRepo = join(work, 'restic');
    const installed = installedLauncher();
    const compiled = compiledLauncher(join(work, 'dist'));
    if (!compiled) say('the compiled build failed: only the installed command is measured');
    const tuned = smallArmRuntimeEnv();
    const agents: Agent[] = [
      { name: '2baksa', launcher: installed, profile: 'auto', env: {}, state: join(work, 'st-main') },
      { name: '2baksa small-arm', launcher: installed, profile: 'small-arm', env: {}, state: join(work, 'st-small') },
      { name: '2baksa small-arm (profile runtime env)', launcher: installed, profile: 'small-arm', env: tuned, state: join(work, 'st-small-tuned') },
    ];
    if (compiled) {
      agents.push(
        { name: '2baksa compiled', launcher: compiled, profile: 'auto', env: {}, state: join(work, 'st-c-main') },
        { name: '2baksa compiled small-arm (profile runtime env)', launcher: compiled, profile: 'small-arm', env: tuned, state: join(work, 'st-c-small') },
      );
    }
    const node = (a: Agent, ...args: string[]) => timed('node', a.launcher.argv(...args), { env: { ...env, ...a.launcher.env, ...a.env } });

    const borg = (args: string[], cwd?: string) => timed('borg', args, { env, ...(cwd ? { cwd } : {}) });
    const restic = (args: string[]) => timed('restic', ['-q', '-r', resticRepo, ...args], { env });
    const fastest = (a: Timed | undefined, b: Timed): Timed => (a === undefined || b.seconds < a.seconds ? b : a);
    const main = agents[0]!;
    const rest = agents.slice(1);
    execFileSync('sync'); // the generator's writeback must not land on whoever runs first

    // --- first backup: the main agent and Borg back to back (alternating when repeated), restic, the rest ---
    const initAgent = (a: Agent) => {
      rmSync(a.state, { recursive: true, force: true });
      node(a, 'agent', 'init', '--state', a.state, '--name', 'bench.example', '--profile', a.profile, '--source', data);
    };
    let borg1: Timed | undefined;
    for (let r = 0; r < repeat; r++) {
      initAgent(main);
      main.first = fastest(main.first, node(main, 'backup', '--state', main.state));
      if (tools.borg) {
        rmSync(borgRepo, { recursive: true, force: true });
        execFileSync('borg', ['init', '-e', 'repokey', borgRepo], { env: { ...process.env, ...env }, stdio: 'ignore' });
        borg1 = fastest(borg1, borg(['create', `${borgRepo}::first`, data]));
      }
    }
    say(`${main.name} first backup: ${main.first!.seconds.toFixed(2)} s, peak RSS ${(main.first!.maxRssKb / 1024).toFixed(0)} MiB`);
    if (borg1) say(`borg first backup: ${borg1.seconds.toFixed(2)} s, peak RSS ${(borg1.maxRssKb / 1024).toFixed(0)} MiB`);
    let restic1: Timed | undefined;
    if (tools.restic) {
      execFileSync('restic', ['init', '-q', '-r', resticRepo], { env: { ...process.env, ...env }, stdio: 'ignore' });
      restic1 = restic(['backup', data]);
      say(`restic first backup: ${restic1.seconds.toFixed(2)} s`);
    }
    for (const a of rest) {
      initAgent(a);
      a.first = node(a, 'backup', '--state', a.state);
      say(`${a.name} first backup: ${a.first.seconds.toFixed(2)} s, peak RSS ${(a.first.maxRssKb / 1024).toFixed(0)} MiB`);
    }
    const profile = JSON.parse(node(main, 'status', '--state', main.state, '--json').stdout).profile as string;

    // --- incremental (logs grow 5 %, one blob rewritten) ---
    execFileSync('python3', [genSensorLogs, data, String(totalMb), '--append', '5']);
    execFileSync('sync');
    let bytesRead = 0;
    const incremental = (a: Agent) => {
      a.incremental = node(a, 'backup', '--state', a.state, '--json');
      const sum = a.incremental.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).find((l) => 'bytes_read' in l)!;
      if (a === main) bytesRead = sum.bytes_read!;
      say(`${a.name} incremental: ${a.incremental.seconds.toFixed(2)} s, read ${(sum.bytes_read! / 1e6).toFixed(1)} MB of ${(sum.total_bytes_processed! / 1e6).toFixed(0)} MB`);
    };
    // Each repeat starts both tools from their state before the first incremental (copies made now).
    const saved = (path: string) => `${path}.before-incremental`;
    const borgState = [borgRepo, env.BORG_BASE_DIR];
    const incrementalState = tools.borg ? [main.state, ...borgState] : [main.state];
    const keep = (paths: string[]) => {
      for (const path of paths) execFileSync('cp', ['-a', path, saved(path)]);
      execFileSync('sync');
    };
    const reset = (paths: string[]) => {
      for (const path of paths) {
        rmSync(path, { recursive: true, force: true });
        execFileSync('cp', ['-a', saved(path), path]);
      }
      execFileSync('sync');
    };
    if (repeat > 1) keep(incrementalState);
    let borg2: Timed | undefined;
    for (let r = 0; r < repeat; r++) {
      if (r > 0) reset([main.state]);
      const before = main.incremental;
      incremental(main);
      main.incremental = fastest(before, main.incremental!);
      if (tools.borg) {
        if (r > 0) reset(borgState);
        borg2 = fastest(borg2, borg(['create', `${borgRepo}::second`, data]));
      }
    }
    if (repeat > 1) for (const path of incrementalState) rmSync(saved(path), { recursive: true, force: true });
    if (borg2) say(`borg incremental: ${borg2.seconds.toFixed(2)} s`);
    const restic2 = tools.restic ? restic(['backup', data]) : undefined;
    if (restic2) say(`restic incremental: ${restic2.seconds.toFixed(2)} s`);
    for (const a of rest) incremental(a);

    // --- full restore of the latest: main agent and Borg extract back to back, restic, the compiled agent ---
    const restore = (a: Agent) => {
      const out = join(work, `out-${a.launcher.label}`);
      rmSync(out, { recursive: true, force: true });
      const t = node(a, 'restore', 'latest', '--state', a.state, '--target', out);
      if (spawnSync('diff', ['-r', data, join(out, data)]).status !== 0) throw new Error(`${a.name} restore is not byte-identical`);
      rmSync(out, { recursive: true, force: true });
      return t;
    };
    let borgX: Timed | undefined;
    for (let r = 0; r < repeat; r++) {
      main.restore = fastest(main.restore, restore(main));
      if (tools.borg) {
        const out = join(work, 'out-borg');
        rmSync(out, { recursive: true, force: true });
        execFileSync('mkdir', ['-p', out]);
        borgX = fastest(borgX, borg(['extract', `${borgRepo}::second`], out));
        rmSync(out, { recursive: true, force: true });
      }
    }
    say(`${main.name} restore: ${main.restore!.seconds.toFixed(2)} s`);
    if (borgX) say(`borg extract: ${borgX.seconds.toFixed(2)} s`);
    let resticX: Timed | undefined;
    if (tools.restic) {
      resticX = restic(['restore', 'latest', '--target', join(work, 'out-restic')]);
      say(`restic restore: ${resticX.seconds.toFixed(2)} s`);
      rmSync(join(work, 'out-restic'), { recursive: true, force: true });
    }
    for (const a of rest.filter((x) => x.profile === 'auto')) {
      a.restore = restore(a);
      say(`${a.name} restore: ${a.restore.seconds.toFixed(2)} s`);
    }

    // --- stored bytes ---
    const st = JSON.parse(node(main, 'status', '--state', main.state, '--json').stdout) as { storedBytes: number; storedWithParityBytes: number };
    const stSmall = JSON.parse(node(agents[1]!, 'status', '--state', agents[1]!.state, '--json').stdout) as { storedBytes: number };
    const borgBytes = tools.borg ? duBytes(borgRepo) : 0;
    const resticBytes = tools.restic ? duBytes(resticRepo) : 0;
    say(`stored: 2baksa ${(st.storedBytes / 1e6).toFixed(1)} MB without parity (${(st.storedWithParityBytes / 1e6).toFixed(1)} MB with), small-arm ${(stSmall.storedBytes / 1e6).toFixed(1)} MB, borg ${(borgBytes / 1e6).toFixed(1)} MB, restic ${(resticBytes / 1e6).toFixed(1)} MB`);

    results.push(
      { name: `2baksa first backup (${profile})`, value: dataBytes / 1e6 / main.first!.seconds, unit: 'MB/s', note: `${main.first!.seconds.toFixed(2)} s` },
      { name: '2baksa incremental backup', value: main.incremental!.seconds, unit: 's', note: `read ${(bytesRead / 1e6).toFixed(1)} MB` },
      { name: '2baksa full restore', value: dataBytes / 1e6 / main.restore!.seconds, unit: 'MB/s', note: `${main.restore!.seconds.toFixed(2)} s` },
      { name: '2baksa stored bytes (no parity)', value: st.storedBytes / 1e6, unit: 'MB' },
    );
    for (const a of agents.slice(1)) {
      results.push({ name: `${a.name}: first backup peak RSS`, value: a.first!.maxRssKb / 1024, unit: 'MiB', note: a.profile === 'small-arm' ? 'target ≤ 120 MB' : undefined });
    }
    const ratios = (label: string, first: Timed, incr: Timed, rest: Timed | undefined) => {
      for (const a of agents.filter((x) => x.profile === 'auto')) {
        const tag = a === main ? '' : ` [${a.launcher.label}]`;
        results.push(
          { name: `first backup / ${label}${tag}`, value: a.first!.seconds / first.seconds, unit: 'x', note: label === 'borg' ? `target ≤ 1.25 (${first.seconds.toFixed(2)} s)` : undefined },
          { name: `incremental / ${label}${tag}`, value: a.incremental!.seconds / incr.seconds, unit: 'x', note: label === 'borg' ? `target ≤ 0.5 (${incr.seconds.toFixed(2)} s)` : undefined },
        );
        if (rest) results.push({ name: `restore / ${label}${tag}`, value: a.restore!.seconds / rest.seconds, unit: 'x', note: label === 'borg' ? `target ≤ 1.0 (${rest.seconds.toFixed(2)} s)` : undefined });
      }
    };
    if (borg1 && borg2 && borgX) {
      ratios('borg', borg1, borg2, borgX);
      results.push({ name: 'stored bytes (no parity) / borg repo', value: st.storedBytes / borgBytes, unit: 'x' });
    } else results.push({ name: 'borg comparison', value: Number.NaN, unit: '', note: tools.note || 'borg missing' });
    if (restic1 && restic2 && resticX) {
      ratios('restic', restic1, restic2, resticX);
      results.push({ name: 'stored bytes (no parity) / restic repo', value: st.storedBytes / resticBytes, unit: 'x', note: 'target ≤ 1.1' });
    } else results.push({ name: 'restic comparison', value: Number.NaN, unit: '', note: tools.note || 'restic missing' });
    if (smallFilesCount > 0) results.push(...smallFiles(work, agents[1]!, node, tools.borg ? borg : undefined, say));
    return results;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mb = process.argv[2] ? Number(process.argv[2]) : undefined;
  for (const r of await run(mb)) {
    process.stdout.write(`${r.name.padEnd(56)} ${Number.isFinite(r.value) ? r.value.toFixed(2) : '-'} ${r.unit}${r.note ? `  (${r.note})` : ''}\n`);
  }
}
