// The playground's files: hand-written HTML, CSS and JS beside this module, read once
// at startup and served as they are (no build step, nothing fetched from elsewhere).
import { readFileSync } from 'node:fs';

export interface WebAsset {
  body: Buffer;
  type: string;
}

const types: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
};

/** The page and the assets it loads, by the path it loads them from. */
export const WEB_FILES = {
  '/': 'index.html',
  '/web/app.js': 'app.js',
  '/web/app.css': 'app.css',
  '/web/icon.svg': 'icon.svg',
} as const;

export function loadWebAssets(): Map<string, WebAsset> {
  const assets = new Map<string, WebAsset>();
  for (const [path, file] of Object.entries(WEB_FILES)) {
    const ext = file.slice(file.lastIndexOf('.') + 1);
    assets.set(path, { body: readFileSync(new URL(file, import.meta.url)), type: types[ext] ?? 'application/octet-stream' });
  }
  return assets;
}
