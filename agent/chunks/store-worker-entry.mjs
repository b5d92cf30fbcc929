// Worker entry when running from TypeScript sources: the worker thread needs the TypeScript loader too.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./store-worker.ts', import.meta.url).href);
