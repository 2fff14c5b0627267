// Keeps cores busy the way a loaded CI machine is, to shake out a test's timing assumptions:
// each loop runs 40 ms, sleeps 10 ms (~80 % of a core), for --seconds. Every load-dependent
// failure fixed at stop 35 showed within 12 runs of its file, four at a time, beside two of these:
//   npx tsx scripts/busy-cores.ts --loops 2 --seconds 600 &
//   for i in 1 2 3 4; do npm test -- test/X.test.ts > /tmp/x-$i.log 2>&1 & done; wait
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { loops: { type: 'string', default: '2' }, seconds: { type: 'string', default: '600' }, child: { type: 'boolean' } } });
const end = Date.now() + Number(values.seconds) * 1000;

if (values.child) {
  const spin = () => {
    const t = Date.now();
    while (Date.now() - t < 40);
    if (Date.now() < end) setTimeout(spin, 10);
  };
  spin();
} else {
  for (let i = 0; i < Number(values.loops); i++) fork(process.argv[1]!, ['--child', '--seconds', String(values.seconds)], { execArgv: process.execArgv });
}
