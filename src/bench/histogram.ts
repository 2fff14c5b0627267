// A fixed-size latency histogram for long runs (the soak): 0.1 ms buckets up to 5 s,
// allocated once, so recording millions of gaps never grows the heap being measured.
// Percentiles are bucket upper edges (resolution 0.1 ms), the max is exact.

const RES = 0.1;
const BUCKETS = 50_000;

export interface HistogramJSON {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export class Histogram {
  private counts = new Uint32Array(BUCKETS + 1);
  n = 0;
  private sum = 0;
  max = 0;

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const b = Math.min(BUCKETS, Math.max(0, Math.ceil(ms / RES)));
    this.counts[b]!++;
    this.n++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** how many values were above `ms` */
  above(ms: number): number {
    let k = 0;
    for (let b = Math.min(BUCKETS, Math.floor(ms / RES) + 1); b <= BUCKETS; b++) k += this.counts[b]!;
    return k;
  }

  percentile(p: number): number {
    if (!this.n) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let b = 0; b <= BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return b === BUCKETS ? this.max : Math.min(this.max, b * RES);
    }
    return this.max;
  }

  toJSON(): HistogramJSON {
    const r = (v: number) => Math.round(v * 1000) / 1000;
    return {
      n: this.n,
      p50: r(this.percentile(50)),
      p90: r(this.percentile(90)),
      p99: r(this.percentile(99)),
      p999: r(this.percentile(99.9)),
      max: r(this.max),
      mean: this.n ? r(this.sum / this.n) : NaN,
    };
  }
}
