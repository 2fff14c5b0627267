// The concurrency runner: `concurrency` slots, each taking the next request number
// until `total` have run. A slot is one client connection's worth of sequential work,
// so a slot can continue its own chat session.

export async function runSlots<T>(
  concurrency: number,
  total: number,
  task: (slot: number, index: number) => Promise<T>,
  onSettled?: (done: number, result: T) => void,
): Promise<T[]> {
  const results = new Array<T>(total);
  let next = 0;
  let done = 0;
  const slot = async (s: number) => {
    for (let i = next++; i < total; i = next++) {
      results[i] = await task(s, i);
      onSettled?.(++done, results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, (_, s) => slot(s)));
  return results;
}
