#!/usr/bin/env node
// Launcher for the `2baksa` command: runs the TypeScript composition root through tsx, so the
// installed command and the tests run exactly the same sources.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
await main(process.argv);
