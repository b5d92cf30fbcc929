// Worker entry when running from the TypeScript sources: the thread needs the TypeScript loader too,
// then it loads the worker module named by its first argument (worker-rpc.ts, workerScript).
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
