/**
 * The state of Johannes Baagøe's Alea generator after seeding with `key`, as seedrandom's `alea`
 * (which tfjs's seeded random ops use) computes it: three fractions in [0, 1) and the carry.
 * The addon continues the stream from here (`aleaNormal`); seeding is a few string hashes, so it
 * stays in JavaScript, where the arithmetic is by definition the one tfjs runs.
 */
export function aleaState(key: string): [number, number, number, number] {
  const mash = mashFunction();
  let s0 = mash(' ');
  let s1 = mash(' ');
  let s2 = mash(' ');
  s0 -= mash(key);
  if (s0 < 0) s0 += 1;
  s1 -= mash(key);
  if (s1 < 0) s1 += 1;
  s2 -= mash(key);
  if (s2 < 0) s2 += 1;
  return [s0, s1, s2, 1];
}

/** Baagøe's Mash hash: a running 32-bit state, each call returning it as a fraction of 2^32. */
function mashFunction(): (data: string) => number {
  let n = 0xefc8249d;
  return (data) => {
    for (let i = 0; i < data.length; i++) {
      n += data.charCodeAt(i);
      let h = 0.02519603282416938 * n;
      n = h >>> 0;
      h -= n;
      h *= n;
      n = h >>> 0;
      h -= n;
      n += h * 0x100000000; // 2^32
    }
    return (n >>> 0) * 2.3283064365386963e-10; // 2^-32
  };
}
