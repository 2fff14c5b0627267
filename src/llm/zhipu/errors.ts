// Zhipu's business error codes (strings, in `{"error": {"code", "message"}}`) → ours.
// From the platform's error-code table; unknown codes fall back to the HTTP status.
import type { UpstreamCode } from '../errors.ts';

const byCode: Record<string, UpstreamCode> = {
  '1000': 'upstream_auth',
  '1001': 'upstream_auth',
  '1002': 'upstream_auth',
  '1003': 'upstream_auth',
  '1004': 'upstream_auth',
  '1110': 'upstream_auth',
  '1111': 'upstream_auth',
  '1112': 'upstream_auth',
  '1120': 'upstream_auth',
  '1220': 'upstream_auth',
  '1113': 'upstream_quota',
  '1304': 'upstream_quota',
  '1210': 'upstream_bad_request',
  '1211': 'upstream_bad_request',
  '1212': 'upstream_bad_request',
  '1213': 'upstream_bad_request',
  '1214': 'upstream_bad_request',
  '1215': 'upstream_bad_request',
  '1261': 'upstream_bad_request',
  '1234': 'upstream_network',
  '1235': 'upstream_network',
  '1260': 'upstream_unavailable',
  '500': 'upstream_unavailable',
  '1301': 'upstream_content_filter',
  '1302': 'upstream_rate_limited',
  '1303': 'upstream_rate_limited',
  '1305': 'upstream_rate_limited',
};

export const zhipuCode = (code: unknown): UpstreamCode | undefined => byCode[String(code)];
