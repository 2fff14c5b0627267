// A node:test reporter for scripts/test.mjs: one JSON line per skipped test or suite
// ({file, name, reason}), so the run can list them and, in CI, fail on one not allowed.
export default async function* skipReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' || !event.data.skip) continue;
    const { file, name, skip } = event.data;
    yield JSON.stringify({ file, name, reason: typeof skip === 'string' ? skip : '' }) + '\n';
  }
}
