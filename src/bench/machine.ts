// What a result was measured on: written beside every bench figure.
import { cpus, loadavg, release, totalmem } from 'node:os';

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** The machine, with the load average as it is now (or as given, e.g. at the start of a run). */
export function machineInfo(load: number[] = loadavg()) {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${release()}`,
    memoryGb: round(totalmem() / 2 ** 30, 1),
    loadavg: load.map((x) => round(x, 2)),
  };
}
