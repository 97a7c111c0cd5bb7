/**
 * Splits a batch of `size` into at most `parts` contiguous [start, end) ranges whose sizes differ
 * by at most one (the first ones take the remainder). Empty ranges are left out, so a batch
 * smaller than `parts` gives fewer shards.
 */
export function shardRanges(size: number, parts: number): Array<[number, number]> {
  const base = Math.floor(size / parts);
  const remainder = size % parts;
  const ranges: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const end = start + base + (i < remainder ? 1 : 0);
    if (end > start) ranges.push([start, end]);
    start = end;
  }
  return ranges;
}
