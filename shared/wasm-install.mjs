// The install-time scaffolding both WebAssembly build scripts share (shared/erasure/wasm/build.mjs,
// shared/chunking/build-wasm.mjs): write the binary crash-safely, and run as a step of `npm install`
// that never fails it (on any problem, or after 60 s, one line is logged and the process exits 0, so
// the module's run-time fallback serves).
import { realpathSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The `--out DIR` argument, or `fallback`. */
export function outDirArg(fallback) {
  const i = process.argv.indexOf('--out');
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** Writes `binary` to DIR/NAME through a temp file and a rename; returns the path. */
export async function writeWasm(dir, name, binary) {
  await mkdir(dir, { recursive: true });
  const target = join(dir, name);
  const temp = `${target}.${process.pid}.tmp`;
  await writeFile(temp, binary);
  await rename(temp, target);
  return target;
}

/** Runs `build` when `moduleUrl` is the script node was started with; never exits non-zero. */
export function runInstallStep(moduleUrl, giveUpLine, build) {
  let isMain = false;
  try {
    isMain = process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === moduleUrl;
  } catch {
    isMain = false;
  }
  if (!isMain) return;
  const giveUp = (why) => {
    console.warn(giveUpLine(why));
    process.exit(0);
  };
  const timer = setTimeout(() => giveUp('timed out after 60 s'), 60_000);
  timer.unref();
  build().then(
    () => clearTimeout(timer),
    (err) => giveUp(err?.message ?? String(err)),
  );
}
