// Per-request options travel in the URL path as `/~key=value` segments (value
// URI-encoded), so a client configured with just a base URL can ask for a fault:
// `http://127.0.0.1:PORT/~text=hi/~fault=drip/v1/chat/completions`.

export interface RoutedPath {
  /** the path with every `~k=v` segment removed */
  path: string;
  options: Record<string, string>;
}

export function parseOptionPath(pathname: string): RoutedPath {
  const options: Record<string, string> = {};
  const kept: string[] = [];
  for (const seg of pathname.split('/')) {
    const eq = seg.indexOf('=');
    if (seg.startsWith('~') && eq > 1) {
      options[safeDecode(seg.slice(1, eq))] = safeDecode(seg.slice(eq + 1));
    } else {
      kept.push(seg);
    }
  }
  const path = kept.join('/').replace(/\/{2,}/g, '/');
  return { path: path.startsWith('/') ? path : `/${path}`, options };
}

/** One key for "the same option set", whatever order the segments came in. */
export const optionsKey = (options: Record<string, string>): string => JSON.stringify(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The other way: `/~key=value` segments for a base URL, e.g. `${emu.url}${optionPath({ text: 'hi' })}/v1`. */
export function optionPath(options: Record<string, string | number>): string {
  return Object.entries(options)
    .map(([k, v]) => `/~${k}=${encodeURIComponent(String(v))}`)
    .join('');
}
