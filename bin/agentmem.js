#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader: no build step between clone and start.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
