// A Provider from a chat.completions dialect: stream, complete, and warm its origin.
import { streamChatCompletions, type Dialect } from './chat-completions.ts';
import { collect } from './complete.ts';
import type { UpstreamPool } from './pool.ts';
import type { Provider } from './types.ts';

export function chatProvider(name: string, dialect: Dialect, pool: UpstreamPool): Provider {
  const origin = new URL(dialect.url).origin;
  return {
    name,
    stream: (req) => streamChatCompletions(pool, dialect, req),
    complete: (req) => collect(streamChatCompletions(pool, dialect, req)),
    warm: () => pool.warm(origin),
  };
}
