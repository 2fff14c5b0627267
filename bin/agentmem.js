#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader: no build step between clone and start.
import { register } from 'tsx/esm/api';
import { boundYoungGeneration } from './young-generation.js';

// Before the sources load: their compile would grow V8's young generation past serve's cap.
if (process.argv[2] === 'serve') boundYoungGeneration();
register();
await import('../src/cli/main.ts');
